"""The JSON Schema compiler, keyword by keyword, against jsonschema and the spec.

Every table row states the answer the 2020-12 specification (as jsonschema 4 reads it)
gives, and the test checks both the compiled schema and
``jsonschema.Draft202012Validator`` against it: a row fails when the two agree on a
wrong answer, too.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import referencing.exceptions
from jsonschema import Draft202012Validator

from integrator.errors import FatalError
from integrator.mapping.schemas import CompiledSchema, compile_schema

REPO = Path(__file__).resolve().parents[2]
SHOP_ORDER = REPO / "schemas" / "examples" / "shop-order.json"
ORDERS = REPO / "examples" / "data" / "orders.jsonl"


def check(schema: Any, instance: Any, expected: bool, *, compiled: bool = True) -> None:
    """Assert the compiled answer, jsonschema's answer, and the expected one agree."""
    schema_ = compile_schema(schema)
    assert schema_.compiled is compiled, schema_.fallback_reason
    assert Draft202012Validator(schema).is_valid(instance) is expected, "jsonschema"
    assert schema_.is_valid(instance) is expected, "compiled"


def rows(schema: Any, *cases: tuple[Any, bool]) -> list[tuple[Any, Any, bool]]:
    return [(schema, instance, expected) for instance, expected in cases]


def ids(row: tuple[Any, Any, bool]) -> str:
    return f"{json.dumps(row[0])[:60]} | {row[1]!r}"[:100]


# -- per keyword ----------------------------------------------------------------------

TYPE = [
    *rows({"type": "integer"}, (1, True), (1.0, True), (-7, True), (1.5, False),
          (True, False), (False, False), ("1", False), (None, False), (10**30, True),
          (1e300, True)),
    *rows({"type": "number"}, (1, True), (1.5, True), (True, False), ("1", False),
          (None, False), ([], False)),
    *rows({"type": "boolean"}, (True, True), (False, True), (0, False), (1, False),
          (None, False)),
    *rows({"type": "null"}, (None, True), (False, False), (0, False), ("", False)),
    *rows({"type": "string"}, ("", True), ("x", True), (1, False), (None, False)),
    *rows({"type": "array"}, ([], True), ([1], True), ({}, False), ("ab", False)),
    *rows({"type": "object"}, ({}, True), ({"a": 1}, True), ([], False), (None, False)),
    *rows({"type": ["string", "null"]}, ("a", True), (None, True), (0, False),
          (False, False)),
    *rows({"type": ["integer", "boolean"]}, (True, True), (2, True), (2.0, True),
          (2.5, False), ("2", False)),
    *rows({"type": ["number", "integer"]}, (2.5, True), (2, True), (True, False)),
]

ENUM_CONST = [
    *rows({"enum": ["PL", "DE"]}, ("PL", True), ("DE", True), ("pl", False), (None, False),
          (["PL"], False), ({"PL": 1}, False), (1, False)),
    *rows({"enum": [1, "1", None]}, (1, True), (1.0, True), ("1", True), (None, True),
          (True, False), (2, False), ("1.0", False)),
    *rows({"enum": [True]}, (True, True), (1, False), (1.0, False), (False, False)),
    *rows({"enum": [0]}, (0, True), (0.0, True), (False, False), (-0.0, True)),
    *rows({"enum": [False, None]}, (False, True), (None, True), (0, False), (True, False)),
    *rows({"enum": [[1, True], {"a": [None]}]}, ([1, True], True), ([1.0, True], True),
          ([True, True], False), ([1, 1], False), ([1], False), ({"a": [None]}, True),
          ({"a": [None], "b": 1}, False), ({"a": []}, False), ("a", False)),
    *rows({"const": "b2b"}, ("b2b", True), ("b2c", False), (None, False), (["b2b"], False)),
    *rows({"const": 0.21}, (0.21, True), (0.210, True), (0.2, False), ("0.21", False)),
    *rows({"const": 1}, (1, True), (1.0, True), (True, False), ([1], False)),
    *rows({"const": False}, (False, True), (0, False), (None, False)),
    *rows({"const": None}, (None, True), (False, False), (0, False), ("", False)),
    *rows({"const": {"a": [1, {"b": False}]}}, ({"a": [1, {"b": False}]}, True),
          ({"a": [1.0, {"b": False}]}, True), ({"a": [True, {"b": False}]}, False),
          ({"a": [1, {"b": 0}]}, False), ({"a": [1, {"b": False}], "c": 1}, False)),
    *rows({"const": []}, ([], True), ({}, False), (None, False)),
    *rows({"const": "a", "enum": ["a", "b"]}, ("a", True), ("b", False)),
    *rows({"const": "c", "enum": ["a", "b"]}, ("c", False), ("a", False)),
    *rows({"const": 1, "enum": [True, 1.0]}, (1, True), (True, False)),
    *rows({"type": "string", "enum": ["a", 1]}, ("a", True), (1, False)),
]

OBJECT = [
    *rows({"properties": {"a": {"type": "integer"}}}, ({"a": 1}, True), ({"a": "x"}, False),
          ({}, True), ({"b": "x"}, True), ("not an object", True), ([1], True)),
    *rows({"properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                          "c": True, "d": False}},
          ({"a": 1, "b": "x", "c": None}, True), ({"a": 1, "b": 2}, False),
          ({"d": 1}, False), ({"c": {}}, True)),
    *rows({"required": ["a", "b"]}, ({"a": 1, "b": None}, True), ({"a": 1}, False),
          ({}, False), ([], True), ("ab", True)),
    *rows({"required": ["a"], "properties": {"a": {"const": "x"}, "b": {"type": "null"}}},
          ({"a": "x"}, True), ({"a": "y"}, False), ({"b": None}, False),
          ({"a": "x", "b": 0}, False)),
    *rows({"properties": {"a": {"type": "string"}}, "additionalProperties": False},
          ({"a": "x"}, True), ({}, True), ({"a": "x", "b": 1}, False), ({"b": 1}, False),
          ([1, 2], True)),
    *rows({"properties": {"a": {}, "b": {}, "c": {}}, "required": ["a", "b"],
           "additionalProperties": False},
          ({"a": 1, "b": 2}, True), ({"a": 1, "b": 2, "c": 3}, True), ({"a": 1, "c": 3}, False),
          ({"b": 1, "c": 3}, False), ({"a": 1, "b": 2, "d": 3}, False)),
    *rows({"properties": {"a": {}}, "required": ["a", "z"], "additionalProperties": False},
          ({"a": 1}, False), ({"a": 1, "z": 2}, False)),
    *rows({"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
          ({"a": "x", "b": 1}, True), ({"a": "x", "b": "y"}, False)),
    *rows({"additionalProperties": True, "properties": {"a": {"type": "null"}}},
          ({"a": None, "b": 1}, True), ({"a": 1}, False)),
    *rows({"patternProperties": {"^x-": {"type": "string"}, "n$": {"type": "integer"}}},
          ({"x-a": "s", "n": 1, "other": None}, True), ({"x-a": 1}, False),
          ({"x-n": "s"}, False), ({"x-n": 1}, False), ({"an": 1.0}, True)),
    *rows({"properties": {"id": {"type": "integer"}},
           "patternProperties": {"^i": {"minimum": 5}},
           "additionalProperties": False},
          ({"id": 7}, True), ({"id": 3}, False), ({"ix": 9}, True), ({"ix": 1}, False),
          ({"other": 1}, False)),
    *rows({"patternProperties": {"^a": True}, "additionalProperties": {"type": "string"}},
          ({"ab": 1, "b": "s"}, True), ({"b": 1}, False)),
    # jsonschema joins the patterns with "|" to find additional properties; an empty
    # pattern joins to "", which it treats as "no patterns": every undeclared key is
    # then additional (though "" matches it for patternProperties)
    *rows({"patternProperties": {"": True}, "additionalProperties": False},
          ({}, True), ({"a": 1}, False)),
    *rows({"propertyNames": {"pattern": "^[a-z]+$", "maxLength": 3}},
          ({"abc": 1}, True), ({"abcd": 1}, False), ({"aB": 1}, False), ({}, True),
          (["ABCD"], True)),
    *rows({"propertyNames": False}, ({}, True), ({"a": 1}, False)),
    *rows({"minProperties": 1, "maxProperties": 2}, ({"a": 1}, True), ({}, False),
          ({"a": 1, "b": 2, "c": 3}, False), ([], True), ("abc", True)),
    *rows({"dependentRequired": {"card": ["billing", "cvc"], "x": []}},
          ({"card": 1, "billing": 2, "cvc": 3}, True), ({"card": 1, "billing": 2}, False),
          ({"billing": 2}, True), ({"x": 1}, True), (["card"], True)),
    *rows({"dependentSchemas": {"card": {"required": ["billing"]}, "n": False}},
          ({"card": 1, "billing": 2}, True), ({"card": 1}, False), ({}, True),
          ({"n": 1}, False), (5, True)),
]

ARRAY = [
    *rows({"items": {"type": "integer"}}, ([], True), ([1, 2], True), ([1, "2"], False),
          ({"a": "b"}, True), ("ab", True)),
    *rows({"prefixItems": [{"type": "string"}, {"type": "integer"}]},
          ([], True), (["a"], True), (["a", 1], True), (["a", 1, None], True),
          ([1], False), (["a", "b"], False)),
    *rows({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
          (["a"], True), (["a", 1, 2], True), (["a", 1, "b"], False), ([1, 1], False)),
    *rows({"prefixItems": [True, True], "items": False},
          ([], True), ([1, 2], True), ([1, 2, 3], False)),
    *rows({"items": False}, ([], True), ([1], False), ({}, True)),
    *rows({"minItems": 1, "maxItems": 2}, ([1], True), ([], False), ([1, 2, 3], False),
          ("", True)),
    *rows({"uniqueItems": True},
          ([1, 2], True), ([1, 1], False), ([1, 1.0], False), ([1, True], True),
          ([0, False], True), ([True, True], False), ([None, None], False),
          ([[1], [True]], True), ([[1], [1.0]], False), ([{"a": 1}, {"a": 1}], False),
          ([{"a": 1}, {"a": True}], True), ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),
          (["1", 1], True), ([[], {}], True), ([], True)),
    *rows({"uniqueItems": False}, ([1, 1], True)),
    *rows({"contains": {"type": "integer"}}, ([1], True), (["a", 2], True), (["a"], False),
          ([], False), ({"a": 1}, True)),
    *rows({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3},
          ([1, 2], True), ([1, "a"], False), ([1, 2, 3, 4], False), ([1, 2, 3, "x"], True)),
    *rows({"contains": {"type": "integer"}, "minContains": 0}, ([], True), (["a"], True)),
    *rows({"contains": {"const": 1}, "maxContains": 1}, ([1, 2], True), ([1, 1], False),
          ([2], False)),
    *rows({"minContains": 2}, ([], True)),  # without contains: no effect
]

STRING = [
    *rows({"minLength": 2, "maxLength": 3}, ("ab", True), ("a", False), ("abcd", False),
          ("😀😀", True), ("😀", False), (12345, True)),
    *rows({"maxLength": 0}, ("", True), ("a", False)),
    *rows({"pattern": "b"}, ("abc", True), ("ac", False), (1, True)),  # unanchored
    *rows({"pattern": "^\\d{2}-\\d{3}$"}, ("00-950", True), ("00950", False),
          ("00-9500", False)),
    *rows({"type": "string", "minLength": 1}, ("a", True), ("", False), (1, False)),
    *rows({"type": "string", "pattern": "^a"}, ("ab", True), ("b", False), (None, False)),
    *rows({"type": "string", "minLength": 2, "pattern": "^a"},
          ("ab", True), ("a", False), ("bb", False)),
    *rows({"type": ["string", "null"], "minLength": 1}, ("a", True), (None, True),
          ("", False), (0, False)),
    *rows({"type": "string", "enum": ["ab", "c"], "minLength": 2}, ("ab", True),
          ("c", False)),
]

NUMBER = [
    *rows({"minimum": 1, "maximum": 3}, (1, True), (3.0, True), (0.999, False),
          (3.0001, False), ("0", True), (True, True)),
    *rows({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, (0.5, True), (0, False),
          (1, False), (1e-300, True)),
    *rows({"minimum": 10**20}, (10**20, True), (10**20 - 1, False), (1e20, True)),
    *rows({"multipleOf": 2}, (4, True), (4.0, True), (3, False), (0, True), (-6, True),
          (True, True)),
    *rows({"multipleOf": 2.5}, (7.5, True), (5, True), (6, False)),
    # jsonschema divides floats: 0.3 / 0.1 is 2.9999999999999996, so 0.3 is not a
    # multiple of 0.1, nor 19.99 (1998.9999999999998) or 0.07 (7.000000000000001) of
    # 0.01; 0.5 / 0.1 is exactly 5.0 and 0.25 / 0.01 exactly 25.0
    *rows({"multipleOf": 0.1}, (0.5, True), (0.3, False), (1, True)),
    *rows({"multipleOf": 0.01}, (19.99, False), (0.07, False), (0.25, True)),
    # a float quotient too big for int(): exact fractions decide, in both
    *rows({"multipleOf": 0.5}, (1e308, True)),
    *rows({"multipleOf": 0.1}, (1e308, False)),
    *rows({"type": "integer", "minimum": 1}, (1, True), (0, False), (1.0, True),
          (2.5, False), (True, False)),
]

APPLICATORS = [
    *rows({"allOf": [{"type": "integer"}, {"minimum": 2}]}, (2, True), (1, False),
          ("x", False)),
    *rows({"allOf": [True, {}]}, (None, True)),
    *rows({"allOf": [{"type": "string"}, False]}, ("a", False)),
    *rows({"anyOf": [{"type": "string"}, {"minimum": 2}]}, ("a", True), (3, True),
          (1, False), (None, True)),
    *rows({"anyOf": [{"type": "string"}, {"type": "null"}, {"type": "array"}]},
          (None, True), ([], True), (1, False)),
    *rows({"anyOf": [False, {"type": "null"}]}, (None, True), (1, False)),
    *rows({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, (1, True), (2.5, True),
          (3, False), (1.5, False)),
    *rows({"oneOf": [{"const": 1}, {"const": 1.0}, {"type": "string"}]},
          (1, False), ("a", True), (None, False)),
    *rows({"oneOf": [True, True]}, (1, False)),
    *rows({"oneOf": [True, False]}, (1, True)),
    *rows({"not": {"type": "string"}}, (1, True), ("a", False)),
    *rows({"not": True}, (1, False)),
    *rows({"not": False}, (1, True)),
    *rows({"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}},
          (6, True), (4, False), ("a", True), (None, False)),
    *rows({"if": {"type": "integer"}, "then": {"minimum": 5}}, (4, False), ("a", True)),
    *rows({"if": {"type": "integer"}, "else": {"type": "string"}}, (4, True), (None, False)),
    *rows({"if": {"type": "integer"}}, (None, True)),           # if alone: no effect
    *rows({"then": False, "else": False}, (None, True)),        # without if: no effect
    *rows({"if": True, "then": {"type": "null"}}, (None, True), (1, False)),
    *rows({"if": False, "then": False, "else": {"type": "null"}}, (None, True), (1, False)),
]

ANNOTATIONS = [
    # format is an annotation in 2020-12 unless a format checker is given
    *rows({"format": "email"}, ("not an e-mail", True)),
    *rows({"type": "string", "format": "date-time"}, ("yesterday", True), (1, False)),
    *rows({"title": "t", "description": "d", "default": 1, "examples": [1],
           "$comment": "c", "deprecated": True, "readOnly": True, "writeOnly": False,
           "x-vendor": {"type": "string"}}, (None, True), ([1], True)),
    # draft-07 keywords are unknown to 2020-12, hence ignored
    *rows({"dependencies": {"a": ["b"]}, "additionalItems": False,
           "definitions": {"x": False}}, ({"a": 1}, True), ([1, 2], True)),
    *rows({"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": "https://example.com/s.json", "$defs": {"unused": False}},
          (1, True)),
]


@pytest.mark.parametrize(("schema", "instance", "expected"),
                         TYPE + ENUM_CONST + OBJECT + ARRAY + STRING + NUMBER + APPLICATORS
                         + ANNOTATIONS, ids=[ids(r) for r in TYPE + ENUM_CONST + OBJECT
                                             + ARRAY + STRING + NUMBER + APPLICATORS
                                             + ANNOTATIONS])
def test_keyword(schema: Any, instance: Any, expected: bool) -> None:
    check(schema, instance, expected)


def test_multiple_of_huge_integer() -> None:
    """Second documented difference: an integer beyond float range under a float
    ``multipleOf`` makes jsonschema raise ``OverflowError`` (its float division happens
    outside its own overflow guard); the compiled schema answers with exact fractions."""
    with pytest.raises(OverflowError):
        Draft202012Validator({"multipleOf": 0.5}).is_valid(10**400)
    assert compile_schema({"multipleOf": 0.5}).is_valid(10**400) is True
    assert compile_schema({"multipleOf": 0.5}).is_valid(10**400 + 1) is True
    assert compile_schema({"multipleOf": 2.0}).is_valid(10**400 + 1) is False
    assert compile_schema({"multipleOf": 2.0}).is_valid(10**400) is True
    assert compile_schema({"multipleOf": 0.3}).is_valid(10**400) is False
    assert compile_schema({"multipleOf": 1.5}).is_valid(3 * 10**400) is True


def test_boolean_schemas() -> None:
    for instance in (None, 0, "", [], {}, {"a": [1]}):
        check(True, instance, True)
        check(False, instance, False)
        check({}, instance, True)


def test_is_valid_returns_a_bool() -> None:
    schema = compile_schema({"pattern": "a", "minLength": 1})
    assert schema.is_valid("a") is True
    assert schema.is_valid("b") is False


# -- $ref -----------------------------------------------------------------------------

TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "additionalProperties": False,
        },
    },
    "$ref": "#/$defs/node",
}


@pytest.mark.parametrize(("instance", "expected"), [
    ({"value": 1}, True),
    ({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}, True),
    ({"value": 1, "children": [{"value": 2, "children": [{"value": "3"}]}]}, False),
    ({"value": 1, "children": [{"value": 2, "children": [{}]}]}, False),
    ({"value": 1, "children": [{"value": 2, "extra": True}]}, False),
    ([], False),
])
def test_recursive_ref(instance: Any, expected: bool) -> None:
    check(TREE, instance, expected)


def test_recursive_ref_to_root() -> None:
    schema = {"type": ["integer", "array"], "items": {"$ref": "#"}}
    check(schema, [1, [2, [3, []]]], True)
    check(schema, [1, [2, ["3"]]], False)
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    check(schema, deep, True)


def test_mutually_recursive_refs() -> None:
    schema = {
        "$defs": {
            "even": {"anyOf": [{"const": []}, {"type": "array", "minItems": 1, "maxItems": 1,
                                               "items": {"$ref": "#/$defs/odd"}}]},
            "odd": {"type": "array", "minItems": 1, "maxItems": 1,
                    "items": {"$ref": "#/$defs/even"}},
        },
        "$ref": "#/$defs/even",
    }
    check(schema, [], True)
    check(schema, [[]], False)
    check(schema, [[[]]], True)
    check(schema, [[[[]]]], False)


@pytest.mark.parametrize(("schema", "instance", "expected"), [
    # escaped pointer segments: ~1 is "/", ~0 is "~", percent-encoding is decoded first
    ({"$defs": {"a/b": {"type": "null"}}, "$ref": "#/$defs/a~1b"}, None, True),
    ({"$defs": {"a/b": {"type": "null"}}, "$ref": "#/$defs/a~1b"}, 1, False),
    ({"$defs": {"m~n": {"type": "null"}}, "$ref": "#/$defs/m~0n"}, 1, False),
    ({"$defs": {"a b": {"type": "null"}}, "$ref": "#/$defs/a%20b"}, 1, False),
    # a pointer into any part of the document, through arrays too
    ({"properties": {"a": {"type": "string"}}, "items": {"$ref": "#/properties/a"}},
     ["x", 1], False),
    ({"anyOf": [{"type": "string"}, {"type": "null"}], "items": {"$ref": "#/anyOf/1"}},
     [None], False),  # the root's anyOf fails for an array, items pass
    ({"allOf": [{"type": "array"}], "items": {"$ref": "#/allOf/0"}}, [[], [[]]], True),
    # the root's own $id, absolute or relative
    ({"$id": "https://example.com/schemas/s.json", "$defs": {"n": {"type": "null"}},
      "properties": {"a": {"$ref": "https://example.com/schemas/s.json#/$defs/n"}}},
     {"a": 1}, False),
    ({"$id": "https://example.com/schemas/s.json", "$defs": {"n": {"type": "null"}},
      "properties": {"a": {"$ref": "s.json#/$defs/n"}}}, {"a": None}, True),
    # $ref is not exclusive in 2020-12: its siblings apply as well
    ({"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "minLength": 2}, "a", False),
    ({"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "minLength": 2}, "ab", True),
    # a ref target shared by several places is compiled once and behaves the same
    ({"$defs": {"s": {"type": "string"}},
      "properties": {"a": {"$ref": "#/$defs/s"}, "b": {"$ref": "#/$defs/s"}}},
     {"a": "x", "b": 2}, False),
])
def test_local_refs(schema: Any, instance: Any, expected: bool) -> None:
    check(schema, instance, expected)


# -- fallback -------------------------------------------------------------------------

FALLBACK = [
    ({"properties": {"a": True}, "unevaluatedProperties": False}, {"a": 1}, True,
     "unevaluatedProperties"),
    ({"properties": {"a": True}, "unevaluatedProperties": False}, {"a": 1, "b": 2}, False,
     "unevaluatedProperties"),
    ({"prefixItems": [True], "unevaluatedItems": False}, [1, 2], False, "unevaluatedItems"),
    ({"properties": {"a": {"unevaluatedItems": False}}}, {"a": [1]}, False,
     "unevaluatedItems"),
    ({"$dynamicAnchor": "x", "items": {"$dynamicRef": "#x"}, "type": ["array", "null"]},
     [None, [None]], True, "$dynamicRef"),
    ({"$dynamicAnchor": "x", "items": {"$dynamicRef": "#x"}, "type": ["array", "null"]},
     [1], False, "$dynamicRef"),
    ({"$defs": {"n": {"$anchor": "nul", "type": "null"}}, "$ref": "#nul"}, 1, False,
     "anchor"),
    ({"$defs": {"n": {"$anchor": "nul", "type": "null"}}, "$ref": "#nul"}, None, True,
     "anchor"),
    ({"$id": "https://example.com/root.json",
      "$defs": {"n": {"$id": "https://example.com/n.json", "type": "null"}},
      "$ref": "n.json"}, None, True, "not local"),
    ({"$id": "https://example.com/root.json",
      "$defs": {"n": {"$id": "other.json", "type": "null"}},
      "$ref": "#/$defs/n"}, 1, False, "$id"),
    # a remote ref jsonschema resolves from its bundled metaschemas
    ({"$ref": "https://json-schema.org/draft/2020-12/schema"}, {"type": "string"}, True,
     "not local"),
    ({"$ref": "https://json-schema.org/draft/2020-12/schema"}, {"type": 12}, False,
     "not local"),
    ({"$vocabulary": {"https://json-schema.org/draft/2020-12/vocab/core": True},
      "type": "null"}, 1, False, "$vocabulary"),
    # (?i) in the middle of the joined patterns is an error in Python 3.11
    ({"patternProperties": {"^a": True, "(?i)^b": True}}, {"a": 1}, True, "joined"),
]


@pytest.mark.parametrize(("schema", "instance", "expected", "reason"), FALLBACK,
                         ids=[f[3] + "-" + str(i) for i, f in enumerate(FALLBACK)])
def test_fallback(schema: Any, instance: Any, expected: bool, reason: str) -> None:
    check(schema, instance, expected, compiled=False)
    compiled = compile_schema(schema)
    assert compiled.fallback_reason is not None
    assert reason in compiled.fallback_reason
    assert "fallback" in repr(compiled)


@pytest.mark.parametrize(("schema", "message"), [
    ({"$ref": "#/$defs/missing"}, "$ref '#/$defs/missing' points to nothing"),
    ({"properties": {"a": {"$ref": "#/properties/b"}}},
     "$ref '#/properties/b' points to nothing"),
    ({"anyOf": [{"type": "string"}, {"$ref": "#/anyOf/7"}]}, "$ref '#/anyOf/7' points to nothing"),
    ({"required": ["a"], "items": {"$ref": "#/required"}}, "a $ref points to ['a']"),
    ({"$ref": "#/$defs/a/b"}, "$ref '#/$defs/a/b' points to nothing"),
])
def test_broken_local_ref_is_fatal(schema: Any, message: str) -> None:
    Draft202012Validator.check_schema(schema)  # the metaschema has nothing against it
    with pytest.raises(FatalError) as caught:
        compile_schema(schema)
    assert message in caught.value.message
    assert caught.value.hint


def test_jsonschema_fails_late_on_broken_refs() -> None:
    """Why a broken ref is refused at compile time: jsonschema accepts the schema and
    fails on the first document that reaches the reference."""
    with pytest.raises(referencing.exceptions.Unresolvable):
        Draft202012Validator({"$ref": "#/$defs/missing"}).is_valid(1)
    assert Draft202012Validator({"anyOf": [{"type": "string"}, {"$ref": "#/x"}]}).is_valid("a")
    with pytest.raises(AttributeError):
        Draft202012Validator({"required": ["a"], "items": {"$ref": "#/required"}}).is_valid([1])


def test_unsupported_keyword_in_unused_places_does_not_force_fallback() -> None:
    # $defs nobody references, and an "if" without then/else, are never evaluated
    schema = {"$defs": {"x": {"unevaluatedProperties": False}},
              "if": {"unevaluatedItems": False}, "type": "string"}
    check(schema, "a", True)
    check(schema, 1, False)


def test_compiled_schema_reports_fast_path() -> None:
    compiled = compile_schema({"type": "string"})
    assert compiled.compiled is True
    assert compiled.fallback_reason is None
    assert repr(compiled) == "<CompiledSchema compiled>"


# -- values that are not JSON -----------------------------------------------------------

class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(("schema", "instance"), [
    ({"type": "number", "minimum": 1}, decimal.Decimal("1.5")),
    ({"type": "integer"}, decimal.Decimal("1")),
    ({"enum": [1, 2]}, decimal.Decimal("1")),
    ({"const": [1, 2]}, (1, 2)),
    ({"enum": [[1, 2], "x"]}, [(1, 2)]),
    ({"type": "array"}, (1, 2)),
    ({"minItems": 3}, (1, 2)),
    ({"type": "string"}, datetime.date(2026, 1, 1)),
    ({"not": {"type": "null"}}, datetime.date(2026, 1, 1)),
    ({"enum": ["2026-01-01"]}, datetime.date(2026, 1, 1)),
    ({"type": "object", "required": ["a"], "properties": {"a": {"const": 1}}},
     OrderedDict(a=1)),
    ({"type": "object", "required": ["a"], "properties": {"a": {"const": 1}}},
     OrderedDict(a=2)),
    ({"uniqueItems": True}, [OrderedDict(a=1), {"a": 1}]),
    ({"type": "integer", "enum": [1], "multipleOf": 1}, Color.RED),
    ({"items": {"type": "string", "maxLength": 1}}, ["a", datetime.time(1, 2)]),
])
def test_non_json_values_answer_like_jsonschema(schema: Any, instance: Any) -> None:
    compiled = compile_schema(schema)
    assert compiled.compiled
    assert compiled.is_valid(instance) is Draft202012Validator(schema).is_valid(instance)


def test_non_json_value_answers_literal() -> None:
    # spot checks of the above with the answers jsonschema's isinstance rules give
    assert compile_schema({"type": "number"}).is_valid(decimal.Decimal("1.5")) is True
    assert compile_schema({"type": "array"}).is_valid((1, 2)) is False
    assert compile_schema({"const": [1, 2]}).is_valid((1, 2)) is True
    assert compile_schema({"type": "object", "required": ["a"]}).is_valid(
        OrderedDict(a=1)) is True


# -- the if/const/then switch ------------------------------------------------------------

SWITCH = {
    "allOf": [
        {"description": "PL",
         "if": {"required": ["market"], "properties": {"market": {"const": "PL"}}},
         "then": {"properties": {"currency": {"const": "PLN"}}}},
        {"if": {"required": ["market"], "properties": {"market": {"const": "DE"}}},
         "then": {"properties": {"currency": {"const": "EUR"}}}},
        {"if": {"required": ["market"], "properties": {"market": {"const": "DE"}}},
         "then": {"required": ["vat"]}},
        {"if": {"required": ["channel"], "properties": {"channel": {"const": "allegro"}}},
         "then": {"properties": {"market": {"const": "PL"}}}},
        {"if": {"properties": {"market": {"const": "CZ"}}},  # not required: matches absent
         "then": {"required": ["cz"]}},
    ],
}


@pytest.mark.parametrize(("instance", "expected"), [
    ({"market": "PL", "currency": "PLN", "cz": 1}, True),
    ({"market": "PL", "currency": "EUR", "cz": 1}, False),
    ({"market": "DE", "currency": "EUR", "vat": "x", "cz": 1}, True),
    ({"market": "DE", "currency": "EUR", "cz": 1}, False),     # both DE blocks apply
    ({"market": "DE", "currency": "PLN", "vat": "x", "cz": 1}, False),
    ({"market": "FR", "currency": "any", "cz": 1}, True),      # no case matches
    ({"market": ["PL"], "currency": "EUR", "cz": 1}, True),    # not a string: no case
    ({"market": None, "currency": "EUR", "cz": 1}, True),
    ({"currency": "EUR", "cz": 1}, True),                      # key absent
    ({"currency": "EUR"}, False),                              # the CZ block: absent matches
    ({"channel": "allegro", "market": "DE", "currency": "EUR", "vat": 1, "cz": 1}, False),
    ("a string", True),  # every condition holds for a non-object, every then too
    (5, True),
])
def test_if_const_then_switch(instance: Any, expected: bool) -> None:
    check(SWITCH, instance, expected)


def test_switch_applies_every_then_to_non_objects() -> None:
    schema = {"allOf": [
        {"if": {"required": ["k"], "properties": {"k": {"const": "a"}}},
         "then": {"type": "object"}},
        {"if": {"required": ["k"], "properties": {"k": {"const": "b"}}},
         "then": True},
    ]}
    check(schema, "text", False)
    check(schema, {"k": "b"}, True)


# -- invalid schemas --------------------------------------------------------------------

@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "strin"}, "'strin' is not valid under any of the given schemas"),
    ({"minLength": -1}, "-1 is less than the minimum of 0"),
    ({"pattern": "("}, "'(' is not a 'regex'"),
    ({"properties": {"a": {"type": 5}}}, "5 is not valid under any of the given schemas"),
    ({"required": ["a", "a"]}, "has non-unique elements"),
    (5, "5 is not of type 'object', 'boolean'"),
])
def test_invalid_schema_is_fatal(schema: Any, message: str) -> None:
    with pytest.raises(FatalError) as caught:
        compile_schema(schema)
    assert message in caught.value.message
    assert caught.value.message.startswith("not a valid JSON Schema (draft 2020-12): ")
    assert caught.value.hint


def test_invalid_schema_names_the_place() -> None:
    with pytest.raises(FatalError) as caught:
        compile_schema({"properties": {"a": {"type": 5}}})
    assert "(at $.properties.a.type)" in caught.value.message
    assert caught.value.context["schema_path"] == "$.properties.a.type"


# -- errors() -----------------------------------------------------------------------------

def test_errors_are_jsonschema_messages_sorted_by_path() -> None:
    schema = compile_schema({
        "type": "object",
        "required": ["id", "lines"],
        "properties": {
            "lines": {"type": "array", "items": {"type": "object",
                                                 "properties": {"qty": {"minimum": 1}}}},
            "name": {"type": "string"},
        },
    })
    doc = {"name": 5, "lines": [{"qty": 1}, {"qty": 0}, {"qty": -1}]}
    assert schema.is_valid(doc) is False
    assert schema.errors(doc) == [
        "/: 'id' is a required property",
        "/lines/1/qty: 0 is less than the minimum of 1",
        "/lines/2/qty: -1 is less than the minimum of 1",
        "/name: 5 is not of type 'string'",
    ]


def test_errors_sort_mixed_index_and_name_paths() -> None:
    schema = compile_schema({"anyOf": [{"type": "array", "items": {"type": "string"}},
                                       {"type": "object"}],
                             "items": {"maxLength": 1}})
    doc = ["ab", 1]
    assert schema.is_valid(doc) is False
    lines = schema.errors(doc)
    assert lines[0].startswith("/: ")
    assert lines[1:] == ["/0: 'ab' is too long"]


def test_errors_empty_for_valid_document() -> None:
    assert compile_schema({"type": "string"}).errors("ok") == []


def test_errors_of_fallback_schema() -> None:
    schema = compile_schema({"properties": {"a": True}, "unevaluatedProperties": False})
    assert schema.compiled is False
    assert schema.errors({"a": 1, "b": 2}) == [
        "/: Unevaluated properties are not allowed ('b' was unexpected)"]


# -- the documented difference ----------------------------------------------------------

def test_documented_difference_unique_items() -> None:
    """jsonschema 4.26 sorts the items and compares neighbours; Python sorts ``[1]``
    and ``[True]`` as equal, so ``[[1], [True], [1]]`` keeps the two ``[1]`` apart and
    passes. JSON equality says they are duplicates: the compiled schema rejects it.
    When this test fails on the jsonschema line, jsonschema has fixed it: drop the
    difference from the docstring of ``integrator.mapping.schemas``."""
    schema = {"uniqueItems": True}
    for duplicated in ([[1], [True], [1]], [[{"a": 0}], [{"a": False}], [{"a": 0}]]):
        assert Draft202012Validator(schema).is_valid(duplicated) is True  # jsonschema
        compiled = compile_schema(schema)
        assert compiled.is_valid(duplicated) is False
        assert compiled.errors(duplicated) == [
            "/: the compiled validator rejects the document but jsonschema reports no "
            "error; the one known case is uniqueItems over arrays or objects whose items "
            "differ only by true/false against 1/0 (jsonschema misses duplicates such as "
            "[[1], [true], [1]])"]


# -- the shop order example ---------------------------------------------------------------

@pytest.fixture(scope="module")
def shop_order() -> tuple[dict[str, Any], CompiledSchema]:
    schema = json.loads(SHOP_ORDER.read_text(encoding="utf-8"))
    return schema, compile_schema(schema)


@pytest.fixture(scope="module")
def orders() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ORDERS.read_text(encoding="utf-8").splitlines()]


def test_every_example_order_is_valid_on_the_fast_path(
        shop_order: tuple[dict[str, Any], CompiledSchema],
        orders: list[dict[str, Any]]) -> None:
    _, compiled = shop_order
    assert compiled.compiled is True
    assert len(orders) == 1200
    invalid = [o["id"] for o in orders if not compiled.is_valid(o)]
    assert invalid == []


def _first(orders: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    for order in orders:
        if all(order.get(k) == v for k, v in where.items()):
            return copy.deepcopy(order)
    raise AssertionError(f"no example order with {where}")


MUTATIONS: list[tuple[str, Any]] = [
    ("PL order in euros", lambda o: o.update(currency="EUR")),
    ("Polish postcode without dash",
     lambda o: o["shipping_address"].update(zip=o["shipping_address"]["zip"].replace("-", ""))),
    ("unknown top-level field", lambda o: o.update(discount="5.00")),
    ("missing customer", lambda o: o.pop("customer")),
    ("allegro outside Poland", lambda o: o.update(channel="allegro", market="DE",
                                                   currency="EUR", tax_rate=0.19)),
    ("b2b without VAT number", lambda o: o.update(type="b2b")),
    ("tax rate as text", lambda o: o.update(tax_rate="0.23")),
    ("quantity zero", lambda o: o["line_items"][0].update(quantity=0)),
    ("quantity true", lambda o: o["line_items"][0].update(quantity=True)),
    ("no line items", lambda o: o.update(line_items=[])),
    ("price with one decimal", lambda o: o["shipping"].update(price="12.5")),
    ("upper-case e-mail",
     lambda o: o["customer"].update(email=o["customer"]["email"].upper())),
    ("id as float 1.5", lambda o: o.update(id=1.5)),
]


@pytest.mark.parametrize(("label", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutated_orders_are_rejected_like_jsonschema(
        shop_order: tuple[dict[str, Any], CompiledSchema], orders: list[dict[str, Any]],
        label: str, mutate: Any) -> None:
    schema, compiled = shop_order
    order = _first(orders, market="PL", channel="shopify", type="b2c")
    assert compiled.is_valid(order) is True
    mutate(order)
    assert Draft202012Validator(schema).is_valid(order) is False
    assert compiled.is_valid(order) is False
    assert compiled.errors(order)  # jsonschema explains every one of these


def test_mutation_that_keeps_the_order_valid(
        shop_order: tuple[dict[str, Any], CompiledSchema],
        orders: list[dict[str, Any]]) -> None:
    _, compiled = shop_order
    order = _first(orders, market="PL", channel="shopify", type="b2c")
    order["id"] = float(order["id"])  # an integral float is an integer
    order["note"] = "Zostawić u sąsiada 😀"
    assert compiled.is_valid(order) is True
