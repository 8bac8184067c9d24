"""``map`` builds a new document from value specs; ``template`` renders Jinja text.

```yaml
- map:
    as: erp_order                 # store as a var; without it the body is replaced
    fields:
      external_id: to_string(id)
      sold_to: customer.vat_id || customer.email
      sales_org: {template: "{{ market }}01"}
      lines: "line_items[].{material: sku, qty: quantity}"
      source: {const: shop}
- template:
    as: invoice_xml
    format: xml                   # text | json | xml
    source: |
      <Invoice id="{{ id }}"><Total>{{ totals.gross | money }}</Total></Invoice>
```
``format: json`` parses the rendered text, so the result is a document; ``format: xml``
autoescapes values and checks the result is well-formed XML.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any, ClassVar

from integrator.errors import ConversionError, IntegratorError
from integrator.mapping.context import TemplateContext
from integrator.message import Message
from integrator.steps.base import BuildContext, Path, Step, doc_options_schema, read_doc, write_doc

__all__ = ["MapStep", "TemplateStep"]


class MapStep(Step):
    kind = "map"
    summary = "Build a new document from value specs (JMESPath, templates, literals)."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Build a new document. `fields` maps each target field to a value "
                       "spec: a JMESPath expression, a literal, {const}, {template}, "
                       "{expr, default}, or a nested object of value specs.",
        "properties": {
            **doc_options_schema(produces=True),
            "fields": {
                "$ref": "#/$defs/value",
                "description": "The new document: usually an object of field → value "
                               "spec; any value spec works (a list, one expression).",
            },
        },
        "required": ["fields"],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, into: str | None, build: Any) -> None:
        self.on = on
        self.into = into if into is not None else on
        self.build_doc = build

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        value = ctx.value(config["fields"], (*path, "fields"))
        return cls(config.get("on"), config.get("as"), value.fn)

    def apply(self, msg: Message) -> Any:
        on = self.on
        doc = msg.body if on is None else read_doc(msg, on)
        result = self.build_doc(doc, msg)
        into = self.into
        if into is None:
            msg.body = result
        else:
            write_doc(msg, into, result)
        return None


class TemplateStep(Step):
    kind = "template"
    summary = "Render a sandboxed Jinja2 template into text, JSON or XML."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Render a Jinja2 template (sandboxed; undefined names are errors).",
        "properties": {
            **doc_options_schema(produces=True),
            "source": {"type": "string", "description": "The template text."},
            "file": {"type": "string", "description": "A template file, relative to the "
                                                      "working directory."},
            "format": {"enum": ["text", "json", "xml"], "default": "text",
                       "description": "text: a string; json: the rendered text parsed "
                                      "into a document; xml: autoescaped, checked to be "
                                      "well-formed, kept as text."},
        },
        "oneOf": [{"required": ["source"]}, {"required": ["file"]}],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, into: str | None, template: Any, fmt: str) -> None:
        self.on = on
        self.into = into if into is not None else on
        self.template = template
        self.format = fmt

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        fmt = config.get("format", "text")
        if "file" in config:
            file = FilePath(ctx.workdir) / config["file"]
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                ctx.problem("file-not-found", f"cannot read template file {config['file']!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}", (*path, "file"),
                            "paths are relative to the working directory")
                text = None
            tpl = ctx.template(text, (*path, "file"), autoescape=fmt == "xml") if text else None
        else:
            tpl = ctx.template(config["source"], (*path, "source"), autoescape=fmt == "xml")
        return cls(config.get("on"), config.get("as"), tpl, fmt)

    def apply(self, msg: Message) -> Any:
        doc = read_doc(msg, self.on)
        text = self.template.render(TemplateContext(msg, doc))
        result: Any = text
        if self.format == "json":
            from integrator.codecs.json import loads

            try:
                result = loads(text, where=f"template step {self.name!r}")
            except IntegratorError as exc:
                raise ConversionError(
                    f"the template rendered invalid JSON: {exc.message}",
                    hint="check quoting: render values with the tojson filter",
                ) from exc
        elif self.format == "xml":
            from integrator.codecs.xml import parse_xml

            try:
                parse_xml(text, where=f"template step {self.name!r}")
            except IntegratorError as exc:
                raise ConversionError(
                    f"the template rendered XML that is not well-formed: {exc.message}",
                ) from exc
        write_doc(msg, self.into, result)
        return None
