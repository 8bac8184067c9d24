"""``set``, ``rename`` and ``drop``: change fields of a document by dotted path.

Paths are dotted field names (``customer.address.city``); they are not expressions.
Changes are copy-on-write: containers along the path are copied, never mutated.

```yaml
- set:
    fields:
      totals.net: "round(sum(line_items[].multiply(to_number(price), quantity)), `2`)"
      totals.tax: "round(multiply(totals.net, tax_rate), `2`)"   # sees totals.net
      source: {const: shop}
- rename: {fields: {customer.vat_id: customer.tax_id}}
- drop: [note, customer.phone]
```
``set`` evaluates its fields in order, each against the document as changed so far.
``rename`` and ``drop`` ignore paths that are absent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from integrator.errors import MessageError
from integrator.message import Message
from integrator.steps.base import BuildContext, Path, Step, doc_options_schema, read_doc, write_doc

__all__ = ["DropStep", "RenameStep", "SetStep", "split_path"]

_FIELD_PATH = r"^[^.\s]+(\.[^.\s]+)*$"


def split_path(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _copy_along(doc: Any, keys: tuple[str, ...], create: bool) -> tuple[dict[str, Any], Any]:
    """Copy ``doc`` and the dicts along ``keys[:-1]``; return (new root, parent of last key).

    With ``create`` missing intermediate objects are made; otherwise the parent is None
    when the path does not exist.
    """
    if not isinstance(doc, dict):
        raise MessageError(
            f"cannot change field {'.'.join(keys)!r}: the document is "
            f"{type(doc).__name__}, not an object",
        )
    root = dict(doc)
    parent: Any = root
    for i, key in enumerate(keys[:-1]):
        child = parent.get(key)
        if isinstance(child, dict):
            child = dict(child)
        elif child is None and create:
            child = {}
        elif child is None:
            return root, None
        else:
            raise MessageError(
                f"cannot change field {'.'.join(keys)!r}: "
                f"{'.'.join(keys[: i + 1])!r} is {type(child).__name__}, not an object",
            )
        parent[key] = child
        parent = child
    return root, parent


class SetStep(Step):
    kind = "set"
    summary = "Set fields (dotted paths) to value specs, in order."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Set fields of the document. Each value is a value spec; fields are "
                       "set in order and later ones see earlier ones.",
        "properties": {
            **doc_options_schema(produces=False, in_place=True),
            "fields": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": _FIELD_PATH},
                "additionalProperties": {"$ref": "#/$defs/value"},
                "description": "Dotted field path → value spec.",
            },
        },
        "required": ["fields"],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, fields: list[tuple[tuple[str, ...], Any]]) -> None:
        self.on = on
        self.fields = fields

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        fields = [
            (split_path(key), ctx.value(spec, (*path, "fields", key)))
            for key, spec in config["fields"].items()
        ]
        return cls(config.get("on"), fields)

    def apply(self, msg: Message) -> Any:
        doc = read_doc(msg, self.on)
        if type(doc) is not dict:
            raise MessageError(
                f"cannot set fields: the document is {type(doc).__name__}, not an object")
        doc = dict(doc)  # copy on write: the root once, nested objects once each
        owned: set[int] = set()
        for keys, value in self.fields:
            new_value = value(doc, msg)
            parent = doc
            for i, key in enumerate(keys[:-1]):
                child = parent.get(key)
                if type(child) is dict:
                    if id(child) not in owned:
                        child = dict(child)
                        owned.add(id(child))
                        parent[key] = child
                elif child is None:
                    child = {}
                    owned.add(id(child))
                    parent[key] = child
                else:
                    raise MessageError(
                        f"cannot set field {'.'.join(keys)!r}: "
                        f"{'.'.join(keys[: i + 1])!r} is {type(child).__name__}, not an object")
                parent = child
            parent[keys[-1]] = new_value
        write_doc(msg, self.on, doc)
        return None


class RenameStep(Step):
    kind = "rename"
    summary = "Rename fields (dotted path → dotted path); absent fields are ignored."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Rename fields: old dotted path → new dotted path.",
        "properties": {
            **doc_options_schema(produces=False, in_place=True),
            "fields": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": _FIELD_PATH},
                "additionalProperties": {"type": "string", "pattern": _FIELD_PATH},
            },
        },
        "required": ["fields"],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, pairs: list[tuple[tuple[str, ...], tuple[str, ...]]]):
        self.on = on
        self.pairs = pairs

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        pairs = [(split_path(k), split_path(v)) for k, v in config["fields"].items()]
        return cls(config.get("on"), pairs)

    def apply(self, msg: Message) -> Any:
        doc = read_doc(msg, self.on)
        for old, new in self.pairs:
            doc, parent = _copy_along(doc, old, create=False)
            if parent is None or old[-1] not in parent:
                continue
            value = parent.pop(old[-1])
            doc, target = _copy_along(doc, new, create=True)
            target[new[-1]] = value
        write_doc(msg, self.on, doc)
        return None


class DropStep(Step):
    kind = "drop"
    summary = "Remove fields (dotted paths); absent fields are ignored."
    schema: ClassVar[dict[str, Any]] = {
        "description": "Remove fields: a list of dotted paths, or {fields: [...], on: name}.",
        "anyOf": [
            {"type": "array", "items": {"type": "string", "pattern": _FIELD_PATH},
             "minItems": 1},
            {
                "type": "object",
                "properties": {
                    **doc_options_schema(produces=False, in_place=True),
                    "fields": {"type": "array", "minItems": 1,
                               "items": {"type": "string", "pattern": _FIELD_PATH}},
                },
                "required": ["fields"],
                "additionalProperties": False,
            },
        ],
    }

    def __init__(self, on: str | None, paths: list[tuple[str, ...]]) -> None:
        self.on = on
        self.paths = paths

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        if isinstance(config, list):
            return cls(None, [split_path(p) for p in config])
        return cls(config.get("on"), [split_path(p) for p in config["fields"]])

    def apply(self, msg: Message) -> Any:
        doc = read_doc(msg, self.on)
        for keys in self.paths:
            if isinstance(doc, dict) and len(keys) == 1:
                if keys[0] in doc:
                    doc = {k: v for k, v in doc.items() if k != keys[0]}
                continue
            doc, parent = _copy_along(doc, keys, create=False)
            if parent is not None:
                parent.pop(keys[-1], None)
        write_doc(msg, self.on, doc)
        return None
