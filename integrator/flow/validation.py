"""Validate parts of a flow against ``$defs`` of the generated schema, with good messages.

jsonschema's raw messages ("Additional properties are not allowed ('mapp' was
unexpected)") are turned into problems that say what is wrong, where, and what to write
instead ("unknown key 'mapp' — did you mean 'map'?"), pointing at the key itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.exceptions import best_match

from integrator.connectors.spec import yaml_kind
from integrator.flow.suggest import did_you_mean

__all__ = ["Report", "SchemaChecker"]

Path = tuple[str | int, ...]
Report = Callable[..., None]  # report(code, message, path, hint=None, at_key=False)

_JSON_TYPES = {
    "object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "null",
}


def _expected(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_JSON_TYPES.get(t, t) for t in types)


class SchemaChecker:
    """Validates flow pieces against named definitions of one flow schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        defs = dict(schema["$defs"])
        # Value specs are checked by the value compiler, which knows better messages.
        defs["value"] = {}
        self._defs = defs
        top = copy.deepcopy({k: v for k, v in schema.items() if k != "$defs"})
        top["properties"]["connections"]["additionalProperties"] = {"type": "object"}
        top["properties"]["steps"]["items"] = {}
        self._top = Draft202012Validator({**top, "$defs": defs})
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, name: str) -> Draft202012Validator:
        v = self._validators.get(name)
        if v is None:
            v = Draft202012Validator({"$defs": self._defs, "$ref": f"#/$defs/{name}"})
            self._validators[name] = v
        return v

    def check_top(self, data: Any, report: Report) -> None:
        self._emit(self._top.iter_errors(data), (), report)

    def check(self, name: str, data: Any, base: Path, report: Report) -> None:
        self._emit(self.validator(name).iter_errors(data), base, report)

    def _emit(self, errors: Iterable[SchemaViolation], base: Path, report: Report) -> None:
        for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
            self._one(error, base, report)

    def _one(self, e: SchemaViolation, base: Path, report: Report) -> None:
        path: Path = (*base, *e.absolute_path)
        v = e.validator
        if v in ("oneOf", "anyOf") and e.context:
            deepest = best_match(e.context)
            if deepest is not None and list(deepest.absolute_path) != list(e.absolute_path):
                self._one(deepest, base, report)
                return
            descr = e.schema.get("description") if isinstance(e.schema, dict) else None
            report("invalid-value", f"{yaml_kind(e.instance)} is not allowed here",
                   path, descr)
            return
        if v == "additionalProperties" and isinstance(e.instance, dict):
            props = e.schema.get("properties", {}) if isinstance(e.schema, dict) else {}
            for key in e.instance:
                if key not in props:
                    hint = did_you_mean(key, props) or (
                        f"allowed keys: {', '.join(props)}" if props else None)
                    report("unknown-key", f"unknown key {key!r}", (*path, key), hint,
                           at_key=True)
            return
        if v == "required":
            missing = str(e.message).split("'")[1] if "'" in e.message else e.message
            sub = e.schema.get("properties", {}).get(missing, {}) if isinstance(
                e.schema, dict) else {}
            report("missing-key", f"missing required key {missing!r}", path,
                   sub.get("description") if isinstance(sub, dict) else None)
            return
        if v == "type":
            report("wrong-type", f"expected {_expected(e.validator_value)}, got "
                   f"{yaml_kind(e.instance)}", path)
            return
        if v == "enum":
            allowed: Any = e.validator_value
            choices = [str(c) for c in allowed]
            hint = did_you_mean(str(e.instance), choices) if isinstance(e.instance, str) else None
            report("invalid-value", f"{e.instance!r} is not one of {', '.join(choices)}",
                   path, hint)
            return
        if v == "const":
            report("invalid-value", f"expected {e.validator_value!r}, got {e.instance!r}", path)
            return
        if v == "pattern":
            report("invalid-value", f"{e.instance!r} is not allowed here (it must match "
                   f"{e.validator_value})", path)
            return
        if v in ("minItems", "minProperties"):
            report("empty", "must not be empty", path)
            return
        report("invalid-value", e.message, path)
