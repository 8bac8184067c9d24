"""Behaviour of sandboxed templates: rendering, filters, errors, limits, the sandbox."""

from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import Any

import jinja2
import pytest
from defusedxml import ElementTree
from hypothesis import given
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment

from integrator.errors import ExpressionSyntaxError, TemplateError
from integrator.mapping import templates
from integrator.mapping.templates import (
    FILTERS,
    MAX_OUTPUT,
    Template,
    compile_template,
    template_environment,
)
from integrator.mapping.templates.filters import money

ORDER: dict[str, Any] = {
    "id": 4711,
    "market": "PL",
    "total": 12.5,
    "customer": {"name": "Zoë Nowak", "vat_id": "PL123", "address": {"city": "Kraków"}},
    "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
}


def render(source: str, context: dict[str, Any] | None = None, **options: Any) -> str:
    return compile_template(source, **options).render(ORDER if context is None else context)


def render_error(
    source: str, context: dict[str, Any] | None = None, **options: Any
) -> TemplateError:
    template = compile_template(source, **options)
    with pytest.raises(TemplateError) as info:
        template.render(ORDER if context is None else context)
    return info.value


def syntax_error(source: str, **options: Any) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_template(source, **options)
    return info.value


# -- rendering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("SO-{{ market }}-{{ id }}", "SO-PL-4711"),
        ("out/erp-{{ market | lower }}.jsonl", "out/erp-pl.jsonl"),
        ("{{ customer.address.city | upper }}", "KRAKÓW"),
        ("{{ customer['name'] }}: {{ lines[1].sku }} {{ lines.0.qty }}", "Zoë Nowak: B-2 2"),
        ("{% for l in lines %}{{ l.sku }}x{{ l.qty }};{% endfor %}", "A-1x2;B-2x1;"),
        (
            '{"id": {{ id | tojson }}, "name": {{ customer.name | tojson }}}',
            '{"id": 4711, "name": "Zoë Nowak"}',
        ),
        ("{{ total | money }} {{ customer.vat | default('none') }}", "12.50 none"),
        ("{{ missing | default('-') }}{{ missing | d }}", "-"),
        ("{% raw %}{{ market }}{% endraw %}", "{{ market }}"),
        ("no tags at all", "no tags at all"),
        ("{{ market }}\n", "PL\n"),  # keep_trailing_newline: documents keep their last newline
    ],
)
def test_renders(source: str, expected: str) -> None:
    assert render(source) == expected


def test_context_may_be_any_mapping() -> None:
    proxy = MappingProxyType({"a": {"b": 1}})
    assert compile_template("{{ a.b }}").render(proxy) == "1"
    assert compile_template("{% if a %}{{ a.b }}{% endif %}").render(proxy) == "1"


def test_template_exposes_source_names_and_is_immutable() -> None:
    source = "{% for l in lines %}{{ l.sku }}{{ customer.name }}{% endfor %}{% set t = 1 %}{{ t }}"
    template = compile_template(source + "{{ range(2) | list }}", name="fields.x")
    assert template.source == source + "{{ range(2) | list }}"
    assert template.name == "fields.x"
    assert template.names == frozenset({"lines", "customer"})
    with pytest.raises(AttributeError):
        template.source = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del template.fast  # type: ignore[misc]
    assert isinstance(template, Template)


def test_environment_is_shared_per_configuration_and_strict() -> None:
    text_env = template_environment()
    assert template_environment() is text_env
    xml_env = template_environment(autoescape=True)
    assert xml_env is not text_env
    assert isinstance(text_env, ImmutableSandboxedEnvironment)
    assert issubclass(text_env.undefined, jinja2.StrictUndefined)
    assert text_env.loader is None
    assert (text_env.autoescape, xml_env.autoescape) == (False, True)
    assert {"tojson", "xml_escape", "money"} <= text_env.filters.keys()
    assert "lipsum" not in text_env.globals


# -- XML -------------------------------------------------------------------------------

XML = (
    '<order id="{{ id }}"><name>{{ customer.name }}</name>'
    "<note>{{ note | xml_escape }}</note><json>{{ extra | tojson }}</json></order>"
)


def test_xml_autoescape_escapes_values_once_and_stays_well_formed() -> None:
    context = {
        "id": 'a"b',
        "customer": {"name": "Tom & <Jerry>"},
        "note": "<n>",
        "extra": {"k": "<'>"},
    }
    text = render(XML, context, autoescape=True)
    assert text == (
        '<order id="a&#34;b"><name>Tom &amp; &lt;Jerry&gt;</name>'
        "<note>&lt;n&gt;</note><json>{&#34;k&#34;:&#34;&lt;&#39;&gt;&#34;}</json></order>"
    )
    root = ElementTree.fromstring(text)
    assert root.get("id") == 'a"b'
    assert root.findtext("name") == "Tom & <Jerry>"
    assert root.findtext("note") == "<n>"
    assert root.findtext("json") == '{"k":"<\'>"}'


def test_text_templates_do_not_escape() -> None:
    assert render("{{ v }}", {"v": "Tom & <Jerry>"}) == "Tom & <Jerry>"
    assert render("{{ v | xml_escape }}", {"v": "Tom & <Jerry>"}) == "Tom &amp; &lt;Jerry&gt;"


# -- filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.5, "12.50"),
        (12, "12.00"),
        (-3, "-3.00"),
        (0.1 + 0.2, "0.30"),
        (2.675, "2.68"),  # halves round up on the decimal value shown, not the binary one
        (-2.675, "-2.68"),
        (1.005, "1.01"),
        (-0.001, "0.00"),
        (-0.0, "0.00"),
        (1e16, "10000000000000000.00"),
        ("12.5", "12.50"),
        (" 7 ", "7.00"),
        (Decimal("19.999"), "20.00"),
    ],
)
def test_money(value: Any, expected: str) -> None:
    assert render("{{ v | money }}", {"v": value}) == expected


@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(10**17), 10**17).map(lambda n: n / 100),
        st.integers(-(10**17), 10**17).map(lambda n: n / 1000),
    )
)
def test_money_of_any_float_rounds_the_shown_decimal_half_up(value: float) -> None:
    # the documented rule, spelled out with Decimal: the shortest repr, 2 places, half up
    shown = Decimal(repr(value))
    cents = shown.quantize(Decimal("0.01"), context=Context(prec=400, rounding=ROUND_HALF_UP))
    assert money(value) == f"{abs(cents) if cents.is_zero() else cents:f}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "money needs a number, not None"),
        (True, "money needs a number, not True"),
        ("12,50", "money needs a number, not the text '12,50'"),
        (float("nan"), "money needs a finite number, not NaN"),
        ([1], "money needs a number, not a list value"),
    ],
)
def test_money_refuses_non_numbers(value: Any, message: str) -> None:
    error = render_error("{{ v | money }}", {"v": value})
    assert error.message == f"template `<template>`: {message}"


def test_tojson_is_compact_utf8_and_keeps_key_order() -> None:
    value = {"z": 1, "a": [True, None, 1.5], "name": 'Zoë "q" </x>', "d": Decimal("1.10")}
    assert render("{{ v | tojson }}", {"v": value}) == (
        '{"z":1,"a":[true,null,1.5],"name":"Zoë \\"q\\" </x>","d":1.10}'
    )
    assert render("{{ v | tojson(indent=2) }}", {"v": {"a": 1}}) == '{\n  "a": 1\n}'


def test_tojson_refuses_what_json_cannot_hold() -> None:
    error = render_error("{{ v | tojson }}", {"v": {1, 2}})
    assert error.message == "template `<template>`: Type is not JSON serializable: set"
    error = render_error("{{ v | tojson(indent=4) }}", {"v": 1})
    assert "indent=4" in error.message


def test_filter_list_is_the_documented_three() -> None:
    assert sorted(FILTERS) == ["money", "tojson", "xml_escape"]


# -- render errors ---------------------------------------------------------------------


def test_missing_variable() -> None:
    error = render_error("{{ custmer.name }}")
    assert error.message == "template `<template>`: 'custmer' is undefined"
    assert error.hint is not None
    assert error.hint.startswith("did you mean 'customer'?")
    assert isinstance(error.__cause__, jinja2.UndefinedError)


def test_missing_field_names_the_path() -> None:
    error = render_error("{{ customer.vat }}", name="fields.vat")
    assert error.message == "template `fields.vat`: 'customer' has no field 'vat'"
    assert error.hint is not None
    assert "did you mean 'vat_id'?" in error.hint
    assert "name, vat_id, address" in error.hint
    assert error.context["template"] == "fields.vat"
    assert isinstance(error.__cause__, jinja2.UndefinedError)


def test_missing_field_inside_a_loop_names_the_item() -> None:
    source = "header\n{% for l in lines %}\n{{ l.sku }}{{ l.price }}\n{% endfor %}"
    error = render_error(source)
    assert error.message == "template `<template>`, line 3: 'lines[0]' has no field 'price'"
    assert error.context["line"] == 3


def test_missing_item_and_field_of_a_scalar() -> None:
    assert render_error("{{ lines[5] }}").message == "template `<template>`: 'lines' has no item 5"
    error = render_error("{{ market.code }}")
    assert error.message == "template `<template>`: a str value has no field 'code'"


def test_fast_and_jinja_paths_report_the_same_error() -> None:
    fast = compile_template("{{ customer.vat }}")
    slow = compile_template("{% if true %}{{ customer.vat }}{% endif %}")
    assert (fast.fast, slow.fast) == (True, False)
    errors = []
    for template in (fast, slow):
        with pytest.raises(TemplateError) as info:
            template.render(ORDER)
        errors.append(info.value.message)
    assert errors[0] == errors[1] == "template `<template>`: 'customer' has no field 'vat'"


@pytest.mark.parametrize(
    ("source", "message", "cause"),
    [
        ("{{ 1 / 0 }}", "division by zero", ZeroDivisionError),
        ("{{ 'a' + 1 }}", 'can only concatenate str (not "int") to str', TypeError),
        ("{{ market | round }}", "type str doesn't define __round__ method", TypeError),
        (
            "{{ '{:d}'.format(market) }}",
            "Unknown format code 'd' for object of type 'str'",
            ValueError,
        ),
        ("{{ lines | sort(attribute='x') }}", "'lines[1]' has no field 'x'", jinja2.UndefinedError),
    ],
)
def test_python_and_jinja_errors_are_translated(
    source: str, message: str, cause: type[BaseException]
) -> None:
    error = render_error(source)
    assert error.message == f"template `<template>`: {message}"
    assert isinstance(error.__cause__, cause)


# -- syntax errors ---------------------------------------------------------------------


def test_syntax_error_points_at_the_token() -> None:
    source = "SO-{{ market }-{{ id }}"
    error = syntax_error(source)
    assert error.message == "template `<template>`, line 1: unexpected '}'"
    assert (error.kind, error.expression, error.position) == ("template-syntax", source, 13)
    assert source[error.position] == "}"
    assert error.hint is not None


def test_unknown_filter_on_a_later_line() -> None:
    source = "line1\r\nSO-{{ market | uper }}"
    error = syntax_error(source, name="fields.no")
    assert error.message == "template `fields.no`, line 2: No filter named 'uper'."
    assert error.position == source.index("uper")
    assert error.hint == "did you mean 'upper'?"


def test_unclosed_block_points_at_the_end() -> None:
    source = "{% for l in lines %}\n{{ l }}"
    error = syntax_error(source)
    assert "Unexpected end of template" in error.message
    assert error.position == len(source)


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("a\n{% include 'secret.txt' %}", "{% include %}"),
        ("{% import 'macros' as m %}", "{% import %}"),
        ("{% from 'macros' import m %}", "{% from ... import %}"),
        ("{% extends 'base' %}", "{% extends %}"),
    ],
)
def test_loading_other_templates_is_refused_at_compile_time(source: str, tag: str) -> None:
    error = syntax_error(source)
    line = source.count("\n") + 1
    assert error.message == (
        f"template `<template>`, line {line}: {tag} is not allowed: "
        "templates cannot load other templates or files"
    )
    assert error.position == source.index("{%")
    assert error.kind == "template-syntax"


# -- sandbox and injection -------------------------------------------------------------


@pytest.mark.parametrize("autoescape", [False, True])
@pytest.mark.parametrize(
    "source", ["{{ v }}", "{{ v | upper }}", "{% if true %}{{ v }}{% endif %}", "{{ v ~ '' }}"]
)
def test_data_is_never_parsed_as_a_template(source: str, autoescape: bool) -> None:
    value = "{{ 7*7 }}{% for x in y %}"
    expected = value.upper() if "upper" in source else value
    assert render(source, {"v": value}, autoescape=autoescape) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__ }}",
        "{{ customer.__class__.__mro__ }}",
        "{{ customer.clear() }}",
        "{{ lines.append(1) }}",
        "{{ customer.update({'a': 1}) }}",
    ],
)
def test_sandbox_refuses_internals_and_mutation(source: str) -> None:
    error = render_error(source)
    assert error.message.startswith("template `<template>`: refused by the sandbox: access to")
    assert isinstance(error.__cause__, jinja2.exceptions.SecurityError)
    assert ORDER["customer"]["name"] == "Zoë Nowak"
    assert len(ORDER["lines"]) == 2


def test_read_only_methods_still_work() -> None:
    assert render("{{ customer.address.items() | list }}") == "[('city', 'Kraków')]"


# -- limits ----------------------------------------------------------------------------


def test_output_cap_stops_a_loop_bomb() -> None:
    # 90 000 iterations (within the loop budget) of 1000 characters: 90 MB if let run;
    # the output cap stops it after about 1000 iterations
    bomb = (
        "{% for i in range(300) %}{% for j in range(300) %}{{ 'x' * 1000 }}{% endfor %}{% endfor %}"
    )
    error = render_error(bomb, {})
    assert str(MAX_OUTPUT) in error.message
    assert error.message == (
        "template `<template>`: output exceeds the limit of 1000000 characters (max_output)"
    )


def test_output_cap_applies_to_fast_templates() -> None:
    template = compile_template("{{ v }}", max_output=10)
    assert template.fast
    assert template.render({"v": "x" * 10}) == "x" * 10
    error = render_error("{{ v }}", {"v": "x" * 11}, max_output=10)
    assert "10 characters" in error.message


def test_loop_budget_stops_loops_without_output() -> None:
    error = render_error(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}
    )
    assert (
        error.message
        == "template `<template>`: loops ran more than 100000 iterations in one render"
    )


def test_unsized_loops_are_counted_per_item() -> None:
    one = "{% for x in range(60000) | map('string') %}{% endfor %}"
    assert render(one + "done", {}) == "done"
    error = render_error(one + one, {})
    assert "loops ran more than 100000 iterations" in error.message


def test_recursive_loop_calls_spend_the_budget_too() -> None:
    source = (
        "{% for x in range(1000) recursive %}"
        "{% if loop.depth < 4 %}{{ loop(range(1000)) }}{% endif %}{% endfor %}"
    )
    error = render_error(source, {})
    assert "loops ran more than 100000 iterations" in error.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ range(100001) | length }}", "range() of 100001 items is over the limit of 100000"),
        ("{{ 'x' * 1000000000 }}", "a repeated value would be 1000000000 long"),
        ("{{ [0] * 1000000000 }}", "a repeated value would be 1000000000 long"),
        ("{{ 10 ** 100000000 }}", "10 ** 100000000 has more digits than the limit"),
        ("{{ '%999999999s' % 1 }}", "format width 999999999 is over the limit"),
        ("{{ '%*s' % (999999999, 1) }}", "a format width is over the limit"),
        ("{{ '{:>999999999}'.format(1) }}", "format width 999999999 is over the limit"),
        ("{{ 'x' | center(1000000000) }}", "center() would be 1000000000 long"),
        ("{{ 'x'.ljust(1000000000) }}", "str.ljust() would be 1000000000 long"),
        ("{{ 'a\\nb' | indent(999999) }}", "indent() would be 3000000 long"),
        ("{{ [1] | batch(1000000000, 0) | list }}", "batch() would be 1000000000 long"),
        ("{{ range(10) | join('x' | center(900000)) }}", "join() would be 8100000 long"),
        (
            "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s | length }}"
            "{% endif %}{% endmacro %}{{ d('x', 40) }}",
            "a str value would be 1048576 long",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
            "a str value would be 1048576 long",
        ),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
    ],
)
def test_amplifiers_are_refused(source: str, message: str) -> None:
    error = render_error(source, {})
    assert error.message.startswith(f"template `<template>`: {message}")


def test_limits_leave_ordinary_templates_alone() -> None:
    source = (
        "{{ '-' * 20 }}|{{ 2 ** 10 }}|{{ '%5s' % 'ab' }}|{{ 'ab' | center(6) }}"
        "|{{ range(3) | join(',') }}"
    )
    assert render(source, {}) == "-" * 20 + "|1024|   ab|  ab  |0,1,2"


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "maximum recursion depth exceeded"),
        ("{{ x" + ".a" * 300 + " }}", "more than 64 levels"),
        ("{{ x" + " | lower" * 70 + " }}", "more than 64 levels"),
        (
            "".join(f"{{% for x{i} in y %}}" for i in range(25)) + "{% endfor %}" * 25,
            "too many statically nested blocks",
        ),
    ],
)
def test_too_deep_nesting_is_a_syntax_error(source: str, detail: str) -> None:
    error = syntax_error(source)
    assert error.message == f"template `<template>`: nested too deeply to compile ({detail})"
    assert (error.kind, error.position) == ("template-syntax", None)


def test_loop_budget_is_per_render_and_per_thread() -> None:
    # 60 000 iterations each: fine alone, over the budget if renders shared it
    template = compile_template("{% for i in range(60000) %}{% endfor %}{{ n }}")
    assert [template.render({"n": n}) for n in range(3)] == ["0", "1", "2"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: template.render({"n": n}), range(8)))
    assert results == [str(n) for n in range(8)]


def test_public_names() -> None:
    public = {
        name
        for name, value in vars(templates).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == set(templates.__all__)
