"""Side-by-side: jmespath.search vs jmespath.compile(e).search vs integrator's compiler.

Run with ``python bench/jmespath_compile.py [--seconds 0.2] [--repeat 5]``. Each cell is
the best of ``--repeat`` timed loops, in nanoseconds per evaluation on one order-like
document; the three columns take turns in every round and the ratios compare them
within the same run (the machine is shared, so ratios are the figures that count).
Before timing, every expression's result is checked to be the same in all columns.

``multiply`` is an integrator extension; on the library side it is supplied as a custom
function through ``jmespath.Options`` so every column computes the same result.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath import functions as jp_functions
from jmespath.parser import ParsedResult

from integrator.mapping.jmespath import compile_expression

ORDER: dict[str, Any] = {
    "id": "SO-10042",
    "status": "paid",
    "total": 1234.5,
    "customer": {
        "id": 77,
        "email": "anna@example.com",
        "vip": False,
        "address": {"street": "Storgata 1", "city": "Oslo", "country": "NO"},
    },
    "line_items": [
        {"sku": "A-1", "quantity": 2, "price": "19.90", "tags": ["red"]},
        {"sku": "B-2", "quantity": 1, "price": "250.00", "tags": []},
        {"sku": "C-3", "quantity": 5, "price": "4.50", "tags": ["bulk", "blue"]},
        {"sku": "D-4", "quantity": 3, "price": "12.00", "tags": ["green"]},
    ],
}

EXPRESSIONS = [
    "id",
    "customer.address.city",
    "line_items[*].{sku: sku, qty: quantity}",
    "line_items[?quantity > `1`].sku",
    "status == 'paid'",
    "customer.vip || customer.email",
    "length(line_items)",
    "join(', ', line_items[].sku)",
    "max_by(line_items, &quantity).sku",
    "sort_by(line_items, &sku)[-1].price",
    "sum(line_items[].multiply(to_number(price), quantity))",
]


class _LibraryFunctions(jp_functions.Functions):
    """The library's functions plus ``multiply`` for the one extension the bench uses."""

    @jp_functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_multiply(self, left: float, right: float) -> float:
        return left * right


_OPTIONS = jmespath.Options(custom_functions=_LibraryFunctions())


def _library_search(text: str) -> Callable[[Any], Any]:
    """What most code does: parse (from the library's cache) and interpret per message."""
    return lambda data: jmespath.search(text, data, _OPTIONS)


def _library_compiled(parsed: ParsedResult) -> Callable[[Any], Any]:
    """The library at its best: parsed once, the tree interpreted per message."""
    return lambda data: parsed.search(data, _OPTIONS)


def _loops_for(call: Callable[[Any], Any], data: Any, seconds: float) -> int:
    """How many calls take about ``seconds``."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            call(data)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            return max(1, int(loops * seconds / elapsed))
        loops *= 2


def _measure(
    calls: list[Callable[[Any], Any]], data: Any, seconds: float, repeat: int
) -> list[float]:
    """Best-of-``repeat`` nanoseconds per call for each callable.

    The callables take turns inside every round, so a burst of load on this shared
    machine hits all columns alike instead of skewing one of them.
    """
    loops = [_loops_for(call, data, seconds) for call in calls]
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for index, call in enumerate(calls):
            start = time.perf_counter()
            for _ in range(loops[index]):
                call(data)
            elapsed = (time.perf_counter() - start) / loops[index]
            best[index] = min(best[index], elapsed)
    return [value * 1e9 for value in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.2, help="time per timed loop")
    parser.add_argument("--repeat", type=int, default=5, help="timed loops per cell")
    args = parser.parse_args()

    rows = []
    for text in EXPRESSIONS:
        parsed = jmespath.compile(text)
        ours = compile_expression(text)
        expected = parsed.search(ORDER, options=_OPTIONS)
        assert ours.search(ORDER) == expected, (text, ours.search(ORDER), expected)
        search_ns, compiled_ns, ours_ns = _measure(
            [_library_search(text), _library_compiled(parsed), ours.search],
            ORDER,
            args.seconds,
            args.repeat,
        )
        rows.append((text, search_ns, compiled_ns, ours_ns))

    width = max(len(row[0]) for row in rows)
    header = (
        f"{'expression':<{width}}  {'search ns':>10}  {'compile ns':>10}  {'ours ns':>8}"
        f"  {'search/ours':>11}  {'compile/ours':>12}"
    )
    print(header)
    print("-" * len(header))
    for text, search_ns, compiled_ns, ours_ns in rows:
        print(
            f"{text:<{width}}  {search_ns:>10.0f}  {compiled_ns:>10.0f}  {ours_ns:>8.0f}"
            f"  {search_ns / ours_ns:>10.1f}x  {compiled_ns / ours_ns:>11.1f}x"
        )
    total_search = sum(row[1] for row in rows)
    total_compiled = sum(row[2] for row in rows)
    total_ours = sum(row[3] for row in rows)
    print("-" * len(header))
    print(
        f"{'all of the above, per message':<{width}}  {total_search:>10.0f}  "
        f"{total_compiled:>10.0f}  {total_ours:>8.0f}  {total_search / total_ours:>10.1f}x"
        f"  {total_compiled / total_ours:>11.1f}x"
    )


if __name__ == "__main__":
    main()
