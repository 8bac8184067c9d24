"""The fast path renders exactly what the sandboxed Jinja render does.

Differential tests: for hand-written and generated templates and generated JSON-like
data, the fast closure's output equals ``env.from_string(src).render(ctx)`` (the same
sandboxed environment, the reference), and when one raises so does the other.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from integrator.errors import ExpressionSyntaxError, TemplateError
from integrator.mapping.templates import Template, compile_template, template_environment
from integrator.mapping.templates.fastpath import escaped_text

Outcome = tuple[str, Any]


def reference(source: str, context: dict[str, Any], autoescape: bool) -> Outcome:
    """The sandboxed Jinja render: ("ok", text) or ("error", exception type)."""
    env = template_environment(autoescape=autoescape)
    try:
        return "ok", env.from_string(source).render(context)
    except Exception as exc:  # the reference may raise anything; only "it raised" counts
        return "error", type(exc)


def fast(template: Template, context: dict[str, Any]) -> Outcome:
    """The fast closure itself, without render()'s fallback to Jinja on errors."""
    assert template.fast
    try:
        return "ok", template._fast(context)  # type: ignore[misc]  # the path under test
    except Exception as exc:
        return "error", type(exc)


def assert_same(source: str, context: dict[str, Any], autoescape: bool) -> Template:
    template = compile_template(source, autoescape=autoescape)
    check(template, context)
    return template


def check(template: Template, context: dict[str, Any]) -> None:
    source = template.source
    expected = reference(source, context, template.autoescape)
    if template.fast:
        got = fast(template, context)
        if expected[0] == "ok":
            assert got == expected, (source, context)
        else:
            assert got[0] == "error", (source, context, got)
    # and the public API, whichever path it takes
    if expected[0] == "ok":
        assert template.render(context) == expected[1]
    else:
        with pytest.raises(TemplateError):
            template.render(context)


# -- hand-written templates ------------------------------------------------------------

FAST = [
    "",
    "plain text, no tags",
    "a\r\nb\rc\n",
    "SO-{{ market }}-{{ id }}",
    "out/erp-{{ market | lower }}.jsonl",
    "{{ customer.name }}|{{ customer['name'] }}|{{ customer.address.city | upper }}",
    "{{ lines[0].sku }} {{ lines.1.sku }} {{ lines[-1]['sku'] }} {{ lines[7] }}",
    "{{ matrix[0][1] }}{{ matrix.1.0 }}",
    "{{ weird['a b'] }}{{ weird['ü'] }}{{ _private }}{{ customer._id }}",
    "{{ none }} {{ true }} {{ false }} {{ 1.5 }} {{ -1 }} {{ [1, 'a'] }} {{ 'x' ~ 'y' }}",
    "{{ '<&>' }}{{ '<b>' | upper }}",
    "{{ market | default('n/a') }}{{ nope | default('n/a') }}{{ nope | d }}{{ nope | default }}",
    "{{ nope | default(market) }}{{ nope | default(customer.name) }}{{ nope | default(nada) }}",
    "{{ market | default(nope.deeper) }}",
    "{{ empty | default('x', true) }}{{ empty | default('x', boolean=true) }}",
    "{{ total | money }} {{ id | money }} {{ text_number | money }}",
    "{{ total | round }} {{ total | round(1, 'floor') }} {{ total | round(method='ceil') }}",
    "{{ text_number | int }} {{ total | int }} {{ market | int }} {{ market | int(7) }}",
    "{{ customer | tojson }}{{ lines | tojson }}{{ nope | tojson }}",
    "{{ markup | xml_escape }}{{ markup | xml_escape | lower }}",
    "{{ padded | trim }}|{{ padded | trim('-') }}|{{ id | string }}|{{ markup | string }}",
    "{{ market | lower | upper | trim }}",
    "{{- market -}} {# a comment #} {{ id }}",
    "{% raw %}{{ market }}{% endraw %}{{ market }}",
    "{{ customer.nope }}",
    "{{ nope.deeper }}",
    "{{ market.code }}{{ id.code }}{{ lines.code }}{{ lines['code'] }}{{ customer[0] }}",
    "{{ obj.name }}{{ obj['name'] }}{{ odict.a }}{{ odict['a'] }}{{ tup[0] }}{{ text[1] }}",
    "{{ obj.missing }}",
    "{{ customer.address | string }}",
    "{{ total | money(2) }}",  # wrong arity: a TypeError on both paths
]

JINJA_ONLY = [
    "{% if market %}{{ market }}{% endif %}",
    "{% for l in lines %}{{ l.sku }}{% endfor %}",
    "{% set a = 1 %}{{ a }}",
    "{{ customer.items }}",  # dict method in Jinja
    "{{ customer['keys'] }}",
    "{{ lines.index }}",
    "{{ market.upper }}",
    "{{ total.real }}",
    "{{ customer.__class__ }}",
    "{{ id + 1 }}",
    "{{ market ~ id }}",
    "{{ lines | join(',') }}",
    "{{ lines | length }}",
    "{{ market | e }}",
    "{{ lines[0:1] }}",
    "{{ customer[market] }}",
    "{{ range }}",
    "{{ dict }}",
    "{{ market() }}",
    "{{ market if id else total }}",
    "{{ market is defined }}",
    "{{ nope | default(id + 1) }}",
    "{{ nope | default(*lines) }}",
    "{{ (market | lower).x }}",
]


@dataclass
class Thing:
    name: str
    _secret: str = "s"


CONTEXTS: list[dict[str, Any]] = [
    {},
    {
        "market": "PL",
        "id": 4711,
        "total": 12.345,
        "text_number": "42",
        "empty": "",
        "padded": "-- x --",
        "markup": "Tom & <Jerry> \"q\" 'a'",
        "customer": {"name": "Zoë", "address": {"city": "Kraków"}, "_id": 7, "items": "own"},
        "lines": [{"sku": "A-1"}, {"sku": "B-2"}],
        "matrix": [[1, 2], [3, 4]],
        "weird": {"a b": 1, "ü": 2},
        "_private": "p",
    },
    {
        "market": None,
        "id": True,
        "total": -0.5,
        "text_number": "x",
        "empty": 0,
        "padded": 3,
        "markup": None,
        "customer": "not a dict",
        "lines": {"0": "str key", 0: "int key"},
        "matrix": "ab",
        "weird": [],
        "_private": None,
    },
    {
        "market": "<b>&amp;</b>",
        "id": 1e16,
        "total": float("nan"),
        "text_number": "1e3",
        "empty": [],
        "padded": "\t x \n",
        "markup": Markup("<i>safe</i>"),
        "customer": {"name": None, "address": None},
        "lines": [],
        "matrix": [[None]],
        "obj": Thing("thing"),
        "odict": OrderedDict(a=1),
        "tup": ("t",),
        "text": "xyz",
    },
]


@pytest.mark.parametrize("autoescape", [False, True], ids=["text", "xml"])
@pytest.mark.parametrize("source", FAST)
def test_hand_written_fast_templates(source: str, autoescape: bool) -> None:
    for context in CONTEXTS:
        template = assert_same(source, context, autoescape)
        assert template.fast, source


@pytest.mark.parametrize("autoescape", [False, True], ids=["text", "xml"])
@pytest.mark.parametrize("source", JINJA_ONLY)
def test_templates_that_need_jinja(source: str, autoescape: bool) -> None:
    for context in CONTEXTS:
        template = assert_same(source, context, autoescape)
        assert not template.fast, source


def test_self_is_jinja_s_template_reference() -> None:
    template = compile_template("{{ self }}", name="t")
    assert not template.fast
    assert template.render({"self": "data"}) == "<TemplateReference 't'>"


def test_constant_template_is_fast_and_exact() -> None:
    source = "no tags here\r\n{ single braces } and 100% done\n"
    template = compile_template(source)
    assert template.fast
    assert template.names == frozenset()
    assert template.render({}) == "no tags here\n{ single braces } and 100% done\n"


def test_fast_closure_sees_the_same_values_as_jinja_for_lookalike_keys() -> None:
    # a dict key that is also a dict method: Jinja returns the method, so no fast path
    template = compile_template("{{ d.items }}")
    assert not template.fast
    assert template.render({"d": {"items": 1}}).startswith("<built-in method items")
    # the item syntax still prefers the key when present
    assert compile_template("{{ d['items'] }}").render({"d": {"items": 1}}) == "1"


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="<>&'\"ab").map(Markup),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.text(alphabet="<>&'\"ab"), max_size=2),
    )
)
def test_fast_escaping_is_markupsafe_escape(value: Any) -> None:
    assert escaped_text(value) == str(escape(value))


# -- generated templates ---------------------------------------------------------------

NAMES = ["a", "b", "c", "id", "name", "items"]  # top-level names are never methods
FIELDS = ["a", "b", "c", "name", "x y", "items", "keys", "real", "upper"]
RESERVED = {"items", "keys", "real", "upper"}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="ab <>&\"'é€\n-{}%", max_size=8),
    st.sampled_from(["12.5", " 3 ", "1e2", ""]),
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.sampled_from(NAMES), json_value, max_size=6)


@st.composite
def chains(draw: st.DrawFn) -> tuple[str, bool]:
    """``name.field['key'][0]...``; returns (source, fast-eligible)."""
    text = draw(st.sampled_from(NAMES))
    eligible = True
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["attr", "key", "index", "dotindex"]))
        if kind == "index":
            text += f"[{draw(st.integers(-3, 3))}]"
            continue
        if kind == "dotindex":
            text += f".{draw(st.integers(0, 3))} "  # the space keeps `.0.1` from being a float
            continue
        field = draw(st.sampled_from(FIELDS))
        eligible = eligible and field not in RESERVED
        if kind == "attr" and field.isidentifier():
            text += f".{field}"
        else:
            text += f"[{field!r}]"
    return text, eligible


constants = st.sampled_from(
    ["'lit'", "''", "'<&>'", "0", "7", "-2", "1.5", "none", "true", "false", "'3.14'"]
)
FAST_FILTERS = [
    "lower",
    "upper",
    "trim",
    "string",
    "d",
    "default",
    "default('dflt')",
    "default('', true)",
    "int",
    "int(9)",
    "round",
    "round(1)",
    "round(1, 'ceil')",
    "money",
    "tojson",
    "xml_escape",
]
OTHER_FILTERS = ["length", "first", "join('-')", "e", "list", "title"]


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, bool]:
    if draw(st.booleans()):
        text, eligible = draw(chains())
        filters = st.sampled_from(FAST_FILTERS * 2 + OTHER_FILTERS)
    else:
        text, eligible = draw(constants), True
        filters = st.sampled_from(FAST_FILTERS)  # others on constants may or may not fold
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 5)) == 0:
            arg, arg_eligible = draw(chains())
            text += f" | default({arg})"
            eligible = eligible and arg_eligible
            continue
        name = draw(filters)
        eligible = eligible and name not in OTHER_FILTERS
        text += f" | {name}"
    return text, eligible


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, bool]:
    parts: list[str] = []
    eligible = True
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            parts.append(draw(st.text(alphabet="ab <>&\"'é\n\r-", max_size=6)))
        else:
            expr, ok = draw(expressions())
            left, right = draw(st.sampled_from([("{{ ", " }}"), ("{{- ", " -}}"), ("{{", "}}")]))
            parts.append(left + expr + right)
            eligible = eligible and ok
    return "".join(parts), eligible


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(template=templates(), context=contexts, autoescape=st.booleans())
def test_generated_templates_match_jinja(
    template: tuple[str, bool], context: dict[str, Any], autoescape: bool
) -> None:
    source, eligible = template
    try:
        compiled = assert_same(source, context, autoescape)
    except ExpressionSyntaxError:
        # then Jinja must refuse it too
        with pytest.raises(Exception):  # noqa: B017 - any Jinja syntax error
            template_environment(autoescape=autoescape).from_string(source)
        return
    assert compiled.fast == eligible, source


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions(), contexts=st.lists(contexts, min_size=1, max_size=4))
def test_one_template_many_messages(expr: tuple[str, bool], contexts: list[dict[str, Any]]) -> None:
    """Compiled once, rendered per message: no state leaks from one render to the next."""
    source = f"<{{{{ {expr[0]} }}}}>"
    for autoescape in (False, True):
        template = compile_template(source, autoescape=autoescape)
        for context in contexts:
            check(template, context)
