"""``convert`` changes a document's representation: JSON ⇄ XML ⇄ CSV rows.

```yaml
- convert: {from: json, to: xml, root: Order, as: order_xml}
- convert: {from: xml, to: json, force_list: [Item]}
- convert: {from: csv, to: json, delimiter: ";"}   # text → list of row objects
- convert: {from: json, to: csv, columns: [sku, qty]}   # list of objects → text
```
"json" means a document (objects, lists, values); "xml" and "csv" mean text.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

from integrator.errors import ConversionError, IntegratorError
from integrator.message import Message
from integrator.steps.base import BuildContext, Path, Step, doc_options_schema, read_doc, write_doc

__all__ = ["ConvertStep"]

FORMATS = ("json", "xml", "csv")


class ConvertStep(Step):
    kind = "convert"
    summary = "Convert between a JSON document, XML text and CSV text."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Convert the document between JSON (a document), XML text and CSV "
                       "text (rows).",
        "properties": {
            **doc_options_schema(produces=True),
            "from": {"enum": list(FORMATS)},
            "to": {"enum": list(FORMATS)},
            "root": {"type": "string", "description": "XML root element when writing XML "
                                                      "from a document with several keys."},
            "item": {"type": "string", "description": "XML element name for list items "
                                                      "when writing a list as XML."},
            "pretty": {"type": "boolean", "default": False},
            "force_list": {"type": "array", "items": {"type": "string"},
                           "description": "XML elements that are always lists."},
            "attr_prefix": {"type": "string", "default": "@"},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "columns": {"type": "array", "items": {"type": "string"},
                        "description": "CSV columns (writing: their order; reading: names "
                                       "when the text has no header)."},
            "header": {"type": "boolean", "default": True},
        },
        "required": ["from", "to"],
        "additionalProperties": False,
    }

    def __init__(self, config: dict[str, Any]) -> None:
        self.on = config.get("on")
        self.into = config.get("as", self.on)
        self.source = config["from"]
        self.target = config["to"]
        self.root = config.get("root")
        self.item = config.get("item", "item")
        self.pretty = bool(config.get("pretty", False))
        self.force_list = tuple(config.get("force_list", ()))
        self.attr_prefix = config.get("attr_prefix", "@")
        self.delimiter = config.get("delimiter", ",")
        self.columns = tuple(config["columns"]) if "columns" in config else None
        self.header = bool(config.get("header", True))

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        if config["from"] == config["to"]:
            ctx.problem("invalid-option", f"convert from {config['from']} to itself does "
                        "nothing", path, "remove the step")
        if config["to"] == "csv" and config["from"] == "xml" and "columns" not in config:
            ctx.problem("invalid-option", "XML to CSV needs `columns`", path)
        return cls(dict(config))

    def apply(self, msg: Message) -> Any:
        doc = read_doc(msg, self.on)
        try:
            value = self._to_document(doc)
            result = self._from_document(value)
        except IntegratorError as exc:
            raise ConversionError(
                f"convert {self.source} → {self.target}: {exc.message}", hint=exc.hint
            ) from exc
        write_doc(msg, self.into, result)
        return None

    def _to_document(self, doc: Any) -> Any:
        if self.source == "json":
            return doc
        if not isinstance(doc, str | bytes):
            raise ConversionError(f"expected {self.source.upper()} text, got "
                                  f"{type(doc).__name__}")
        if self.source == "xml":
            from integrator.codecs.xml import parse_xml

            return parse_xml(doc, force_list=self.force_list, attr_prefix=self.attr_prefix,
                             where=f"step {self.name!r}")
        from integrator.codecs.csv import read_rows

        data = doc.encode("utf-8") if isinstance(doc, str) else doc
        rows = []
        for line, row in read_rows(io.BytesIO(data), delimiter=self.delimiter,
                                   header=self.header, columns=self.columns,
                                   where=f"step {self.name!r}"):
            if isinstance(row, IntegratorError):
                raise ConversionError(f"line {line}: {row.message}")
            rows.append(row)
        return rows

    def _from_document(self, value: Any) -> Any:
        if self.target == "json":
            return value
        if self.target == "xml":
            from integrator.codecs.xml import to_xml

            if isinstance(value, list):
                value = {self.root or "items": {self.item: value}}
                return to_xml(value, pretty=self.pretty, attr_prefix=self.attr_prefix)
            return to_xml(value, root=self.root, pretty=self.pretty,
                          attr_prefix=self.attr_prefix)
        from integrator.codecs.csv import write_rows

        rows = value if isinstance(value, list) else [value]
        if not all(isinstance(r, dict) for r in rows):
            raise ConversionError("CSV rows must be objects")
        columns = self.columns or tuple(dict.fromkeys(k for r in rows for k in r))
        out = io.BytesIO()
        write_rows(rows, out, columns=columns, delimiter=self.delimiter, header=self.header)
        return out.getvalue().decode("utf-8")
