"""Template render cost: plain jinja2, the sandboxed jinja2 environment, and integrator's.

Run ``python bench/templates.py``. Prints nanoseconds per render (best of several
rounds, the three renderers measured in turn each round, since this machine is shared
and noisy) and the ratios against integrator's ``Template.render``.

- ``jinja2``: ``jinja2.Environment().from_string(src).render(ctx)`` (what
  ``jinja2.Template(src)`` does), with integrator's filters added so every template runs.
- ``sandboxed``: ``ImmutableSandboxedEnvironment(undefined=StrictUndefined)``, the
  configuration a careful user would write by hand.
- ``integrator``: ``compile_template(src).render(ctx)``; the ``path`` column says
  whether the template takes the fast path or the guarded Jinja render.
"""

from __future__ import annotations

import argparse
import platform
import timeit
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from integrator.mapping.templates import FILTERS, compile_template

CONTEXT: dict[str, Any] = {
    "id": 4711,
    "market": "PL",
    "total": 1234.5,
    "customer": {"name": "Zoë Nowak", "vat": None, "address": {"city": "Kraków"}},
    "lines": [{"sku": f"SKU-{i}", "qty": i} for i in range(5)],
}

# (label, source, autoescape)
TEMPLATES: list[tuple[str, str, bool]] = [
    ("constant path", "erp/orders.jsonl", False),
    ("field", "SO-{{ market }}-{{ id }}", False),
    ("file path + filter", "out/erp-{{ market | lower }}.jsonl", False),
    ("nested + filter", "{{ customer.address.city | upper }}", False),
    (
        "JSON body",
        '{"order": {{ id | tojson }}, "customer": {{ customer.name | tojson }}, '
        '"total": {{ total | money }}, "vat": {{ customer.vat | default(none) | tojson }}}',
        False,
    ),
    (
        "XML body (autoescape)",
        '<order id="{{ id }}"><customer>{{ customer.name }}</customer>'
        "<city>{{ customer.address.city }}</city></order>",
        True,
    ),
    ("loop (Jinja path)", "{% for l in lines %}{{ l.sku }}:{{ l.qty }};{% endfor %}", False),
]


def _environments(autoescape: bool) -> tuple[jinja2.Environment, jinja2.Environment]:
    plain = jinja2.Environment(autoescape=autoescape)
    sandboxed = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape
    )
    for env in (plain, sandboxed):
        env.filters.update(FILTERS)
    return plain, sandboxed


def _best_ns(funcs: list[Callable[[], object]], rounds: int, seconds: float) -> list[float]:
    """Best ns per call for each function; each round measures all of them in turn."""
    numbers = []
    for func in funcs:
        number, took = timeit.Timer(func).autorange()
        numbers.append(max(1, int(number * seconds / max(took, 1e-9))))
    best = [float("inf")] * len(funcs)
    for _ in range(rounds):
        for i, func in enumerate(funcs):
            took = timeit.Timer(func).timeit(numbers[i])
            best[i] = min(best[i], took / numbers[i] * 1e9)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.1, help="per measurement")
    args = parser.parse_args()

    print(f"Python {platform.python_version()}, jinja2 {jinja2.__version__}; ns per render\n")
    header = (
        f"{'template':<24}{'path':>6}{'jinja2':>10}{'sandboxed':>11}{'integrator':>12}"
        f"{'jinja2/ours':>13}{'sandboxed/ours':>16}"
    )
    print(header)
    print("-" * len(header))
    for label, source, autoescape in TEMPLATES:
        plain_env, sandboxed_env = _environments(autoescape)
        plain = plain_env.from_string(source)
        sandboxed = sandboxed_env.from_string(source)
        ours = compile_template(source, autoescape=autoescape, name=label)
        expected = sandboxed.render(CONTEXT)
        if ours.render(CONTEXT) != expected:
            raise SystemExit(f"{label}: integrator renders differently from the sandbox")
        times = _best_ns(
            [
                lambda t=plain: t.render(CONTEXT),
                lambda t=sandboxed: t.render(CONTEXT),
                lambda t=ours: t.render(CONTEXT),
            ],
            args.rounds,
            args.seconds,
        )
        path = "fast" if ours.fast else "jinja"
        print(
            f"{label:<24}{path:>6}{times[0]:>10.0f}{times[1]:>11.0f}{times[2]:>12.0f}"
            f"{times[0] / times[2]:>12.1f}x{times[1] / times[2]:>15.1f}x"
        )


if __name__ == "__main__":
    main()
