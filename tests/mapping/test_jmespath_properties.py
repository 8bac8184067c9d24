"""Property tests: the compiler against jmespath-python on generated expressions and data.

Expressions come from a small grammar (fields, indexes, slices, projections, filters with
comparators, multi-selects, pipes, functions with expression references, backtick and
raw literals, ``&&`` / ``||`` / ``!``); documents are JSON values over the same keys so
the expressions find data. Results must be equal as JSON, and errors must agree in kind.

The reference is ``jmespath.search`` with the few corrections the package docstring of
``integrator.mapping.jmespath`` documents, applied through the library's own extension
points (a ``TreeInterpreter`` subclass and custom functions). Each correction replaces a
Python quirk that leaks through jmespath-python (``[1] == [true]`` is true there, ``'a' <
`1``` raises ``TypeError``, ...); ``test_documented_differences`` pins every one of them
against the unmodified library, so the day the library changes, that test says so.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jmespath import exceptions as jp_errors
from jmespath import functions as jp_functions
from jmespath.visitor import Options, TreeInterpreter

from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.mapping.jmespath import compile_expression, is_truthy

KEYS = ["a", "b", "c", "d"]
STRINGS = ["", "a", "b", "ab", "ba", "1", "2.5", "-3", "x y", "é", "1e2"]

# -- the reference --------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """A hashable form in which equality is JSON equality (true != 1, 1 == 1.0)."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("array", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def strict_equal(left: Any, right: Any) -> bool:
    return bool(canonical(left) == canonical(right))


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def compare(left: Any, right: Any) -> bool | None:
        if isinstance(left, str) != isinstance(right, str):
            return None  # jmespath-python raises TypeError here
        return op(left, right)

    return compare


class SpecInterpreter(TreeInterpreter):
    """jmespath-python with JSON equality and null for string-vs-number ordering."""

    COMPARATOR_FUNC = {
        "eq": strict_equal,
        "ne": lambda left, right: not strict_equal(left, right),
        "lt": _ordering(operator.lt),
        "lte": _ordering(operator.le),
        "gt": _ordering(operator.gt),
        "gte": _ordering(operator.ge),
    }


class SpecFunctions(jp_functions.Functions):
    """jmespath-python's functions with the documented corrections."""

    @jp_functions.signature({"types": ["array", "string"]}, {"types": []})
    def _func_contains(self, subject: Any, search: Any) -> bool:
        if isinstance(subject, str):
            return isinstance(search, str) and search in subject
        return any(strict_equal(item, search) for item in subject)

    @jp_functions.signature({"types": []})
    def _func_to_string(self, arg: Any) -> str:
        if isinstance(arg, str):
            return arg
        return json.dumps(arg, separators=(",", ":"), ensure_ascii=False)

    @jp_functions.signature({"types": []})
    def _func_to_number(self, arg: Any) -> Any:
        number = super()._func_to_number(arg)
        if isinstance(number, float) and not math.isfinite(number):
            return None
        return number

    @jp_functions.signature({"types": ["object"], "variadic": True})
    def _func_merge(self, *objects: Any) -> Any:
        for obj in objects:  # the library checks only the first argument's type
            if not isinstance(obj, dict):
                raise jp_errors.JMESPathTypeError("merge", obj, type(obj).__name__, ["object"])
        return super()._func_merge(*objects)

    def _same_key_types(self, array: list[Any], expref: Any, name: str) -> None:
        keys = [expref.visit(expref.expression, item) for item in array]
        if any(isinstance(k, str) for k in keys) and not all(isinstance(k, str) for k in keys):
            raise jp_errors.JMESPathTypeError(name, keys, "mixed", ["number", "string"])

    @jp_functions.signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_min_by(self, array: list[Any], expref: Any) -> Any:
        self._same_key_types(array, expref, "min_by")
        return super()._func_min_by(array, expref)

    @jp_functions.signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_max_by(self, array: list[Any], expref: Any) -> Any:
        self._same_key_types(array, expref, "max_by")
        return super()._func_max_by(array, expref)


def reference(expression: str, data: Any) -> tuple[str, Any]:
    """("value", result) or ("error", kind) from the corrected jmespath-python."""
    try:
        parsed = jmespath.compile(expression).parsed
        interpreter = SpecInterpreter(Options(custom_functions=SpecFunctions()))
        return "value", interpreter.visit(parsed, data)
    except jp_errors.ArityError:
        return "error", "invalid-arity"
    except (jp_errors.ParseError, jp_errors.EmptyExpressionError):
        return "error", "syntax"
    except jp_errors.UnknownFunctionError:
        return "error", "unknown-function"
    except jp_errors.JMESPathTypeError:
        return "error", "invalid-type"
    except ValueError as exc:
        if "slice step cannot be zero" in str(exc):
            return "error", "invalid-value"
        raise


def ours(expression: str, data: Any) -> tuple[str, Any]:
    try:
        return "value", compile_expression(expression).search(data)
    except (ExpressionSyntaxError, ExpressionError) as exc:
        return "error", exc.kind


def assert_agree(expression: str, data: Any) -> None:
    expected = reference(expression, data)
    actual = ours(expression, data)
    assert actual[0] == expected[0], f"{expression!r} on {data!r}: {actual} vs {expected}"
    if actual[0] == "error":
        assert actual[1] == expected[1], f"{expression!r} on {data!r}"
    else:
        assert strict_equal(actual[1], expected[1]), (
            f"{expression!r} on {data!r}: ours {actual[1]!r}, reference {expected[1]!r}"
        )


# -- generators -----------------------------------------------------------------------

key_names = st.sampled_from(KEYS)
identifiers = st.one_of(key_names, key_names.map(json.dumps))  # plain and "quoted"
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -1.5, 2.5]),
    st.sampled_from(STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(key_names, inner, max_size=4)
    ),
    max_leaves=16,
)


def _raw_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


literals = st.one_of(
    json_values.map(lambda v: "`" + json.dumps(v).replace("`", "\\`") + "`"),
    st.sampled_from(STRINGS).map(_raw_string),
)
slices = st.tuples(
    st.sampled_from(["", "-3", "-1", "0", "1", "2", "5"]),
    st.sampled_from(["", "-2", "0", "1", "3"]),
    st.sampled_from(["", ":", ":1", ":2", ":-1", ":-2"]),
).map(lambda parts: f"[{parts[0]}:{parts[1]}{parts[2]}]")
comparators = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])

# name -> parameters; "x" is any expression, "&" an expression reference, "*" repeats.
FUNCTION_SHAPES: dict[str, tuple[str, ...]] = {
    "abs": ("x",),
    "avg": ("x",),
    "ceil": ("x",),
    "contains": ("x", "x"),
    "ends_with": ("x", "x"),
    "floor": ("x",),
    "join": ("x", "x"),
    "keys": ("x",),
    "length": ("x",),
    "map": ("&", "x"),
    "max": ("x",),
    "max_by": ("x", "&"),
    "merge": ("x", "*"),
    "min": ("x",),
    "min_by": ("x", "&"),
    "not_null": ("x", "*"),
    "reverse": ("x",),
    "sort": ("x",),
    "sort_by": ("x", "&"),
    "starts_with": ("x", "x"),
    "sum": ("x",),
    "to_array": ("x",),
    "to_number": ("x",),
    "to_string": ("x",),
    "type": ("x",),
    "values": ("x",),
}


def _call(draw: st.DrawFn, depth: int) -> str:
    name = draw(st.sampled_from(sorted(FUNCTION_SHAPES)))
    args: list[str] = []
    for param in FUNCTION_SHAPES[name]:
        if param == "x":
            args.append(draw(expressions(depth - 1)))
        elif param == "&":
            args.append(f"&({draw(expressions(depth - 1))})")
        else:
            args.extend(draw(st.lists(expressions(depth - 1), max_size=2)))
    return f"{name}({', '.join(args)})"


def _condition(draw: st.DrawFn, depth: int) -> str:
    shape = draw(st.integers(0, 4))
    if shape == 0:
        literal = "`" + json.dumps(draw(json_scalars)) + "`"
        return f"{draw(identifiers)} {draw(comparators)} {literal}"
    if shape == 1:
        return f"{draw(identifiers)} {draw(comparators)} {draw(identifiers)}"
    if shape == 2:
        left, right = draw(expressions(depth - 1)), draw(expressions(depth - 1))
        return f"({left}) {draw(comparators)} ({right})"
    if shape == 3:
        return f"!({draw(expressions(depth - 1))})"
    first, second = _condition(draw, depth - 1), _condition(draw, depth - 1)
    return f"({first}) {draw(st.sampled_from(['&&', '||']))} ({second})"


def _projection_rhs(draw: st.DrawFn, depth: int) -> str:
    shape = draw(st.integers(0, 7))
    if shape == 0:
        return ""
    if shape == 1:
        return "." + ".".join(draw(st.lists(identifiers, min_size=1, max_size=2)))
    if shape == 2:
        return f"[{draw(st.integers(-2, 2))}]"
    if shape == 3:
        items = draw(st.lists(expressions(depth - 1), min_size=1, max_size=3))
        return ".[" + ", ".join(f"({item})" for item in items) + "]"
    if shape == 4:
        return f".{{{draw(key_names)}: ({draw(expressions(depth - 1))})}}"
    if shape == 5:
        return f"[?{_condition(draw, depth)}]"
    return str(draw(st.sampled_from(["[]", "[*]", ".*", ".length(@)", ".to_string(@)"])))


@st.composite
def expressions(draw: st.DrawFn, depth: int = 4) -> str:
    """An expression of the grammar, nested at most ``depth`` levels."""
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        leaf = draw(st.integers(0, 4))
        if leaf == 0:
            return str(draw(identifiers))
        if leaf == 1:
            return "@"
        if leaf == 2:
            return str(draw(literals))
        return f"{draw(key_names)}{draw(st.sampled_from(['[*].', '.']))}{draw(identifiers)}"
    operand = f"({draw(expressions(depth - 1))})"
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return f"{operand}.{draw(identifiers)}"
    if shape == 1:
        return f"{operand}[{draw(st.integers(-4, 4))}]"
    if shape == 2:
        return f"{operand}{draw(slices)}{_projection_rhs(draw, depth)}"
    if shape == 3:
        star = draw(st.sampled_from(["[*]", "[]", ".*"]))
        return f"{operand}{star}{_projection_rhs(draw, depth)}"
    if shape == 4:
        return f"{operand}[?{_condition(draw, depth)}]{_projection_rhs(draw, depth)}"
    if shape == 5:
        return _condition(draw, depth)
    if shape == 6:
        joiner = draw(st.sampled_from(["&&", "||", "|"]))
        return f"{operand} {joiner} ({draw(expressions(depth - 1))})"
    if shape == 7:
        items = draw(st.lists(expressions(depth - 1), min_size=1, max_size=3))
        if draw(st.booleans()):
            return "[" + ", ".join(items) + "]"
        keys = draw(st.lists(key_names, min_size=len(items), max_size=len(items), unique=True))
        return "{" + ", ".join(f"{k}: ({e})" for k, e in zip(keys, items, strict=True)) + "}"
    return _call(draw, depth)


records = st.lists(st.dictionaries(key_names, json_values, max_size=4), max_size=4)
documents = st.one_of(
    st.dictionaries(key_names, st.one_of(json_values, records), max_size=4),
    json_values,
)

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SHAPE_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=100)


@PROPERTY_SETTINGS
@given(expressions(), documents)
def test_compiled_agrees_with_reference(expression: str, data: Any) -> None:
    assert_agree(expression, data)


@SHAPE_SETTINGS
@given(st.lists(identifiers, min_size=1, max_size=5), documents)
def test_field_chains_agree_and_report_their_path(keys: list[str], data: Any) -> None:
    expression = ".".join(keys)
    compiled = compile_expression(expression)
    assert compiled.field_path == tuple(json.loads(k) if k.startswith('"') else k for k in keys)
    assert strict_equal(compiled.search(data), jmespath.search(expression, data))


@SHAPE_SETTINGS
@given(st.lists(identifiers, min_size=1, max_size=3), json_values, documents, st.booleans())
def test_equality_shape_matches_its_evaluation(
    keys: list[str], constant: Any, data: Any, literal_first: bool
) -> None:
    chain = ".".join(keys)
    literal = "`" + json.dumps(constant) + "`"
    expression = f"{literal} == {chain}" if literal_first else f"{chain} == {literal}"
    compiled = compile_expression(expression)
    assert compiled.equality is not None
    path, value = compiled.equality
    assert strict_equal(value, constant)
    walked: Any = data
    for key in path:
        walked = walked.get(key) if isinstance(walked, dict) else None
    assert compiled.search(data) is strict_equal(walked, constant)
    assert_agree(expression, data)


@SHAPE_SETTINGS
@given(json_values)
def test_truthiness_matches_reference(value: Any) -> None:
    assert is_truthy(value) is TreeInterpreter()._is_true(value)
    assert ours("!@", value) == ("value", not is_truthy(value))


# -- the corrections, pinned against the unmodified library ---------------------------


@pytest.mark.parametrize(
    ("expression", "data", "library", "ours_expected"),
    [
        ("a == b", {"a": [1], "b": [True]}, ("value", True), ("value", False)),
        ("contains(a, `true`)", {"a": [1]}, ("value", True), ("value", False)),
        ("a < b", {"a": "x", "b": 1}, ("raises", TypeError), ("value", None)),
        ("contains('abc', `1`)", {}, ("raises", TypeError), ("value", False)),
        ("min_by(a, &@)", {"a": [1, "x"]}, ("raises", TypeError), ("error", "invalid-type")),
        ("to_string(a)", {"a": ["é"]}, ("value", '["\\u00e9"]'), ("value", '["é"]')),
        ("to_number('nan')", {}, ("nan", None), ("value", None)),
        ("merge(@, a)", {}, ("raises", TypeError), ("error", "invalid-type")),
    ],
)
def test_documented_differences(
    expression: str, data: Any, library: tuple[str, Any], ours_expected: tuple[str, Any]
) -> None:
    if library[0] == "raises":
        with pytest.raises(library[1]):
            jmespath.search(expression, data)
    elif library[0] == "nan":
        assert math.isnan(jmespath.search(expression, data))
    else:
        assert jmespath.search(expression, data) == library[1]
    outcome = ours(expression, data)
    assert outcome[0] == ours_expected[0]
    assert strict_equal(outcome[1], ours_expected[1]) or outcome[1] == ours_expected[1]
    # The corrected reference used by the properties agrees with us on each one.
    assert_agree(expression, data)
