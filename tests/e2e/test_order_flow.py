"""flows/order.yaml end to end: every output record checked against plain Python.

The expected records are computed here from the same input with ordinary dict code, so
the test fails if the flow, a step, a connector or the engine changes any value, drops
or duplicates a record, or mixes up the routing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CENTRAL = {"PL", "CZ", "SK", "HU", "LT", "LV", "EE", "RO"}


def ship_to(address: dict[str, Any]) -> dict[str, Any]:
    return {"name": address["name"], "company": address["company"],
            "street": address["street"], "city": address["city"],
            "postal_code": address["zip"], "country": address["country_code"]}


def expected_outputs(orders: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in (
        "erp/PL01-sales-orders.jsonl", "erp/DE01-sales-orders.jsonl",
        "erp/EU01-sales-orders.jsonl", "crm/accounts.jsonl", "crm/contacts.jsonl",
        "wms/WH-LDZ-pick-lists.jsonl", "wms/WH-LEJ-pick-lists.jsonl")}
    for o in orders:
        if o["status"] == "cancelled":
            continue
        c = o["customer"]
        net = round(sum(float(li["price"]) * li["quantity"] for li in o["line_items"]), 2)
        shipping = float(o["shipping"]["price"])
        tax = round((net + shipping) * o["tax_rate"], 2)
        gross = round(net + shipping + tax, 2)
        erp = {
            "external_id": str(o["id"]), "order_number": o["name"],
            "sales_org": o["market"] + "01",
            "order_type": "ZB2B" if o["type"] == "b2b" else "OR",
            "sold_to": c["vat_id"] or c["email"],
            "ship_to": ship_to(o["shipping_address"]),
            "currency": o["currency"], "order_date": o["created_at"],
            "payment_status": o["status"],
            "lines": [{"material": li["sku"], "description": li["title"],
                       "quantity": li["quantity"], "unit_price": float(li["price"]),
                       "net": round(float(li["price"]) * li["quantity"], 2)}
                      for li in o["line_items"]],
            "net": net, "shipping": shipping, "tax": tax, "gross": gross,
        }
        entity = {"PL": "PL01", "DE": "DE01", "AT": "DE01"}.get(o["market"], "EU01")
        out[f"erp/{entity}-sales-orders.jsonl"].append(erp)
        last_order = {"id": str(o["id"]), "total": gross, "currency": o["currency"]}
        if o["type"] == "b2b":
            b = o["billing_address"]
            out["crm/accounts.jsonl"].append({
                "external_id": c["vat_id"], "name": c["company"], "vat_id": c["vat_id"],
                "country": o["market"],
                "billing_address": {"street": b["street"], "city": b["city"],
                                    "postal_code": b["zip"], "country": b["country_code"]},
                "primary_contact": {"email": c["email"], "first_name": c["first_name"],
                                    "last_name": c["last_name"], "phone": c["phone"]},
                "last_order": last_order,
            })
        else:
            out["crm/contacts.jsonl"].append({
                "email": c["email"], "first_name": c["first_name"],
                "last_name": c["last_name"], "phone": c["phone"], "country": o["market"],
                "language": c["locale"], "marketing_opt_in": c["accepts_marketing"],
                "lifecycle_stage": "customer", "last_order": last_order,
            })
        if o["status"] == "paid":
            warehouse = "WH-LDZ" if o["market"] in CENTRAL else "WH-LEJ"
            out[f"wms/{warehouse}-pick-lists.jsonl"].append({
                "order_id": str(o["id"]), "warehouse": warehouse,
                "carrier": o["shipping"]["method"],
                "ship_to": ship_to(o["shipping_address"]),
                "lines": [{"sku": li["sku"], "description": li["title"],
                           "quantity": li["quantity"]} for li in o["line_items"]],
                "units": sum(li["quantity"] for li in o["line_items"]),
                "note": o.get("note", ""),
            })
    return out


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the files the flow reads, so outputs land in a temporary out/."""
    for rel in ("flows/order.yaml", "examples/data/orders.jsonl",
                "schemas/examples/shop-order.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ORDERS_FILE", None)
    return subprocess.run([sys.executable, "-m", "integrator", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_output_record_is_right(project: Path) -> None:
    orders = read_jsonl(project / "examples/data/orders.jsonl")
    assert len(orders) >= 1000
    result = run_cli(project, "run", "flows/order.yaml", "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed"
    assert report["read"] == len(orders) == report["acked"]
    cancelled = sum(o["status"] == "cancelled" for o in orders)
    assert report["filtered"] == cancelled and report["dead_lettered"] == 0
    expected = expected_outputs(orders)
    produced = sorted(str(p.relative_to(project / "out")) for p in
                      (project / "out").rglob("*") if p.is_file())
    assert produced == sorted(expected)  # no partial or stray files
    for rel, records in expected.items():
        assert records, rel
        assert read_jsonl(project / "out" / rel) == records, rel
    sinks = report["sinks"]
    assert sinks["erp_pl"]["out"] == len(expected["erp/PL01-sales-orders.jsonl"])
    assert sum(s["failed"] for s in sinks.values()) == 0


def test_text_summary_and_rerun_overwrites(project: Path) -> None:
    first = run_cli(project, "run", "flows/order.yaml", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "order: completed" in first.stdout and "erp_pl" in first.stdout
    before = (project / "out/crm/contacts.jsonl").read_bytes()
    second = run_cli(project, "run", "flows/order.yaml", "--no-progress")
    assert second.returncode == 0
    assert (project / "out/crm/contacts.jsonl").read_bytes() == before


def test_bad_orders_are_dead_lettered_with_their_place(project: Path) -> None:
    good = (project / "examples/data/orders.jsonl").read_text(encoding="utf-8").splitlines()
    broken = json.loads(good[1])
    broken["line_items"] = []  # fails the schema
    lines = [good[0], json.dumps(broken), "{not json", "[1, 2]", "x" * 5_000_000, good[2]]
    bad_file = project / "bad.jsonl"
    bad_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(project, "run", "flows/order.yaml", "--input", "bad.jsonl",
                     "--output", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["read"] == 6 and report["acked"] == 6
    assert report["dead_lettered"] == 4
    assert report["errors_by_class"] == {"ValidationError": 1, "DecodeError": 3}
    letters = read_jsonl(project / ".integrator/order/dead-letters.jsonl")
    assert sorted((d["meta"].get("line"), d["step"]) for d in letters) == [
        (2, "validate#2"), (3, "source"), (4, "source"), (5, "source")]
    letters = [d for d in letters if d["step"] == "validate#2"]
    assert letters[0]["keys"] == {"order": broken["id"], "customer": broken["customer"]["email"],
                                  "market": broken["market"]}
    assert letters[0]["original"]["line_items"] == []


def test_dry_run_writes_nothing(project: Path) -> None:
    result = run_cli(project, "run", "flows/order.yaml", "--dry-run", "--limit", "50",
                     "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["read"] == 50 and report["dry_run"] is True
    assert not (project / "out").exists()
    assert len(report["samples"]["erp_pl"]) >= 1
