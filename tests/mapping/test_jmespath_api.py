"""The public API of integrator.mapping.jmespath: shapes, errors, semantics, isolation."""

from __future__ import annotations

import datetime
import pickle
import warnings
from collections import OrderedDict
from typing import Any

import jmespath
import pytest
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

import integrator.mapping.jmespath as package
from integrator.errors import ExpressionError, ExpressionSyntaxError
from integrator.mapping.jmespath import (
    FUNCTION_NAMES,
    Expression,
    compile_expression,
    is_truthy,
)
from integrator.mapping.jmespath.closures import interpreted
from integrator.mapping.jmespath.compiler import compile_tree


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(package) if not name.startswith("_")}
    modules = {name for name in public if type(vars(package)[name]).__name__ == "module"}
    assert set(package.__all__) == public - modules - {"annotations"}


# -- shapes the flow compiler uses ----------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "path"),
    [
        ("customer", ("customer",)),
        ("customer.email", ("customer", "email")),
        ('"first name".x', ("first name", "x")),
        ("a.b.c.d", ("a", "b", "c", "d")),
        ("a | b.c", ("a", "b", "c")),
        ("@.a", ("a",)),
        ("@", None),
        ("a[0]", None),
        ("a.b[0].c", None),
        ("a[*].b", None),
        ("length(a)", None),
        ("a || b", None),
        ("`1`", None),
    ],
)
def test_field_path(expression: str, path: tuple[str, ...] | None) -> None:
    assert compile_expression(expression).field_path == path


def test_field_chain_walks_objects_only() -> None:
    chain = compile_expression("customer.address.city")
    assert chain.search({"customer": {"address": {"city": "Oslo"}}}) == "Oslo"
    assert chain.search({"customer": {"address": "Oslo"}}) is None
    assert chain.search({"customer": [{"address": {"city": "Oslo"}}]}) is None
    assert chain.search({"customer": None}) is None
    assert chain.search("text") is None
    assert chain.search(None) is None
    nested = OrderedDict(customer=OrderedDict(address={"city": "Bergen"}))
    assert chain.search(nested) == "Bergen"


@pytest.mark.parametrize(
    ("expression", "equality"),
    [
        ("status == 'paid'", (("status",), "paid")),
        ("'paid' == status", (("status",), "paid")),
        ("order.total == `10`", (("order", "total"), 10)),
        ("`true` == flags.vip", (("flags", "vip"), True)),
        ("a == `null`", (("a",), None)),
        ("a == `[1, 2]`", (("a",), [1, 2])),
        ("a != `1`", None),
        ("a == b", None),
        ("a[0] == `1`", None),
        ("`1` == `1`", None),
        ("a == `1` && b == `2`", None),
        ("length(a) == `1`", None),
    ],
)
def test_equality(expression: str, equality: Any) -> None:
    assert compile_expression(expression).equality == equality


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"n": 1}, True),
        ({"n": 1.0}, True),
        ({"n": True}, False),
        ({"n": "1"}, False),
        ({"n": [1]}, False),
        ({}, False),
    ],
)
def test_equality_is_json_equality(data: Any, expected: bool) -> None:
    assert compile_expression("n == `1`").search(data) is expected
    assert compile_expression("`1` == n").search(data) is expected
    assert compile_expression("n != `1`").search(data) is (not expected)


@pytest.mark.parametrize(
    ("expression", "literal"),
    [
        ("`1`", (True, 1)),
        ("'text'", (True, "text")),
        ("`null`", (True, None)),
        ('`{"a": [1, 2]}`', (True, {"a": [1, 2]})),
        ("a", (False, None)),
        ("[`1`]", (False, None)),
    ],
)
def test_literal(expression: str, literal: tuple[bool, Any]) -> None:
    assert compile_expression(expression).literal == literal


def test_results_never_alias_the_compiled_expression() -> None:
    constant = compile_expression('`{"a": [1, 2]}`')
    first = constant.search(None)
    first["a"].append(3)
    assert constant.search(None) == {"a": [1, 2]}
    constant.literal[1]["a"].clear()
    assert constant.literal == (True, {"a": [1, 2]})
    route = compile_expression("tags == `[1]`")
    route.equality[1].append(2)  # type: ignore[index]
    assert route.search({"tags": [1]}) is True
    # The library's parse cache holds the same tree: it must be unchanged too.
    assert jmespath.search('`{"a": [1, 2]}`', None) == {"a": [1, 2]}


def test_expression_is_immutable_hashable_and_picklable() -> None:
    expression = compile_expression("a.b")
    with pytest.raises(AttributeError):
        expression.source = "c"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del expression.field_path
    assert expression == compile_expression("a.b")
    assert len({expression, compile_expression("a.b"), compile_expression("a.c")}) == 2
    restored = pickle.loads(pickle.dumps(expression))
    assert isinstance(restored, Expression)
    assert restored.search({"a": {"b": 5}}) == 5
    assert repr(expression) == "Expression('a.b')"


# -- compile-time errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "position", "fragments"),
    [
        ("foo.[", 5, ["expected more", "end of the expression"]),
        ("foo[0", 5, ["expected more"]),
        ("foo = 1", 4, ["single '='"]),
        ("a.{b:c}.5", 8, ["expected", "'{'", "found a number 5"]),
        ("a ]", 2, ["complete before ']'"]),
        ("foo[1:2:3:4]", 9, ["slice", "found ':'"]),
        ("`[1, 2`", 0, ["not valid JSON"]),
        ("a ^ b", 2, ["'^'"]),
        ("", 0, ["empty"]),
    ],
)
def test_syntax_errors_have_kind_position_and_reason(
    expression: str, position: int, fragments: list[str]
) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    error = caught.value
    assert error.kind == "syntax"
    assert error.position == position
    assert error.expression == expression
    for fragment in fragments:
        assert fragment in error.message


def test_syntax_hints() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("status = 'paid'")
    assert caught.value.hint is not None and "==" in caught.value.hint
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("items[?price > `10`")
    assert caught.value.hint == "a '[' is not closed with ']'"


def test_unknown_function_suggests_the_closest_name() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("items | lenght(@)")
    error = caught.value
    assert error.kind == "unknown-function"
    assert error.position == 8
    assert error.hint == "did you mean 'length'?"
    assert "lenght()" in error.message


def test_unknown_function_without_a_close_name_lists_the_functions() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("unknown_fn(@)")
    assert caught.value.kind == "unknown-function"
    assert caught.value.position == 0
    assert caught.value.hint is not None
    assert "not_null" in caught.value.hint and "to_string" in caught.value.hint


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("length(a, b)", "takes exactly 1 argument, got 2"),
        ("a || length(a, b)", "takes exactly 1 argument, got 2"),  # even if never reached
        ("not_null()", "takes at least 1 argument, got 0"),
        ("merge()", "takes at least 1 argument, got 0"),
        ("sort_by(a)", "takes exactly 2 arguments, got 1"),
    ],
)
def test_arity_is_checked_at_compile_time(expression: str, fragment: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(expression)
    assert caught.value.kind == "invalid-arity"
    assert fragment in caught.value.message
    assert caught.value.hint is not None and "signature" in caught.value.hint


def test_zero_slice_step_is_an_invalid_value_at_compile_time() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("items[::0]")
    assert caught.value.kind == "invalid-value"
    assert caught.value.position == 7


def test_expression_reference_outside_a_function_is_rejected() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("&price")
    assert caught.value.kind == "syntax"
    assert "outside a function call" in caught.value.message


def test_non_string_expression_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(5)  # type: ignore[arg-type]
    assert "must be a string" in caught.value.message


@pytest.mark.parametrize("action", ["ignore", "error"])
def test_legacy_backtick_text_is_rejected_whatever_the_warning_filter(action: str) -> None:
    # jmespath-python reads `paid` as the string "paid" and only warns (JEP-12 legacy);
    # a mistyped literal must not silently become text.
    text = f"status == `paid {action}` || `1`"
    with warnings.catch_warnings():
        warnings.simplefilter(action, PendingDeprecationWarning)
        with pytest.raises(ExpressionSyntaxError) as caught:
            compile_expression(text)
        assert compile_expression('status == `"paid"`').search({"status": "paid"}) is True
    assert caught.value.kind == "syntax"
    assert caught.value.position == 10
    assert "raw string" in (caught.value.hint or "")


# -- evaluation errors -----------------------------------------------------------------


def test_type_errors_surface_at_evaluation_with_the_source() -> None:
    expression = compile_expression("abs(name)")
    assert expression.search({"name": -2}) == 2
    with pytest.raises(ExpressionError) as caught:
        expression.search({"name": "bob"})
    error = caught.value
    assert error.kind == "invalid-type"
    assert error.expression == "abs(name)"
    assert error.message == (
        "JMESPath expression 'abs(name)': abs() argument 1 must be a number, got string \"bob\""
    )


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        ("not_null(&a)", {}),  # an expression reference where a value is expected
        ("sort_by(a, b)", {"a": [1], "b": "x"}),  # a value where a reference is expected
        ("sort_by(a, &k)", {"a": [{"k": 1}, {"k": "x"}]}),
        ("min_by(a, &k)", {"a": [{"k": 1}, {"k": "x"}]}),
        ("max_by(a, &k)", {"a": [{"k": True}]}),
        ("merge(a, b)", {"a": {}, "b": None}),
        ("sum(a)", {"a": [1, True]}),
        ("max(a)", {"a": [1, "x"]}),
        ("join(',', a)", {"a": ["x", 1]}),
    ],
)
def test_evaluation_type_errors(expression: str, data: Any) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(expression).search(data)
    assert caught.value.kind == "invalid-type"


@pytest.mark.parametrize(
    ("expression", "data", "kind"),
    [
        ("sort(@)", [datetime.date(2024, 1, 1)], "invalid-type"),
        ("to_string(@)", {"when": datetime.date(2024, 1, 1)}, "invalid-type"),
        ("to_string(@)", [float("nan")], "invalid-type"),
        ("a == b", {"a": [[[[1]]]], "b": {1, 2}}, None),
        ("a < b", {"a": datetime.date(2024, 1, 1), "b": 1}, None),
    ],
)
def test_values_that_are_not_json_never_leak_python_errors(
    expression: str, data: Any, kind: str | None
) -> None:
    compiled = compile_expression(expression)
    if kind is None:
        assert compiled.search(data) in (False, None)
        return
    with pytest.raises(ExpressionError) as caught:
        compiled.search(data)
    assert caught.value.kind == kind


def test_deeply_nested_data_is_an_expression_error() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ExpressionError) as caught:
        compile_expression("a == b").search({"a": deep, "b": deep[0]})
    assert caught.value.kind == "invalid-value"


# -- semantics that Python gets wrong by default ----------------------------------------


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (True, True),
        (0, True),
        (0.0, True),
        ("0", True),
        ([None], True),
        ({"a": None}, True),
    ],
)
def test_is_truthy(value: Any, truthy: bool) -> None:
    assert is_truthy(value) is truthy
    assert compile_expression("!@").search(value) is (not truthy)
    assert compile_expression("@ || 'other'").search(value) == (value if truthy else "other")
    assert compile_expression("@ && 'then'").search(value) == ("then" if truthy else value)


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("to_number(v)", {"v": "1.0"}, 1.0),
        ("to_number(v)", {"v": "1"}, 1),
        ("to_number(v)", {"v": " 7 "}, 7),
        ("to_number(v)", {"v": True}, None),
        ("to_number(v)", {"v": "inf"}, None),
        ("sum(v)", {"v": []}, 0),
        ("sum(v)", {"v": [1, 2.5]}, 3.5),
        ("avg(v)", {"v": [1, 2]}, 1.5),
        ("avg(v)", {"v": []}, None),
        ("to_string(v)", {"v": {"a": [1, "é"]}}, '{"a":[1,"é"]}'),
        ("to_string(v)", {"v": "as is"}, "as is"),
        ("ceil(v)", {"v": 1.2}, 2),
        ("floor(v)", {"v": -1.2}, -2),
        ("type(v)", {"v": True}, "boolean"),
        ("type(v)", {"v": 1.5}, "number"),
        ("contains(v, `1`)", {"v": [1.0]}, True),
        ("contains(v, `1`)", {"v": [True]}, False),
        ("contains(v, 'b')", {"v": "abc"}, True),
        ("length(v)", {"v": "héllo"}, 5),
        ("reverse(v)", {"v": "abc"}, "cba"),
        ("`1` == `1.0`", {}, True),
        ("`true` == `1`", {}, False),
        ('`[1, {"a": 2}]` == `[1.0, {"a": 2.0}]`', {}, True),
        ("`[true]` == `[1]`", {}, False),
        ("a < b", {"a": "abc", "b": "abd"}, True),
        ("a < b", {"a": "abc", "b": 1}, None),
        ("a < b", {"a": True, "b": 1}, None),
    ],
)
def test_builtin_semantics(expression: str, data: Any, expected: Any) -> None:
    result = compile_expression(expression).search(data)
    assert result == expected
    assert type(result) is type(expected)


def test_abs_of_a_boolean_is_a_type_error() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("abs(`true`)").search(None)
    assert caught.value.kind == "invalid-type"


def test_sort_by_is_stable() -> None:
    people = [{"age": 30, "n": i} for i in range(6)] + [{"age": 20, "n": 9}]
    result = compile_expression("sort_by(@, &age)[].n").search(people)
    assert result == [9, 0, 1, 2, 3, 4, 5]
    assert compile_expression("max_by(@, &age).n").search(people) == 0
    assert compile_expression("min_by(@, &age).n").search(people) == 9


def test_function_names() -> None:
    builtins = {
        "abs", "avg", "ceil", "contains", "ends_with", "floor", "join", "keys", "length",
        "map", "max", "max_by", "merge", "min", "min_by", "not_null", "reverse", "sort",
        "sort_by", "starts_with", "sum", "to_array", "to_number", "to_string", "type",
        "values",
    }  # fmt: skip
    assert builtins <= FUNCTION_NAMES
    assert isinstance(FUNCTION_NAMES, frozenset)


# -- the per-message path is ours alone -------------------------------------------------


def test_evaluation_never_calls_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        "a.b.c",
        "a[0]",
        "a[-1]",
        "a[1:3]",
        "a[*].b",
        "a[]",
        "o.*",
        "a[?b > `1`].b",
        "[a, o]",
        "{x: a, y: o}",
        "`[1]`",
        "@",
        "a[0].b == `2`",
        "a[0].b < a[1].b",
        "o || a",
        "o && a",
        "!o",
        "a | [0]",
        "sort_by(a, &b)[].b",
        "map(&b, a)",
        "sum(a[].b)",
    ]
    compiled = [compile_expression(text) for text in texts]
    data = {"a": [{"b": 1}, {"b": 2}, {"b": 3}], "o": {"k": "v"}}
    expected = [jmespath.search(text, data) for text in texts]

    def forbidden(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the jmespath library was called at evaluation time")

    monkeypatch.setattr(TreeInterpreter, "visit", forbidden)
    monkeypatch.setattr(ParsedResult, "search", forbidden)
    monkeypatch.setattr(jmespath, "search", forbidden)
    assert [expression.search(data) for expression in compiled] == expected


def test_unknown_node_types_fall_back_to_the_library_interpreter() -> None:
    # ``key_val_pair`` only ever appears inside a multi-select hash, which the compiler
    # handles itself; on its own it stands in for a node type the compiler does not know.
    field = {"type": "field", "value": "a", "children": []}
    tree = {"type": "key_val_pair", "value": "k", "children": [field]}
    assert compile_tree(tree, "k: a").evaluate({"a": 5}) == 5
    with pytest.raises(ExpressionSyntaxError):
        compile_tree({"type": "from_the_future", "children": []}, "?")


def test_fallback_translates_library_errors() -> None:
    call = {
        "type": "function_expression",
        "value": "abs",
        "children": [{"type": "current", "children": []}],
    }
    assert interpreted(call)(-3) == 3
    with pytest.raises(ExpressionError) as caught:
        interpreted(call)("x")
    assert caught.value.kind == "invalid-type"
    unknown = {"type": "function_expression", "value": "nope", "children": []}
    with pytest.raises(ExpressionError) as caught:
        interpreted(unknown)(None)
    assert caught.value.kind == "unknown-function"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "data",
    [
        {"a": 1, "b": "x", "c": None, "d": [1], "e": {"f": 2}},
        OrderedDict(a=1, b=2, c=3, d=4, e=5),
        [{"a": 1}],
        "text",
        None,
        0,
    ],
)
def test_multi_selects_of_every_size_match_the_library(size: int, data: Any) -> None:
    names = "abcde"[:size]
    as_hash = "{" + ", ".join(f"{name}{name}: {name}" for name in names) + "}"
    as_list = "[" + ", ".join(names) + "]"
    mixed = "{" + ", ".join(f"{name}: {name}.f || `0`" for name in names) + "}"
    for text in (as_hash, as_list, mixed, f"[*].{as_hash}", f"[*].{as_list}"):
        assert compile_expression(text).search(data) == jmespath.search(text, data), text
