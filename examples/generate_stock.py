"""Writes examples/data/erp-stock.csv: a Polish ERP's stock export for every SKU ordered.

The file looks like what ERPs in Poland typically export: Windows-1250 encoding, ``;`` as
the delimiter, Polish column names and a decimal comma (``49,99``). Stock levels and bin
locations are derived from the SKU number, so the file is the same on every run.

    python examples/generate_stock.py            # writes examples/data/erp-stock.csv
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = HERE / "data" / "orders.jsonl"
TARGET = HERE / "data" / "erp-stock.csv"
COLUMNS = ["Indeks", "Nazwa", "Stan", "Lokalizacja", "Cena netto", "Jednostka"]


def render(orders_path: Path = ORDERS) -> bytes:
    """The whole CSV file, encoded in cp1250."""
    titles: dict[str, tuple[str, str, str]] = {}
    for line in orders_path.read_text(encoding="utf-8").splitlines():
        order = json.loads(line)
        for item in order["line_items"]:
            known = titles.get(item["sku"])
            # Prefer the Polish title: the ERP is the Polish company's.
            if known is None or (order["market"] == "PL" and known[1] != "PL"):
                titles[item["sku"]] = (item["title"], order["market"], item["price"])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for sku in sorted(titles):
        title, _, price = titles[sku]
        number = int(sku.removeprefix("SKU-"))
        stock = (number * 37) % 250 if number % 11 else 0  # every 11th SKU is sold out
        location = f"A-{number % 20:02d}-{number % 7}"
        writer.writerow([sku, title, stock, location, price.replace(".", ","), "szt."])
    return out.getvalue().encode("cp1250", errors="replace")


def main() -> int:
    TARGET.write_bytes(render())
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
