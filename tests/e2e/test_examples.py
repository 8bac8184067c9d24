"""Every bundled example flow runs, and its outputs are checked against the input data."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from integrator.compiler import load_flow
from integrator.engine.runner import Engine, RunOptions

REPO = Path(__file__).resolve().parents[2]
CENTRAL = {"PL", "CZ", "SK", "HU", "LT", "LV", "EE", "RO"}


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    return tmp_path


def run(workdir: Path, name: str) -> Any:
    flow = load_flow(workdir / "examples" / name, env={}, workdir=workdir)
    report = asyncio.run(Engine(flow, RunOptions(workdir=workdir)).run())
    assert report.ok, report.as_dict()
    return report


def orders() -> list[dict[str, Any]]:
    text = (REPO / "examples/data/orders.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def stock_rows() -> list[dict[str, str]]:
    text = (REPO / "examples/data/erp-stock.csv").read_bytes().decode("cp1250")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_stock_file_matches_its_generator() -> None:
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import generate_stock
    finally:
        sys.path.pop(0)
    assert generate_stock.render() == (REPO / "examples/data/erp-stock.csv").read_bytes()


def test_first_flow(workdir: Path) -> None:
    report = run(workdir, "first-flow.yaml")
    paid = [o for o in orders() if o["status"] == "paid"]
    assert report.sinks["erp_files"].written == len(paid)
    per_market = Counter(o["market"] for o in paid)
    for market, count in per_market.items():
        records = jsonl(workdir / f"out/first/erp-{market}.jsonl")
        assert len(records) == count
        assert all(r["sales_org"] == f"{market}01" for r in records)


def test_erp_stock_export(workdir: Path) -> None:
    run(workdir, "erp-stock-export.yaml")
    rows = stock_rows()
    levels = jsonl(workdir / "out/stock/inventory-levels.jsonl")
    assert [r["sku"] for r in levels] == [r["Indeks"] for r in rows]
    for level, row in zip(levels, rows, strict=True):
        assert level["available"] == int(row["Stan"])
        assert level["net_price"] == float(row["Cena netto"].replace(",", "."))
        assert level["title"] == row["Nazwa"]  # Polish text survived cp1250
    purchasing = (workdir / "out/stock/purchasing-list.csv").read_bytes().decode("cp1250")
    listed = list(csv.DictReader(io.StringIO(purchasing), delimiter=";"))
    assert [r["sku"] for r in listed] == [r["Indeks"] for r in rows if int(r["Stan"]) < 10]


def test_pick_lines(workdir: Path) -> None:
    run(workdir, "pick-lines.yaml")
    stock = {r["Indeks"]: r for r in stock_rows()}
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in orders():
        if o["status"] != "paid":
            continue
        warehouse = "WH-LDZ" if o["market"] in CENTRAL else "WH-LEJ"
        for i, li in enumerate(o["line_items"]):
            row = stock.get(li["sku"])
            in_stock = int(row["Stan"]) if row else 0
            pick = {"order_id": str(o["id"]), "line": i, "sku": li["sku"],
                    "description": li["title"], "quantity": li["quantity"],
                    "location": row["Lokalizacja"] if row else "UNKNOWN",
                    "in_stock": in_stock, "warehouse": warehouse}
            target = f"{warehouse}-pick-lines" if in_stock >= li["quantity"] else "backorders"
            expected[target].append(pick)
    for name, picks in expected.items():
        assert jsonl(workdir / f"out/picking/{name}.jsonl") == picks, name
    assert expected["backorders"]


def test_b2b_invoices_xml(workdir: Path) -> None:
    run(workdir, "b2b-invoices-xml.yaml")
    wanted = [o for o in orders() if o["type"] == "b2b" and o["status"] == "paid"]
    files = sorted((workdir / "out/invoices").rglob("*.xml"))
    assert len(files) == len(wanted)
    copies = {c["Invoice"]["@number"]: c["Invoice"] for c in
              jsonl(workdir / "out/invoices/invoices.jsonl")}
    for o in wanted:
        path = workdir / f"out/invoices/{o['market']}/invoice-{o['id']}.xml"
        root = ET.fromstring(path.read_bytes())
        net = round(sum(float(li["price"]) * li["quantity"] for li in o["line_items"]), 2)
        assert root.tag == "Invoice" and root.get("number") == f"FV/{o['market']}/{o['id']}"
        assert float(root.findtext("Net")) == net
        assert float(root.findtext("Tax")) == round(net * o["tax_rate"], 2)
        assert [e.findtext("Sku") for e in root.iter("Line")] == [
            li["sku"] for li in o["line_items"]]
        copy = copies[f"FV/{o['market']}/{o['id']}"]
        assert copy["Buyer"]["VatId"] == o["customer"]["vat_id"]
        assert len(copy["Lines"]["Line"]) == len(o["line_items"])  # force_list kept lists


def test_customer_digest(workdir: Path) -> None:
    run(workdir, "customer-digest.yaml")
    digests = jsonl(workdir / "out/crm/order-digests.jsonl")
    kept = [o for o in orders() if o["status"] != "cancelled"]
    assert sum(d["orders"] for d in digests) == len(kept)
    assert all(1 <= d["orders"] <= 5 for d in digests)
    by_customer: dict[str, list[str]] = defaultdict(list)
    for d in digests:
        by_customer[d["email"]].extend(d["order_ids"])
    expected: dict[str, list[str]] = defaultdict(list)
    for o in kept:
        expected[o["customer"]["email"]].append(str(o["id"]))
    assert {k: sorted(v) for k, v in by_customer.items()} == {
        k: sorted(v) for k, v in expected.items()}
    units = {str(o["id"]): sum(li["quantity"] for li in o["line_items"]) for o in kept}
    assert all(d["items_bought"] == sum(units[i] for i in d["order_ids"]) for d in digests)
