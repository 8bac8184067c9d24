"""Turn a (valid) draft 2020-12 schema into one check closure.

Every schema object becomes one closure. Keywords that apply to any instance (``enum``,
``const``, ``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else``,
``$ref``) and the type-specific ones (:mod:`.objects`, :mod:`.arrays`,
:mod:`.scalars`) are combined per JSON type, and
the closure dispatches on ``type(instance)`` once: a string never pays for the object
keywords, and ``enum``/``const`` are split per type into ``frozenset`` lookups. Common
shapes get a cheaper closure than the general dispatch: ``{"type": "string", ...}``
becomes ``isinstance(x, str) and check(x)``, a schema with only object keywords
``not isinstance(x, dict) or check(x)``, an enum of strings a set lookup.

``$ref`` accepts JSON pointers into the root document (``#``, ``#/$defs/name``, or the
root's own ``$id`` followed by such a fragment). Targets are compiled once, on first
use, and shared; a reference back to a schema still being compiled (recursion) goes
through a one-element cell filled in when that schema is done.

:class:`Unsupported` is raised for anything this compiler cannot answer exactly like
jsonschema; the caller then validates with jsonschema itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from integrator.mapping.schemas.arrays import array_checks
from integrator.mapping.schemas.equality import value_checks
from integrator.mapping.schemas.objects import InvalidPatternUnion, object_checks
from integrator.mapping.schemas.primitives import (
    JSON_TYPES,
    OTHER,
    Check,
    ForeignValue,
    NoneType,
    accept,
    all_of,
    any_of,
    one_of,
    reject,
    require_foreign,
)
from integrator.mapping.schemas.scalars import number_checks, string_checks
from integrator.mapping.schemas.shapes import (
    conditional,
    dispatch,
    shortcut,
    string_case,
    switch,
)

__all__ = [
    "SUPPORTED_KEYWORDS",
    "UNSUPPORTED_KEYWORDS",
    "BrokenReference",
    "Unsupported",
    "compile_check",
]

SUPPORTED_KEYWORDS = frozenset({
    "type", "enum", "const",
    "properties", "required", "additionalProperties", "patternProperties", "propertyNames",
    "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
    "items", "prefixItems", "minItems", "maxItems", "uniqueItems",
    "contains", "minContains", "maxContains",
    "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref",
})
"""Keywords compiled to closures. Every other keyword that jsonschema's 2020-12
validator does not assert (``format``, ``title``, ``$defs``, unknown names, ...) is an
annotation and ignored, as jsonschema ignores it."""

UNSUPPORTED_KEYWORDS = frozenset({
    "$dynamicRef", "unevaluatedProperties", "unevaluatedItems", "$vocabulary",
})
"""Keywords that make the whole schema fall back to jsonschema."""

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int, float),  # a float only when integral: see _build
    "boolean": (bool,),
    "null": (NoneType,),
}


class Unsupported(Exception):
    """The schema needs something the compiler does not do; ``str()`` says what."""


class BrokenReference(Exception):
    """A ``$ref`` into this document points to nothing, or to something that is not a
    schema; jsonschema would raise when validating through it. ``str()`` says which."""


def compile_check(schema: Any) -> Check:
    """The check for a schema already accepted by ``Draft202012Validator.check_schema``.

    Raises :class:`Unsupported` when the schema (or a ``$ref`` target it reaches) uses
    a keyword or reference the compiler cannot answer exactly like jsonschema, or is
    nested too deeply to compile; :class:`BrokenReference` when a ``$ref`` it reaches
    points into this document at nothing, or at something that is not a schema.
    """
    try:
        return _Compiler(schema).compile(schema)
    except RecursionError:
        raise Unsupported("the schema is nested too deeply to compile") from None


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        root_id = root.get("$id") if isinstance(root, dict) else None
        self.base = root_id if isinstance(root_id, str) else ""
        self.done: dict[int, Check] = {}
        self.busy: set[int] = set()
        self.cells: dict[int, list[Check]] = {}

    def compile(self, schema: Any) -> Check:
        """The check of one (sub)schema, compiled at most once per schema object."""
        if schema is True:
            return accept
        if schema is False:
            return reject
        if not isinstance(schema, dict):
            raise BrokenReference(f"a $ref points to {schema!r}, which is not a schema")
        key = id(schema)
        found = self.done.get(key)
        if found is not None:
            return found
        if key in self.busy:  # recursion: call through a cell filled in below
            cell = self.cells.setdefault(key, [reject])

            def recurse(instance: Any) -> object:
                return cell[0](instance)

            return recurse
        self.busy.add(key)
        try:
            check = self._build(schema)
        finally:
            self.busy.discard(key)
        self.done[key] = check
        if key in self.cells:
            self.cells.pop(key)[0] = check
        return check

    # -- one schema object ---------------------------------------------------------------

    def _build(self, schema: dict[str, Any]) -> Check:
        unsupported = sorted(UNSUPPORTED_KEYWORDS & schema.keys())
        if unsupported:
            raise Unsupported(f"keyword {unsupported[0]!r} is not compiled")
        if "$id" in schema and schema is not self.root:
            raise Unsupported("a subschema with its own $id changes how $ref resolves")

        generic = self._applicator_checks(schema)
        kinds: dict[type, list[Check]] = {t: [] for t in JSON_TYPES}
        try:
            kinds[dict] = object_checks(schema, self.compile)
        except InvalidPatternUnion as exc:
            raise Unsupported(f"patternProperties joined with '|' do not compile: {exc}") \
                from None
        kinds[list] = array_checks(schema, self.compile)
        kinds[str] = string_checks(schema)
        kinds[int] = kinds[float] = number_checks(schema)

        allowed: set[type] | None = None
        integer_only = False
        if "type" in schema:
            names = schema["type"]
            names = [names] if isinstance(names, str) else names
            allowed = {t for name in names for t in _TYPES[name]}
            integer_only = "integer" in names and "number" not in names
        values: dict[type, Check] | None = None
        strings: frozenset[str] | None = None  # the members, when all are strings
        try:
            if "const" in schema:
                values = value_checks([schema["const"]])
            if "enum" in schema:
                listed = value_checks(schema["enum"])
                values = listed if values is None else {
                    t: all_of([values[t], listed[t]]) for t in values}
        except ForeignValue:
            raise Unsupported("enum/const holds a value that is not JSON") from None
        if values is not None and all(values[t] is reject for t in JSON_TYPES if t is not str):
            listed_strings = {m for m in schema.get("enum", ()) if type(m) is str}
            if "const" in schema:
                const = schema["const"]
                both = type(const) is str and ("enum" not in schema or const in listed_strings)
                strings = frozenset([const] if both else [])
            else:
                strings = frozenset(listed_strings)

        cheaper = shortcut(schema, kinds, allowed, integer_only, values, strings, generic)
        if cheaper is not None:
            return cheaper

        table: dict[type, Check] = {}
        for kind in JSON_TYPES:
            if allowed is not None and kind not in allowed:
                table[kind] = reject
                continue
            parts: list[Check] = []
            if kind is float and integer_only:
                parts.append(float.is_integer)
            if values is not None:
                parts.append(values[kind])
            table[kind] = all_of([*parts, *kinds[kind], *generic])
        if allowed is not None:
            table[OTHER] = reject
        elif values is not None:
            table[OTHER] = require_foreign
        else:
            table[OTHER] = all_of(generic)
        return dispatch(table)

    def _applicator_checks(self, schema: dict[str, Any]) -> list[Check]:
        """Checks for the keywords that apply to any instance, cheapest first."""
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.compile(self._resolve(schema["$ref"])))
        if "not" in schema:
            negated = self.compile(schema["not"])
            if negated is accept or negated is reject:
                checks.append(reject if negated is accept else accept)
            else:

                def is_not(instance: Any) -> bool:
                    return not negated(instance)

                checks.append(is_not)
        if "anyOf" in schema:
            checks.append(any_of([self.compile(s) for s in schema["anyOf"]]))
        if "oneOf" in schema:
            checks.append(one_of([self.compile(s) for s in schema["oneOf"]]))
        if "if" in schema and ("then" in schema or "else" in schema):
            checks.append(conditional(self.compile(schema["if"]),
                                       self.compile(schema.get("then", True)),
                                       self.compile(schema.get("else", True))))
        members = list(schema.get("allOf", ()))
        switches, members = self._switches(members)
        checks.extend(switches)
        checks.extend(self.compile(s) for s in members)
        return [c for c in checks if c is not accept]

    def _switches(self, members: list[Any]) -> tuple[list[Check], list[Any]]:
        """Fold ``allOf`` members of the form ``{"if": {"required": [k], "properties":
        {k: {"const": "text"}}}, "then": T}`` that share ``k`` into one look-up.

        Such conditions on one key are exclusive, so a ``dict`` instance needs only the
        ``then`` of its own value, found in a ``dict``; any other instance satisfies
        every condition (``required``/``properties`` ignore non-objects) and needs all
        of them. Returns the switch checks and the members left to compile one by one.
        """
        groups: dict[str, list[tuple[str, Any]]] = {}
        rest: list[Any] = []
        for member in members:
            case = string_case(member)
            if case is None:
                rest.append(member)
            else:
                groups.setdefault(case[0], []).append((case[1], member))
        checks: list[Check] = []
        for key, cases in groups.items():
            if len(cases) == 1:
                rest.append(cases[0][1])
                continue
            by_value: dict[str, list[Check]] = {}
            for value, member in cases:
                by_value.setdefault(value, []).append(self.compile(member["then"]))
            every = all_of([c for group in by_value.values() for c in group])
            checks.append(switch(key, {v: all_of(c) for v, c in by_value.items()}, every))
        return checks, rest

    # -- references ----------------------------------------------------------------------

    def _resolve(self, ref: str) -> Any:
        """The part of the root document a ``$ref`` points to, as jsonschema finds it."""
        if ref.startswith("#"):
            fragment = ref[1:]
        else:
            if not self.base or "#" in self.base:
                raise Unsupported(f"$ref {ref!r} is not local to this schema")
            uri, fragment = urldefrag(urljoin(self.base, ref))
            if uri != self.base:
                raise Unsupported(f"$ref {ref!r} is not local to this schema")
        if not fragment:
            return self.root
        if not fragment.startswith("/"):
            raise Unsupported(f"$ref {ref!r} names an anchor")
        target: Any = self.root
        for segment in unquote(fragment[1:]).split("/"):
            if target is not self.root and isinstance(target, dict) and "$id" in target:
                raise Unsupported(f"$ref {ref!r} passes through a subschema with an $id")
            if isinstance(target, list):
                try:
                    target = target[int(segment)]
                except (ValueError, IndexError):
                    raise BrokenReference(f"$ref {ref!r} points to nothing") from None
            elif isinstance(target, dict):
                name = segment.replace("~1", "/").replace("~0", "~")
                if name not in target:
                    raise BrokenReference(f"$ref {ref!r} points to nothing")
                target = target[name]
            else:
                raise BrokenReference(f"$ref {ref!r} points to nothing")
        return target
