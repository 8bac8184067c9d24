"""Order fan-out written per field with compiled JMESPath and Jinja: what a user would write.

Usage: ``python bench/order_fanout/baseline_per_field.py INPUT OUTDIR``

The same workload and output as ``baseline_plain.py`` (byte for byte), but every field is
declared once as a compiled ``jmespath`` expression or a sandboxed ``jinja2`` template and
evaluated per message, the way hand-written glue code built on the standard libraries looks.
Arithmetic comes from custom JMESPath functions (``multiply``, ``add``, ``round``). Prints one
JSON line: ``{"variant": "per-field", "orders": N, "seconds": S}`` where S covers opening the
input to closing the outputs (imports and compiling the expressions excluded).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import jmespath
import jmespath.functions
import orjson
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

BUFFER = 1 << 18

Evaluator = Callable[[dict[str, Any]], Any]


class OrderFunctions(jmespath.functions.Functions):
    """Arithmetic JMESPath lacks: ``multiply(a, b)``, ``add(a, b)``, ``round(x, ndigits)``."""

    @jmespath.functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_multiply(self, a: float, b: float) -> float:
        return a * b

    @jmespath.functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_add(self, a: float, b: float) -> float:
        return a + b

    @jmespath.functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_round(self, x: float, ndigits: int) -> float:
        return round(x, ndigits)


class Mapping:
    """Every field of the workload, compiled once."""

    def __init__(self) -> None:
        options = jmespath.Options(custom_functions=OrderFunctions())
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

        def jp(expression: str) -> Evaluator:
            return functools.partial(jmespath.compile(expression).search, options=options)

        def template(source: str) -> Evaluator:
            return env.from_string(source).render

        self.net = jp("round(sum(line_items[].multiply(to_number(price), quantity)), `2`)")
        self.tax = jp("round(multiply(totals.net, tax_rate), `2`)")
        self.gross = jp("round(add(totals.net, totals.tax), `2`)")
        self.erp_file = template("erp-{{ market }}.jsonl")
        self.erp: list[tuple[str, Evaluator]] = [
            ("external_id", jp("to_string(id)")),
            ("order_number", jp("name")),
            ("sales_org", template("{{ market }}01")),
            ("order_type", jp("customer.vat_id && 'ZB2B' || 'OR'")),
            ("sold_to", jp("customer.vat_id || customer.email")),
            ("currency", jp("currency")),
            ("created_at", jp("created_at")),
            (
                "lines",
                jp(
                    "line_items[].{material: sku, qty: quantity, price: to_number(price),"
                    " net: round(multiply(to_number(price), quantity), `2`)}"
                ),
            ),
            ("net", jp("totals.net")),
            ("tax", jp("totals.tax")),
            ("gross", jp("totals.gross")),
        ]
        self.crm: list[tuple[str, Evaluator]] = [
            ("email", jp("customer.email")),
            ("first_name", jp("customer.first_name")),
            ("last_name", jp("customer.last_name")),
            ("company", jp("customer.company")),
            ("vat_id", jp("customer.vat_id")),
            ("phone", jp("customer.phone")),
            ("country", jp("market")),
            ("language", jp("customer.locale")),
            ("marketing_consent", jp("customer.accepts_marketing")),
            ("last_order_id", jp("to_string(id)")),
            ("last_order_total", jp("totals.gross")),
            ("currency", jp("currency")),
            ("lifecycle_stage", jp("'customer'")),
        ]


def fan_out(mapping: Mapping, input_path: Path, out_dir: Path) -> int:
    """Map every order in ``input_path`` into ``out_dir``; return the number of orders."""
    out_dir.mkdir(parents=True, exist_ok=True)
    erp_files: dict[str, BinaryIO] = {}
    count = 0
    with (
        input_path.open("rb", buffering=BUFFER) as source,
        (out_dir / "crm.jsonl").open("wb", buffering=BUFFER) as crm,
    ):
        try:
            for line in source:
                if line.isspace():
                    continue
                order = orjson.loads(line)
                totals: dict[str, Any] = {}
                order["totals"] = totals
                totals["net"] = mapping.net(order)
                totals["tax"] = mapping.tax(order)
                totals["gross"] = mapping.gross(order)
                erp = {name: evaluate(order) for name, evaluate in mapping.erp}
                contact = {name: evaluate(order) for name, evaluate in mapping.crm}
                file_name = mapping.erp_file(order)
                erp_file = erp_files.get(file_name)
                if erp_file is None:
                    erp_file = (out_dir / file_name).open("wb", buffering=BUFFER)
                    erp_files[file_name] = erp_file
                erp_file.write(orjson.dumps(erp) + b"\n")
                crm.write(orjson.dumps(contact) + b"\n")
                count += 1
        finally:
            for erp_file in erp_files.values():
                erp_file.close()
    return count


def main(argv: list[str]) -> int:
    """Compile the mapping, run the fan-out and print the variant's JSON result line."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    mapping = Mapping()
    started = time.perf_counter()
    count = fan_out(mapping, Path(argv[0]), Path(argv[1]))
    seconds = time.perf_counter() - started
    result = {"variant": "per-field", "orders": count, "seconds": round(seconds, 6)}
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
