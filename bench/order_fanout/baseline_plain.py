"""Order fan-out in plain Python dict code with orjson: the speed limit for this workload.

Usage: ``python bench/order_fanout/baseline_plain.py INPUT OUTDIR``

Reads orders (JSON Lines), computes the totals, maps an ERP sales order and a CRM contact per
order, and writes the ERP document to ``OUTDIR/erp-<MARKET>.jsonl`` and the contact to
``OUTDIR/crm.jsonl``, one ``orjson.dumps(doc) + b"\\n"`` line each, in input order. Every order
is mapped, whatever its status. Prints one JSON line:
``{"variant": "plain", "orders": N, "seconds": S}`` where S covers opening the input to closing
the outputs (imports excluded).

The definitions (totals, key order, rounding) are in bench/README.md; the other variants must
produce byte-identical files.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import BinaryIO

import orjson

BUFFER = 1 << 18


def fan_out(input_path: Path, out_dir: Path) -> int:
    """Map every order in ``input_path`` into ``out_dir``; return the number of orders."""
    loads = orjson.loads
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE  # same bytes as dumps(doc) + b"\n"
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
                order = loads(line)
                customer = order["customer"]
                items = order["line_items"]
                net = round(sum(float(li["price"]) * li["quantity"] for li in items), 2)
                tax = round(net * order["tax_rate"], 2)
                gross = round(net + tax, 2)
                vat_id = customer["vat_id"]
                market = order["market"]
                order_id = str(order["id"])
                erp = {
                    "external_id": order_id,
                    "order_number": order["name"],
                    "sales_org": market + "01",
                    "order_type": "ZB2B" if vat_id else "OR",
                    "sold_to": vat_id or customer["email"],
                    "currency": order["currency"],
                    "created_at": order["created_at"],
                    "lines": [
                        {
                            "material": li["sku"],
                            "qty": li["quantity"],
                            "price": float(li["price"]),
                            "net": round(float(li["price"]) * li["quantity"], 2),
                        }
                        for li in items
                    ],
                    "net": net,
                    "tax": tax,
                    "gross": gross,
                }
                contact = {
                    "email": customer["email"],
                    "first_name": customer["first_name"],
                    "last_name": customer["last_name"],
                    "company": customer["company"],
                    "vat_id": vat_id,
                    "phone": customer["phone"],
                    "country": market,
                    "language": customer["locale"],
                    "marketing_consent": customer["accepts_marketing"],
                    "last_order_id": order_id,
                    "last_order_total": gross,
                    "currency": order["currency"],
                    "lifecycle_stage": "customer",
                }
                erp_file = erp_files.get(market)
                if erp_file is None:
                    erp_file = (out_dir / f"erp-{market}.jsonl").open("wb", buffering=BUFFER)
                    erp_files[market] = erp_file
                erp_file.write(dumps(erp, option=newline))
                crm.write(dumps(contact, option=newline))
                count += 1
        finally:
            for erp_file in erp_files.values():
                erp_file.close()
    return count


def main(argv: list[str]) -> int:
    """Run the fan-out and print the variant's JSON result line."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    started = time.perf_counter()
    count = fan_out(Path(argv[0]), Path(argv[1]))
    seconds = time.perf_counter() - started
    result = {"variant": "plain", "orders": count, "seconds": round(seconds, 6)}
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
