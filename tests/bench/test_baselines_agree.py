"""The two order fan-out baselines write the same bytes, and the right ones."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINES = {
    "plain": REPO / "bench" / "order_fanout" / "baseline_plain.py",
    "per-field": REPO / "bench" / "order_fanout" / "baseline_per_field.py",
}
MARKETS = ["PL", "DE", "CZ", "SK", "HU", "RO", "LT", "LV", "EE", "AT", "FR", "IT", "ES", "NL", "SE"]


def _generated_orders(count: int, seed: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location(
        "generate_orders", REPO / "examples" / "generate_orders.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while it executes
    spec.loader.exec_module(module)
    return list(module.generate(count, seed))


def _write_jsonl(path: Path, orders: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in orders))


def _run(variant: str, source: Path, out_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BASELINES[variant]), str(source), str(out_dir)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    result: dict[str, Any] = orjson.loads(lines[0])
    return result


def _files(out_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """300 generated orders and both baselines' outputs for them."""
    base = tmp_path_factory.mktemp("fanout")
    orders = _generated_orders(300, seed=7)
    source = base / "orders.jsonl"
    _write_jsonl(source, orders)
    runs = {v: _run(v, source, base / v) for v in BASELINES}
    return {
        "orders": orders,
        "runs": runs,
        "files": {v: _files(base / v) for v in BASELINES},
    }


def test_both_report_every_order(generated: dict[str, Any]) -> None:
    for variant, result in generated["runs"].items():
        assert list(result) == ["variant", "orders", "seconds"]
        assert result["variant"] == variant
        assert result["orders"] == 300
        assert isinstance(result["seconds"], float) and result["seconds"] > 0


def test_the_16_files_are_byte_identical(generated: dict[str, Any]) -> None:
    plain, per_field = generated["files"]["plain"], generated["files"]["per-field"]
    expected_names = {"crm.jsonl"} | {f"erp-{m}.jsonl" for m in MARKETS}
    assert set(plain) == expected_names
    assert set(per_field) == expected_names
    for name in sorted(expected_names):
        assert plain[name] == per_field[name], name


def test_every_order_lands_once_in_its_market_file(generated: dict[str, Any]) -> None:
    orders, files = generated["orders"], generated["files"]["plain"]
    per_market = Counter(o["market"] for o in orders)
    assert set(Counter(o["status"] for o in orders)) == {"paid", "pending", "cancelled"}
    for market in MARKETS:
        docs = [orjson.loads(line) for line in files[f"erp-{market}.jsonl"].splitlines()]
        assert len(docs) == per_market[market]
        expected_ids = [str(o["id"]) for o in orders if o["market"] == market]
        assert [d["external_id"] for d in docs] == expected_ids  # input order kept
        assert {d["sales_org"] for d in docs} == {f"{market}01"}
    contacts = [orjson.loads(line) for line in files["crm.jsonl"].splitlines()]
    assert [c["last_order_id"] for c in contacts] == [str(o["id"]) for o in orders]


def test_b2b_orders_are_sold_to_the_vat_id(generated: dict[str, Any]) -> None:
    orders = {str(o["id"]): o for o in generated["orders"]}
    files = generated["files"]["plain"]
    seen = Counter()
    for market in MARKETS:
        for line in files[f"erp-{market}.jsonl"].splitlines():
            doc = orjson.loads(line)
            customer = orders[doc["external_id"]]["customer"]
            if customer["vat_id"]:
                assert (doc["order_type"], doc["sold_to"]) == ("ZB2B", customer["vat_id"])
            else:
                assert (doc["order_type"], doc["sold_to"]) == ("OR", customer["email"])
            seen[doc["order_type"]] += 1
    assert seen["ZB2B"] > 0 and seen["OR"] > 0


# --- hand-computed expectations -------------------------------------------------------------


def _order(number: int, market: str, **fields: Any) -> dict[str, Any]:
    address = {"name": "x", "company": None, "street": "y", "city": "z", "zip": "00-001",
               "country_code": market}
    order = {
        "id": number,
        "name": f"#{number}",
        "created_at": fields.pop("created_at"),
        "market": market,
        "currency": fields.pop("currency"),
        "channel": "shopify",
        "type": fields.pop("type"),
        "status": fields.pop("status"),
        "customer": fields.pop("customer"),
        "billing_address": address,
        "shipping_address": address,
        "shipping": {"method": "dhl", "price": "0.00"},
        "line_items": fields.pop("line_items"),
        "tax_rate": fields.pop("tax_rate"),
        "note": 'a "note", with\nnewline',
    }
    assert not fields
    return order


HAND_ORDERS = [
    _order(
        42, "PL",
        created_at="2026-10-05T12:00:00+02:00", currency="PLN", type="b2c", status="paid",
        customer={"id": 1, "email": "jan.kowalski@example.pl", "first_name": "Jan",
                  "last_name": "Kowalski", "phone": "+48 512 345 678", "company": None,
                  "vat_id": None, "accepts_marketing": True, "locale": "pl-PL"},
        line_items=[
            {"sku": "SKU-10001", "title": "Kubek", "quantity": 3, "price": "19.99"},
            {"sku": "SKU-10002", "title": "Łyżka", "quantity": 1, "price": "5.00"},
            {"sku": "SKU-10003", "title": "Nóż", "quantity": 3, "price": "0.35"},
        ],
        tax_rate=0.23,
    ),
    _order(
        43, "DE",
        created_at="2026-11-27T09:30:00+01:00", currency="EUR", type="b2b", status="cancelled",
        customer={"id": 2, "email": "j.mueller@example.de", "first_name": "Jürgen",
                  "last_name": "Müller", "phone": "+49 151 23456789",
                  "company": "Müller Handels GmbH", "vat_id": "DE123456789",
                  "accepts_marketing": False, "locale": "de-DE"},
        line_items=[
            {"sku": "SKU-20001", "title": "Kaffeebecher Größe M", "quantity": 2,
             "price": "120.00"},
            {"sku": "SKU-20002", "title": "Löffel", "quantity": 1, "price": "9.99"},
        ],
        tax_rate=0.19,
    ),
]

# Worked by hand:
#  #42: lines 19.99*3 = 59.97, 5.00*1 = 5.00, 0.35*3 = 1.05 (1.0499999999999998 in floats,
#       rounded to 1.05); net 66.02; tax 66.02*0.23 = 15.1846 -> 15.18; gross 81.20.
#  #43: lines 120.00*2 = 240.00, 9.99*1 = 9.99; net 249.99; tax 249.99*0.19 = 47.4981 -> 47.50;
#       gross 297.49. Cancelled, and still mapped: nothing is filtered by status.
EXPECTED = {
    "erp-PL.jsonl": (
        '{"external_id":"42","order_number":"#42","sales_org":"PL01","order_type":"OR",'
        '"sold_to":"jan.kowalski@example.pl","currency":"PLN",'
        '"created_at":"2026-10-05T12:00:00+02:00","lines":['
        '{"material":"SKU-10001","qty":3,"price":19.99,"net":59.97},'
        '{"material":"SKU-10002","qty":1,"price":5.0,"net":5.0},'
        '{"material":"SKU-10003","qty":3,"price":0.35,"net":1.05}],'
        '"net":66.02,"tax":15.18,"gross":81.2}\n'
    ),
    "erp-DE.jsonl": (
        '{"external_id":"43","order_number":"#43","sales_org":"DE01","order_type":"ZB2B",'
        '"sold_to":"DE123456789","currency":"EUR","created_at":"2026-11-27T09:30:00+01:00",'
        '"lines":[{"material":"SKU-20001","qty":2,"price":120.0,"net":240.0},'
        '{"material":"SKU-20002","qty":1,"price":9.99,"net":9.99}],'
        '"net":249.99,"tax":47.5,"gross":297.49}\n'
    ),
    "crm.jsonl": (
        '{"email":"jan.kowalski@example.pl","first_name":"Jan","last_name":"Kowalski",'
        '"company":null,"vat_id":null,"phone":"+48 512 345 678","country":"PL",'
        '"language":"pl-PL","marketing_consent":true,"last_order_id":"42",'
        '"last_order_total":81.2,"currency":"PLN","lifecycle_stage":"customer"}\n'
        '{"email":"j.mueller@example.de","first_name":"Jürgen","last_name":"Müller",'
        '"company":"Müller Handels GmbH","vat_id":"DE123456789","phone":"+49 151 23456789",'
        '"country":"DE","language":"de-DE","marketing_consent":false,"last_order_id":"43",'
        '"last_order_total":297.49,"currency":"EUR","lifecycle_stage":"customer"}\n'
    ),
}


@pytest.mark.parametrize("variant", sorted(BASELINES))
def test_hand_computed_orders(tmp_path: Path, variant: str) -> None:
    source = tmp_path / "orders.jsonl"
    _write_jsonl(source, HAND_ORDERS)
    result = _run(variant, source, tmp_path / "out")
    assert result["orders"] == 2
    files = _files(tmp_path / "out")
    assert {name: data.decode("utf-8") for name, data in files.items()} == EXPECTED


@pytest.mark.parametrize("variant", sorted(BASELINES))
def test_blank_lines_are_skipped(tmp_path: Path, variant: str) -> None:
    source = tmp_path / "orders.jsonl"
    source.write_bytes(
        b"\n" + orjson.dumps(HAND_ORDERS[0]) + b"\n   \n" + orjson.dumps(HAND_ORDERS[1]) + b"\n"
    )
    assert _run(variant, source, tmp_path / "out")["orders"] == 2
    assert _files(tmp_path / "out")["crm.jsonl"].decode("utf-8") == EXPECTED["crm.jsonl"]


@pytest.mark.parametrize("variant", sorted(BASELINES))
def test_wrong_arguments_exit_2_with_usage(tmp_path: Path, variant: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BASELINES[variant]), str(tmp_path / "only-one-arg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr and "INPUT OUTDIR" in proc.stderr
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []
