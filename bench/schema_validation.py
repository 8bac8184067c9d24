"""JSON Schema validation cost: jsonschema's ``is_valid`` against integrator's compiled schema.

Run ``python bench/schema_validation.py``. Validates the 1200 example orders
(``examples/data/orders.jsonl``) against ``schemas/examples/shop-order.json`` and
prints microseconds per validation for

- ``jsonschema``: ``Draft202012Validator(schema).is_valid(order)``, what the
  ``validate`` step calls today;
- ``integrator``: ``compile_schema(schema).is_valid(order)``
  (``integrator.mapping.schemas``),

and the ratio, measured side by side in one run: each round times both in turn, and
the best round counts (this machine is shared and noisy). Two workloads: the orders as
they are (all valid), and the same orders with the currency of another market (all
invalid, rejected by an ``if``/``then`` rule deep in the schema). Before timing, the
script checks that both validators give the same answer for every order.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from integrator.mapping.schemas import compile_schema

REPO = Path(__file__).resolve().parents[1]
WRONG_CURRENCY = {"PLN": "EUR", "EUR": "SEK", "CZK": "EUR", "HUF": "EUR", "RON": "EUR",
                  "SEK": "EUR"}


def microseconds_per_call(validate: Callable[[Any], bool], docs: list[Any], passes: int) -> float:
    """Microseconds per call of ``validate`` over ``docs``, repeated ``passes`` times."""
    start = time.perf_counter()
    for _ in range(passes):
        for doc in docs:
            validate(doc)
    return (time.perf_counter() - start) / (passes * len(docs)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schema", type=Path, default=REPO / "schemas/examples/shop-order.json")
    parser.add_argument("--orders", type=Path, default=REPO / "examples/data/orders.jsonl")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best counts)")
    args = parser.parse_args()

    schema = json.loads(args.schema.read_text(encoding="utf-8"))
    orders = [json.loads(line) for line in args.orders.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    invalid = []
    for order in orders:
        bad = copy.deepcopy(order)
        bad["currency"] = WRONG_CURRENCY[bad["currency"]]
        invalid.append(bad)

    start = time.perf_counter()
    reference = Draft202012Validator(schema)
    reference_build = time.perf_counter() - start
    start = time.perf_counter()
    compiled = compile_schema(schema)
    compile_time = time.perf_counter() - start

    workloads = [("valid orders", orders, True), ("invalid orders (currency)", invalid, False)]
    for label, docs, expected in workloads:
        for doc in docs:
            answers = (reference.is_valid(doc), compiled.is_valid(doc))
            if answers != (expected, expected):
                raise SystemExit(f"{label}: order {doc['id']}: jsonschema/integrator "
                                 f"answered {answers}, expected {expected}")

    print(f"JSON Schema validation, {len(orders)} orders against "
          f"{args.schema.relative_to(REPO) if args.schema.is_relative_to(REPO) else args.schema}")
    print(f"Python {platform.python_version()}, jsonschema {version('jsonschema')}, "
          f"fast path: {compiled.compiled}, best of {args.rounds} rounds")
    print()
    header = f"{'workload':<28}{'jsonschema µs':>15}{'integrator µs':>15}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for label, docs, _ in workloads:
        slow, fast = float("inf"), float("inf")
        for _ in range(args.rounds):
            slow = min(slow, microseconds_per_call(reference.is_valid, docs, 1))
            fast = min(fast, microseconds_per_call(compiled.is_valid, docs, 20))
        print(f"{label:<28}{slow:>15.1f}{fast:>15.2f}{slow / fast:>8.1f}x")
    print()
    print(f"setup: Draft202012Validator(schema) {reference_build * 1e3:.2f} ms, "
          f"compile_schema(schema) {compile_time * 1e3:.2f} ms "
          f"(includes check_schema against the metaschema)")


if __name__ == "__main__":
    main()
