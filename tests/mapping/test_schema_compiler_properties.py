"""Property tests: compiled schemas against jsonschema on generated schemas and data.

Schemas come from a grammar over every compiled keyword (nested through the
applicators, with ``$ref`` into ``$defs``, and with the ``if``/``const``/``then``
groups the compiler folds into a look-up); instances are JSON values over the same
keys, strings and numbers the schemas mention, so they hit both sides of most
keywords. Floats are finite; ``true``/``1``/``1.0`` and ``false``/``0`` appear side by
side on purpose.

The reference is ``Draft202012Validator`` with one correction applied through the
library's own extension point (``jsonschema.validators.extend``): ``uniqueItems``
compares items pairwise with JSON equality, the deliberate difference documented in
``integrator.mapping.schemas`` and pinned against the unmodified library in
``test_schema_compiler.py::test_documented_difference_unique_items``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from integrator.errors import FatalError
from integrator.mapping.schemas import compile_schema

KEYS = ["a", "b", "c"]
STRINGS = ["", "a", "b", "ab", "ba", "1", "é", "😀x"]
NUMBERS = [0, 1, 2, -1, 0.0, 1.0, 1.5, 2.5, -0.5, 0.1, 0.3, 10**20]
PATTERNS = ["^a", "b$", "a|b", "^[0-9]+$", "é", "^.{2}$", ""]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# -- the reference ------------------------------------------------------------------------

def json_equal(one: Any, two: Any) -> bool:
    """JSON equality, written out: booleans are not numbers, containers compare deeply."""
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(json_equal(v, two[k]) for k, v in one.items())
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    return bool(one == two)


def unique_items(validator: Any, unique: Any, instance: Any, schema: Any
                 ) -> Iterator[ValidationError]:
    if unique and validator.is_type(instance, "array"):
        for i, item in enumerate(instance):
            if any(json_equal(item, other) for other in instance[i + 1:]):
                yield ValidationError(f"{instance!r} has non-unique elements")
                return


Reference = validators.extend(Draft202012Validator, {"uniqueItems": unique_items})


def test_reference_unique_items() -> None:
    assert Reference({"uniqueItems": True}).is_valid([[1], [True], [1]]) is False
    assert Reference({"uniqueItems": True}).is_valid([[1], [True]]) is True
    assert Reference({"uniqueItems": True}).is_valid([1, 1.0]) is False
    assert Reference({"items": {"uniqueItems": True}}).is_valid([[[0], [False], [0]]]) is False


# -- generated data -----------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(NUMBERS),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    st.sampled_from(STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=8,
)
def pick(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """For ``sampled_from([...strategies]).flatmap(pick)``: hypothesis spreads a
    ``sampled_from`` evenly, where ``one_of`` favours some branches."""
    return strategy


key_lists = st.lists(st.sampled_from(KEYS), unique=True, max_size=3)
small = st.integers(0, 3)
TYPE_NAMES = ["null", "boolean", "integer", "number", "string", "array", "object"]


LEAF_KEYWORDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.one_of(st.sampled_from(TYPE_NAMES),
                      st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=3,
                               unique=True)),
    "enum": st.lists(json_values, min_size=1, max_size=4),
    "const": json_values,
    "required": key_lists,
    "minProperties": small, "maxProperties": small,
    "dependentRequired": st.dictionaries(st.sampled_from(KEYS), key_lists, max_size=2),
    "minItems": small, "maxItems": small,
    "uniqueItems": st.booleans(),
    "minLength": small, "maxLength": small,
    "pattern": st.sampled_from(PATTERNS),
    "minimum": st.sampled_from(NUMBERS), "maximum": st.sampled_from(NUMBERS),
    "exclusiveMinimum": st.sampled_from(NUMBERS),
    "exclusiveMaximum": st.sampled_from(NUMBERS),
    "multipleOf": st.sampled_from([1, 2, 0.5, 1.5, 0.1, 3, 2.0]),
    "format": st.sampled_from(["email", "date-time", "regex"]),
    "title": st.just("annotation"),
}


def nested_keywords(inner: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    several = st.lists(inner, min_size=1, max_size=3)
    return {
        "properties": st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
        "additionalProperties": inner,
        "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), inner, max_size=2),
        "propertyNames": inner,
        "dependentSchemas": st.dictionaries(st.sampled_from(KEYS), inner, max_size=2),
        "items": inner,
        "prefixItems": several,
        "contains": inner,
        "minContains": small, "maxContains": small,
        "allOf": several, "anyOf": several, "oneOf": several,
        "not": inner,
        "if": inner, "then": inner, "else": inner,
    }


@st.composite
def schema_objects(draw: st.DrawFn, keywords: dict[str, st.SearchStrategy[Any]]
                   ) -> dict[str, Any]:
    # a plain list of sampled names spreads better than a unique list or a permutation
    chosen = dict.fromkeys(draw(st.lists(st.sampled_from(sorted(keywords)), max_size=3)))
    return {name: draw(keywords[name]) for name in chosen}


@st.composite
def string_switch(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    """An allOf of ``if: {required: [k], properties: {k: {const: s}}}, then: ...``
    blocks on one key (the shape the compiler folds into one look-up)."""
    key = draw(st.sampled_from(KEYS))
    values = draw(st.lists(st.sampled_from(STRINGS), min_size=2, max_size=4))
    blocks = [{"if": {"required": [key], "properties": {key: {"const": v}}},
               "then": draw(inner)} for v in values]
    blocks.extend(draw(st.lists(inner, max_size=1)))
    return {"allOf": blocks}


@st.composite
def object_shape(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    """``properties`` with some of ``required``, ``additionalProperties`` (often
    ``false``) and ``patternProperties``: the keywords the compiler folds into one loop."""
    properties = draw(st.dictionaries(st.sampled_from(KEYS), st.one_of(st.just(True), inner),
                                      max_size=3))
    schema: dict[str, Any] = {"properties": properties}
    if draw(st.booleans()):
        schema["required"] = draw(st.one_of(key_lists, st.permutations(sorted(properties))))
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.one_of(st.just(False), inner))
    if draw(st.booleans()):
        schema["patternProperties"] = draw(
            st.dictionaries(st.sampled_from(PATTERNS), inner, max_size=2))
    return schema


@st.composite
def array_shape(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    """``prefixItems`` with ``items`` (often ``false``), or ``contains`` with bounds."""
    if draw(st.booleans()):
        return {"prefixItems": draw(st.lists(inner, min_size=1, max_size=3)),
                "items": draw(st.one_of(st.just(False), inner))}
    schema = {"contains": draw(inner)}
    for bound in ("minContains", "maxContains"):
        if draw(st.booleans()):
            schema[bound] = draw(small)
    return schema


@st.composite
def applicator_shape(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    """``allOf``/``anyOf``/``oneOf``/``not``/``if``-``then``-``else`` over ``inner``."""
    name = draw(st.sampled_from(["allOf", "anyOf", "oneOf", "not", "if"]))
    if name == "not":
        return {"not": draw(inner)}
    if name == "if":
        return {"if": draw(inner), "then": draw(inner), "else": draw(inner)}
    return {name: draw(st.lists(st.one_of(st.just(True), inner), min_size=1, max_size=3))}


def schemas(refs: list[str]) -> st.SearchStrategy[Any]:
    """Schemas whose ``$ref`` may name ``refs`` (``#/$defs/<name>``)."""
    base = st.one_of(st.booleans(), schema_objects(LEAF_KEYWORDS))
    if refs:
        base = st.one_of(base, st.sampled_from([{"$ref": f"#/$defs/{r}"} for r in refs]))
    return st.recursive(
        base,
        lambda inner: st.one_of(schema_objects({**LEAF_KEYWORDS, **nested_keywords(inner)}),
                                string_switch(inner), object_shape(inner), array_shape(inner)),
        max_leaves=5,
    )


# one level of keywords over leaf schemas: dense coverage of each keyword's semantics
LEAF_SCHEMAS = st.one_of(st.booleans(), schema_objects(LEAF_KEYWORDS))


@st.composite
def keyword_mix(draw: st.DrawFn) -> dict[str, Any]:
    """One to three leaf keywords, each equally likely to be the first."""
    names = sorted(LEAF_KEYWORDS)
    chosen = [draw(st.sampled_from(names)), *draw(st.lists(st.sampled_from(names),
                                                             max_size=2))]
    return {name: draw(LEAF_KEYWORDS[name]) for name in dict.fromkeys(chosen)}


FLAT_SCHEMAS = st.sampled_from([  # mostly keyword mixes, the rest the folded shapes
    keyword_mix(), keyword_mix(), keyword_mix(), object_shape(LEAF_SCHEMAS),
    array_shape(LEAF_SCHEMAS), string_switch(LEAF_SCHEMAS), applicator_shape(LEAF_SCHEMAS),
]).flatmap(pick)

# refs form no cycle (b may use a, the root both), so validation always terminates
DEFINITION_A = schemas([])
DEFINITION_B = schemas(["a"])
ROOT = schemas(["a", "b"])


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A root schema with two definitions under ``$defs``."""
    first, second, root = draw(DEFINITION_A), draw(DEFINITION_B), draw(ROOT)
    if isinstance(root, bool):
        root = {"allOf": [root]}
    return {**root, "$defs": {"a": first, "b": second}}


def look_alikes(value: Any) -> list[Any]:
    """``value`` and values near it that JSON equality or a bound tells apart (or not):
    ``true``/``1``/``1.0``, ``n``/``n + 0.5``, ``[1]``/``[true]``, ``"ab"``/``"a"``."""
    if isinstance(value, bool):
        return [value, int(value), float(value)]
    if isinstance(value, (int, float)):
        near = [value, float(value), value + 1, value - 1, value + 0.5, value * 2, value * 3]
        if isinstance(value, float) and value.is_integer():
            near.append(int(value))
        if value in (0, 1):
            near.append(bool(value))
        return near
    if isinstance(value, str):
        return [value, value + "a", value[:-1], "a" + value]
    if isinstance(value, list):
        return [value, flip(value), value[:-1], [*value, None]]
    if isinstance(value, dict):
        return [value, flip(value), dict(list(value.items())[:-1])]
    return [value]


def flip(value: Any) -> Any:
    """``value`` with booleans and the numbers 0 and 1 swapped, at every depth."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, list):
        return [flip(v) for v in value]
    if isinstance(value, dict):
        return {k: flip(v) for k, v in value.items()}
    return value


def vocabulary(schema: Any) -> list[Any]:
    """Every constant, bound and string in ``schema``, with their look-alikes."""
    found: list[Any] = []
    if isinstance(schema, dict):
        for name, value in schema.items():
            if name == "enum":
                for member in value:
                    found.extend(look_alikes(member))
            elif name == "const" or (isinstance(value, (int, float))
                                     and not isinstance(value, bool)):
                found.extend(look_alikes(value))
            else:
                found.extend(vocabulary(value))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(vocabulary(item))
    elif isinstance(schema, str):
        found.extend(look_alikes(schema))
    return found


@st.composite
def cases(draw: st.DrawFn, schema_strategy: st.SearchStrategy[Any]
          ) -> tuple[Any, list[Any]]:
    """A schema and instances built from its own vocabulary and from any JSON."""
    schema = draw(schema_strategy)
    words = vocabulary(schema)
    atoms = (st.sampled_from([st.sampled_from(words)] * 3 + [scalars]).flatmap(pick)
             if words else scalars)
    shaped = st.recursive(
        atoms,
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
        max_leaves=6,
    )
    objects = st.dictionaries(st.sampled_from(KEYS), st.one_of(atoms, shaped), max_size=3)
    arrays = st.lists(st.one_of(atoms, shaped), max_size=4)
    kinds = st.sampled_from([atoms, objects, objects, arrays, json_values])
    instances = draw(st.lists(kinds.flatmap(pick), min_size=1, max_size=8))
    return schema, instances


def assert_agrees(schema: Any, instances: list[Any]) -> None:
    try:
        compiled = compile_schema(schema)
    except FatalError:  # the grammar makes valid schemas only; health checks would tell
        assume(False)
        raise
    assert compiled.compiled, compiled.fallback_reason
    reference = Reference(schema)
    for instance in instances:
        expected = reference.is_valid(instance)
        assert compiled.is_valid(instance) is expected, (json.dumps(schema),
                                                         json.dumps(instance))


# -- the properties -------------------------------------------------------------------------

@SETTINGS
@given(cases(FLAT_SCHEMAS))
def test_flat_schema_agrees_with_jsonschema(case: tuple[Any, list[Any]]) -> None:
    assert_agrees(*case)


@SETTINGS
@given(cases(documents()))
def test_nested_schema_agrees_with_jsonschema(case: tuple[Any, list[Any]]) -> None:
    assert_agrees(*case)


@SETTINGS
@given(st.recursive(
    st.builds(lambda v: {"value": v}, st.one_of(st.integers(-2, 2), st.sampled_from(["x"]))),
    lambda inner: st.builds(lambda v, c: {"value": v, "children": c},
                            st.integers(-2, 2), st.lists(inner, max_size=3)),
    max_leaves=12,
))
def test_recursive_schema_agrees_with_jsonschema(tree: dict[str, Any]) -> None:
    schema = {
        "$defs": {"node": {
            "type": "object",
            "required": ["value"],
            "properties": {"value": {"type": "integer", "minimum": -1},
                           "children": {"type": "array", "maxItems": 2,
                                        "items": {"$ref": "#/$defs/node"}}},
            "additionalProperties": False,
        }},
        "$ref": "#/$defs/node",
    }
    compiled = compile_schema(schema)
    assert compiled.compiled
    assert compiled.is_valid(tree) is Draft202012Validator(schema).is_valid(tree)
