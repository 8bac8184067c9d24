"""The integration extension functions: exact results, type errors, value errors, arity."""

from __future__ import annotations

from typing import Any

import pytest

from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.mapping.jmespath import FUNCTION_NAMES, compile_expression

EXTENSIONS = {
    "lower",
    "upper",
    "trim",
    "replace",
    "split",
    "add",
    "subtract",
    "multiply",
    "divide",
    "round",
    "coalesce",
    "to_integer",
}


def search(expression: str, data: Any = None) -> Any:
    return compile_expression(expression).search(data)


def assert_same(actual: Any, expected: Any) -> None:
    """Equal, and of the same Python type (so 2 and 2.0, 1 and True are told apart)."""
    assert actual == expected
    assert type(actual) is type(expected), f"{actual!r} is {type(actual).__name__}"


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("lower(s)", {"s": "ÀBc-Straße"}, "àbc-straße"),
        ("upper(s)", {"s": "àbc-straße"}, "ÀBC-STRASSE"),
        ("trim(s)", {"s": " \t a b \n"}, "a b"),
        ("trim(s)", {"s": ""}, ""),
        ("replace(s, '-', '+')", {"s": "a-b--c"}, "a+b++c"),
        ("replace(s, 'x', '')", {"s": "xaxbx"}, "ab"),
        ("replace(s, 'zz', 'y')", {"s": "abc"}, "abc"),
        ("split(s, ',')", {"s": "a,b,,c"}, ["a", "b", "", "c"]),
        ("split(s, ', ')", {"s": "a, b"}, ["a", "b"]),
        ("split(s, ',')", {"s": ""}, [""]),
        ("add(a, b)", {"a": 1, "b": 2}, 3),
        ("add(a, b)", {"a": 0.1, "b": 0.2}, 0.30000000000000004),
        ("add(a, b)", {"a": 1, "b": 2.0}, 3.0),
        ("subtract(a, b)", {"a": 5, "b": 7}, -2),
        ("subtract(a, b)", {"a": 0.5, "b": 0.25}, 0.25),
        ("multiply(a, b)", {"a": 3, "b": 2.5}, 7.5),
        ("multiply(a, b)", {"a": 4, "b": -3}, -12),
        ("divide(a, b)", {"a": 7, "b": 2}, 3.5),
        ("divide(a, b)", {"a": 6, "b": 3}, 2.0),
        ("divide(a, b)", {"a": -1, "b": 4}, -0.25),
        ("round(n, `2`)", {"n": 2.675}, 2.67),  # the float 2.675 is 2.67499999...
        ("round(n, `0`)", {"n": 2.5}, 2.0),  # Python rounds half to even
        ("round(n, `0`)", {"n": 3.5}, 4.0),
        ("round(n, `0`)", {"n": 3}, 3.0),
        ("round(n, `-2`)", {"n": 1250.5}, 1300.0),
        ("round(n, `1.0`)", {"n": 1.25}, 1.2),
        ("coalesce(a, b, 'x')", {"a": None, "b": 0}, 0),
        ("coalesce(a, b, 'x')", {"a": None}, "x"),
        ("coalesce(a, b)", {"a": False, "b": "y"}, False),
        ("to_integer(v)", {"v": "42"}, 42),
        ("to_integer(v)", {"v": "-3.9"}, -3),
        ("to_integer(v)", {"v": "1e3"}, 1000),
        ("to_integer(v)", {"v": 3.9}, 3),
        ("to_integer(v)", {"v": -7}, -7),
        (
            "sum(items[].multiply(to_number(price), qty))",
            {"items": [{"price": "2.5", "qty": 2}, {"price": "10", "qty": 3}]},
            35.0,
        ),
    ],
)
def test_extension_results(expression: str, data: Any, expected: Any) -> None:
    assert_same(search(expression, data), expected)


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        ("coalesce(a, b)", {}),
        ("to_integer(v)", {"v": True}),
        ("to_integer(v)", {"v": "abc"}),
        ("to_integer(v)", {"v": [1]}),
        ("to_integer(v)", {"v": None}),
        ("to_integer(v)", {"v": "nan"}),
    ],
)
def test_extension_null_results(expression: str, data: Any) -> None:
    assert search(expression, data) is None


@pytest.mark.parametrize(
    ("expression", "data", "argument"),
    [
        ("lower(s)", {"s": 1}, 1),
        ("upper(s)", {"s": None}, 1),
        ("trim(s)", {"s": ["a"]}, 1),
        ("replace(s, 'a', `1`)", {"s": "abc"}, 3),
        ("split(s, `1`)", {"s": "a1b"}, 2),
        ("add(a, b)", {"a": "1", "b": 2}, 1),
        ("add(a, b)", {"a": True, "b": 1}, 1),
        ("subtract(a, b)", {"a": 1, "b": None}, 2),
        ("multiply(a, b)", {"a": 1, "b": [2]}, 2),
        ("divide(a, b)", {"a": {}, "b": 2}, 1),
        ("round(n, d)", {"n": "1.5", "d": 0}, 1),
        ("round(n, d)", {"n": 1.5, "d": "0"}, 2),
        ("round(n, d)", {"n": 1.5, "d": False}, 2),
    ],
)
def test_extension_type_errors(expression: str, data: Any, argument: int) -> None:
    compiled = compile_expression(expression)  # types are only known per message
    with pytest.raises(ExpressionError) as caught:
        compiled.search(data)
    assert caught.value.kind == "invalid-type"
    assert caught.value.expression == expression
    assert f"argument {argument} must be" in caught.value.message


def test_number_from_text_gets_a_conversion_hint() -> None:
    with pytest.raises(ExpressionError) as caught:
        search("add(a, `1`)", {"a": "2"})
    assert caught.value.hint is not None
    assert "to_number" in caught.value.hint


@pytest.mark.parametrize(
    ("expression", "data", "fragment"),
    [
        ("divide(a, b)", {"a": 1, "b": 0}, "by zero"),
        ("divide(a, b)", {"a": 1, "b": 0.0}, "by zero"),
        ("divide(a, b)", {"a": 0, "b": 0}, "by zero"),
        ("replace(s, '', '-')", {"s": "abc"}, "empty"),
        ("split(s, '')", {"s": "abc"}, "empty"),
        ("round(n, `0.5`)", {"n": 1.25}, "whole number"),
        ("multiply(a, b)", {"a": 1e308, "b": 10}, "JSON number"),
        ("add(a, b)", {"a": 1.7e308, "b": 1.7e308}, "JSON number"),
        ("divide(a, b)", {"a": 10**400, "b": 3}, "JSON number"),
        ("multiply(a, b)", {"a": 10**400, "b": 1.5}, "JSON number"),
        ("round(n, `2`)", {"n": 10**400}, "JSON number"),
    ],
)
def test_extension_value_errors(expression: str, data: Any, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        search(expression, data)
    assert caught.value.kind == "invalid-value"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    "expression",
    [
        "lower(a, b)",
        "upper()",
        "trim(a, b)",
        "replace(a, b)",
        "split(a)",
        "add(a)",
        "subtract(a, b, c)",
        "multiply()",
        "divide(a)",
        "round(a)",
        "coalesce()",
        "to_integer(a, b)",
    ],
)
def test_extension_arity_is_checked_at_compile_time(expression: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.kind == "invalid-arity"
    assert caught.value.position == 0


def test_extensions_are_listed_and_do_not_shadow_the_specification() -> None:
    assert EXTENSIONS <= FUNCTION_NAMES
    assert len(FUNCTION_NAMES) == 26 + len(EXTENSIONS)


def test_division_by_zero_is_only_raised_when_evaluated() -> None:
    guarded = compile_expression("b != `0` && divide(a, b) || `null`")
    assert guarded.search({"a": 1, "b": 0}) is None
    assert guarded.search({"a": 1, "b": 4}) == 0.25
