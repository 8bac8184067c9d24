"""``filter`` keeps messages whose condition holds; ``validate`` checks a JSON Schema.

```yaml
- filter: "status != 'cancelled'"          # or {when: ..., on: name}
- validate: {schema: schemas/examples/shop-order.json}
- validate:
    on: erp_order
    schema: {type: object, required: [external_id]}
```
A filtered message is finished (acknowledged) without deliveries and counted as
filtered. A message that fails validation fails with every violation listed.
"""

from __future__ import annotations

import json
from pathlib import Path as FilePath
from typing import Any, ClassVar

from integrator.errors import FatalError, ValidationError
from integrator.mapping.jmespath import is_truthy
from integrator.mapping.schemas import CompiledSchema, compile_schema
from integrator.message import Message
from integrator.steps.base import (
    DROP,
    BuildContext,
    Path,
    Step,
    compile_condition,
    doc_options_schema,
    read_doc,
)

__all__ = ["FilterStep", "ValidateStep"]

MAX_REPORTED_VIOLATIONS = 10


class FilterStep(Step):
    kind = "filter"
    summary = "Keep messages for which a JMESPath condition is true; drop the rest."
    schema: ClassVar[dict[str, Any]] = {
        "description": "A JMESPath condition: true keeps the message (JMESPath truthiness: "
                       "false, null, empty text/list/object are false).",
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {**doc_options_schema(produces=False),
                               "when": {"type": "string"}},
                "required": ["when"],
                "additionalProperties": False,
            },
        ],
    }

    def __init__(self, on: str | None, condition: Any) -> None:
        self.on = on
        self.condition = condition

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        if isinstance(config, str):
            return cls(None, compile_condition(ctx, config, path))
        return cls(config.get("on"), compile_condition(ctx, config["when"], (*path, "when")))

    def apply(self, msg: Message) -> Any:
        doc = msg.body if self.on is None else read_doc(msg, self.on)
        return None if is_truthy(self.condition.search(doc)) else DROP


class ValidateStep(Step):
    kind = "validate"
    summary = "Check the document against a JSON Schema (2020-12), file or inline."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Validate the document against a JSON Schema (draft 2020-12).",
        "properties": {
            **doc_options_schema(produces=False),
            "schema": {
                "description": "A schema file (relative to the working directory) or an "
                               "inline schema.",
                "anyOf": [{"type": "string"}, {"type": "object"}],
            },
        },
        "required": ["schema"],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, validator: CompiledSchema | None,
                 label: str) -> None:
        self.on = on
        self.validator = validator
        self.label = label

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        schema = config["schema"]
        label = "inline schema"
        where = (*path, "schema")
        if isinstance(schema, str):
            label = schema
            file = FilePath(ctx.workdir) / schema
            try:
                schema = json.loads(file.read_text(encoding="utf-8"))
            except OSError as exc:
                ctx.problem("file-not-found", f"cannot read schema {label!r}: {exc.strerror}",
                            where, "schema paths are relative to the working directory")
                return cls(config.get("on"), None, label)
            except (ValueError, UnicodeDecodeError) as exc:
                ctx.problem("invalid-schema", f"schema {label!r} is not valid JSON: {exc}",
                            where)
                return cls(config.get("on"), None, label)
        try:
            compiled = compile_schema(schema)  # once, into closures
        except FatalError as exc:
            ctx.problem("invalid-schema", f"{label}: {exc.message}", where, exc.hint)
            return cls(config.get("on"), None, label)
        return cls(config.get("on"), compiled, label)

    def apply(self, msg: Message) -> Any:
        doc = msg.body if self.on is None else read_doc(msg, self.on)
        validator = self.validator
        assert validator is not None  # the compiler refuses flows with problems
        if validator.is_valid(doc):
            return None
        violations = validator.errors(doc)
        shown = violations[:MAX_REPORTED_VIOLATIONS]
        more = len(violations) - len(shown)
        raise ValidationError(
            f"does not match {self.label}: " + "; ".join(shown)
            + (f"; and {more} more" if more else ""),
            errors=violations,
            hint="fix the data at its source, or relax the schema",
        )
