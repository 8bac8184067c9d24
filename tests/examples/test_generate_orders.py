"""The example order generator: determinism, realism rules, the committed data and its schema."""

from __future__ import annotations

import copy
import importlib.util
import io
import itertools
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, ValidationError

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "examples" / "generate_orders.py"
COMMITTED = REPO / "examples" / "data" / "orders.jsonl"
SCHEMA = REPO / "schemas" / "examples" / "shop-order.json"

MARKETS = {"PL", "DE", "CZ", "SK", "HU", "RO", "LT", "LV", "EE", "AT", "FR", "IT", "ES", "NL", "SE"}
KEYS = [
    "id", "name", "created_at", "market", "currency", "channel", "type", "status", "customer",
    "billing_address", "shipping_address", "shipping", "line_items", "tax_rate",
]
MONEY = re.compile(r"^\d+\.\d{2}$")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_orders", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="module")
def orders_5000(gen: ModuleType) -> list[dict[str, Any]]:
    return list(gen.generate(5000, seed=3))


@pytest.fixture(scope="module")
def committed() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in COMMITTED.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _jsonl(gen: ModuleType, count: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    assert gen.write_jsonl(gen.generate(count, seed), buffer) == count
    return buffer.getvalue()


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes(gen: ModuleType) -> None:
    first = _jsonl(gen, 2000, 11)
    assert first == _jsonl(gen, 2000, 11)
    assert first != _jsonl(gen, 2000, 12)
    assert first.count(b"\n") == 2000


def test_determinism_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"orders-{hash_seed}.jsonl"
        subprocess.run(
            [sys.executable, str(GENERATOR), "--count", "300", "--seed", "5", "--out", str(out)],
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_committed_file_is_what_the_cli_writes(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--count", "1200", "--seed", "7", "--out", str(out)],
        check=True,
    )
    assert out.read_bytes() == COMMITTED.read_bytes()


def test_cli_rejects_a_negative_count() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--count", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "--count must be >= 0" in proc.stderr
    assert proc.stdout == ""


# --- shape and realism ----------------------------------------------------------------------


def test_committed_file_is_compact_utf8_json_lines_with_keys_in_order() -> None:
    raw = COMMITTED.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1201
    for number, line in enumerate(lines[:-1]):
        order = orjson.loads(line)
        assert orjson.dumps(order) == line  # compact, nothing escaped that need not be
        assert list(order)[: len(KEYS)] == KEYS
        assert list(order)[len(KEYS) :] in ([], ["note"])
        assert order["id"] == 100001 + number
        assert order["name"] == f"#{order['id']}"
    assert "Łukasz".encode() in raw or "ł".encode() in raw  # real UTF-8, not \\u escapes


def _longest_absence(seen: list[int], count: int) -> int:
    """The largest step between sightings, counted from just before the first order to just
    after the last: a market is in every window of 1000 orders iff this is at most 1000."""
    gaps = [seen[0] + 1, count - seen[-1]]
    gaps += [b - a for a, b in itertools.pairwise(seen)]
    return max(gaps)


def test_every_market_is_in_any_1000_consecutive_orders(gen: ModuleType) -> None:
    count = 20_000
    positions: dict[str, list[int]] = {}
    for i, order in enumerate(gen.generate(count, seed=1)):
        positions.setdefault(order["market"], []).append(i)
    assert set(positions) == MARKETS
    for market, seen in positions.items():
        assert _longest_absence(seen, count) <= 1000, market


def test_a_market_that_is_never_drawn_still_appears_in_every_1000_orders(
    gen: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LT (index 6) and SE (last) get weight 0: only the overdue-market rule can place them
    weights = [0 if m.code in ("LT", "SE") else m.weight for m in gen.MARKETS]
    cumulative = tuple(sum(weights[: i + 1]) for i in range(len(weights)))
    monkeypatch.setattr(gen, "_MARKET_CUM_WEIGHTS", cumulative)
    markets = [o["market"] for o in gen.generate(6000, seed=2)]
    for rare in ("LT", "SE"):
        seen = [i for i, m in enumerate(markets) if m == rare]
        assert 5 <= len(seen) <= 8  # forced about every 900-980 orders, not drawn
        assert _longest_absence(seen, len(markets)) <= 1000


def test_pl_and_de_are_the_biggest_markets(orders_5000: list[dict[str, Any]]) -> None:
    counts = Counter(o["market"] for o in orders_5000)
    assert [m for m, _ in counts.most_common(2)] == ["PL", "DE"]


def test_about_30_percent_are_b2b(orders_5000: list[dict[str, Any]]) -> None:
    share = sum(o["type"] == "b2b" for o in orders_5000) / len(orders_5000)
    assert 0.2 <= share <= 0.4


def test_b2b_exactly_when_there_is_a_vat_id(orders_5000: list[dict[str, Any]]) -> None:
    for order in orders_5000:
        customer = order["customer"]
        if order["type"] == "b2b":
            assert customer["vat_id"] and customer["company"]
            assert order["billing_address"]["company"] == customer["company"]
        else:
            assert order["type"] == "b2c"
            assert customer["vat_id"] is None and customer["company"] is None


def test_prices_are_strings_with_two_decimals(orders_5000: list[dict[str, Any]]) -> None:
    for order in orders_5000:
        assert MONEY.match(order["shipping"]["price"])
        assert 1 <= len(order["line_items"]) <= 5
        for item in order["line_items"]:
            assert isinstance(item["price"], str) and MONEY.match(item["price"]), item
            assert 1 <= item["quantity"] <= 5


def test_shares_of_status_notes_and_other_addresses(orders_5000: list[dict[str, Any]]) -> None:
    n = len(orders_5000)
    status = Counter(o["status"] for o in orders_5000)
    assert 0.85 <= status["paid"] / n <= 0.95
    assert 0.03 <= status["pending"] / n <= 0.09
    assert 0.02 <= status["cancelled"] / n <= 0.07
    assert 0.06 <= sum("note" in o for o in orders_5000) / n <= 0.14
    differ = sum(o["shipping_address"] != o["billing_address"] for o in orders_5000)
    assert 0.1 <= differ / n <= 0.2
    notes = [o["note"] for o in orders_5000 if "note" in o]
    assert any("\n" in t for t in notes) and any('"' in t for t in notes)
    assert any("," in t for t in notes) and any(not t.isascii() for t in notes)


def test_market_rules(orders_5000: list[dict[str, Any]]) -> None:
    currency = {"PL": "PLN", "CZ": "CZK", "HU": "HUF", "RO": "RON", "SE": "SEK"}
    for order in orders_5000:
        market = order["market"]
        assert order["currency"] == currency.get(market, "EUR")
        if order["channel"] == "allegro" or order["shipping"]["method"] == "inpost":
            assert market == "PL"
        assert order["customer"]["email"].endswith(f"@example.{market.lower()}")
        assert order["billing_address"]["country_code"] == market
    channels = Counter(o["channel"] for o in orders_5000 if o["market"] == "PL")
    assert channels["allegro"] > 0


def test_created_at_is_in_october_or_november_with_the_local_offset(
    committed: list[dict[str, Any]],
) -> None:
    eastern = {"RO", "LT", "LV", "EE"}  # EET; the rest are on CET
    summer_end = datetime.fromisoformat("2026-10-25T01:00:00+00:00")
    previous = None
    for order in committed:
        created = datetime.fromisoformat(order["created_at"])
        assert (created.year, created.month) in ((2026, 10), (2026, 11))
        assert created.microsecond == 0
        winter = 2 if order["market"] in eastern else 1
        summer = created < summer_end
        assert created.utcoffset() == timedelta(hours=winter + summer), order["created_at"]
        assert previous is None or created >= previous  # ids rise with time
        previous = created


# --- the schema -----------------------------------------------------------------------------


def test_all_committed_orders_validate(
    committed: list[dict[str, Any]], validator: Draft202012Validator
) -> None:
    assert len(committed) == 1200
    problems = [
        f"{o['id']} {e.json_path}: {e.message}" for o in committed for e in validator.iter_errors(o)
    ]
    assert problems == []


def test_schema_identifies_itself() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://integrator.dev/schemas/examples/shop-order.json"
    assert schema["title"] and schema["description"]


def _errors(validator: Draft202012Validator, order: dict[str, Any]) -> list[ValidationError]:
    return list(validator.iter_errors(order))


def _has(errors: list[ValidationError], kind: str, path: list[Any], text: str = "") -> bool:
    return any(
        e.validator == kind and list(e.absolute_path) == path and text in e.message
        for e in errors
    )


@pytest.fixture
def order(committed: list[dict[str, Any]], validator: Draft202012Validator) -> dict[str, Any]:
    """A deep copy of a valid committed order, to break in one place."""
    good = copy.deepcopy(next(o for o in committed if len(o["line_items"]) >= 2))
    assert _errors(validator, good) == []
    return good


@pytest.mark.parametrize("key", ["id", "customer", "line_items"])
def test_schema_rejects_a_missing_key(
    order: dict[str, Any], validator: Draft202012Validator, key: str
) -> None:
    del order[key]
    assert _has(_errors(validator, order), "required", [], f"'{key}' is a required property")


def test_schema_rejects_empty_line_items(
    order: dict[str, Any], validator: Draft202012Validator
) -> None:
    order["line_items"] = []
    assert _has(_errors(validator, order), "minItems", ["line_items"])


@pytest.mark.parametrize("quantity", [0, -1])
def test_schema_rejects_quantity_below_one(
    order: dict[str, Any], validator: Draft202012Validator, quantity: int
) -> None:
    order["line_items"][1]["quantity"] = quantity
    errors = _errors(validator, order)
    assert _has(errors, "minimum", ["line_items", 1, "quantity"])
    assert len(errors) == 1


@pytest.mark.parametrize("price", ["49.9", "49,99", "49.999", "49", ".99", " 49.99"])
def test_schema_rejects_a_price_that_is_not_two_decimals(
    order: dict[str, Any], validator: Draft202012Validator, price: str
) -> None:
    order["line_items"][0]["price"] = price
    assert _has(_errors(validator, order), "pattern", ["line_items", 0, "price"])


def test_schema_rejects_a_price_as_a_number(
    order: dict[str, Any], validator: Draft202012Validator
) -> None:
    order["line_items"][0]["price"] = 49.99
    assert _has(_errors(validator, order), "type", ["line_items", 0, "price"], "'string'")


def test_schema_rejects_a_shipping_price_that_is_not_two_decimals(
    order: dict[str, Any], validator: Draft202012Validator
) -> None:
    order["shipping"]["price"] = "4.9"
    assert _has(_errors(validator, order), "pattern", ["shipping", "price"])


@pytest.mark.parametrize("market", ["GB", "pl", "", "EL"])
def test_schema_rejects_an_unknown_market(
    order: dict[str, Any], validator: Draft202012Validator, market: str
) -> None:
    order["market"] = market
    assert _has(_errors(validator, order), "enum", ["market"])


@pytest.mark.parametrize(
    "email",
    [
        "Jan.Kowalski@example.pl",
        "jan.kowalski@",
        "jan.kowalski.example.pl",
        "jan kowalski@example.pl",
        "jan..kowalski@example.pl",
        "jan@example",
        "łukasz@example.pl",
    ],
)
def test_schema_rejects_a_bad_email(
    order: dict[str, Any], validator: Draft202012Validator, email: str
) -> None:
    order["customer"]["email"] = email
    assert _has(_errors(validator, order), "pattern", ["customer", "email"])


def test_schema_rejects_a_currency_that_does_not_match_the_market(
    order: dict[str, Any], validator: Draft202012Validator
) -> None:
    order["currency"] = "USD" if order["currency"] != "USD" else "EUR"
    errors = _errors(validator, order)
    assert any(list(e.absolute_path) == ["currency"] for e in errors)


def test_schema_rejects_b2b_without_vat_id(
    committed: list[dict[str, Any]], validator: Draft202012Validator
) -> None:
    b2b = copy.deepcopy(next(o for o in committed if o["type"] == "b2b"))
    b2b["customer"]["vat_id"] = None
    assert _has(_errors(validator, b2b), "type", ["customer", "vat_id"], "'string'")


def test_schema_rejects_a_vat_id_in_another_markets_format(
    committed: list[dict[str, Any]], validator: Draft202012Validator
) -> None:
    pl = copy.deepcopy(next(o for o in committed if o["type"] == "b2b" and o["market"] == "PL"))
    pl["customer"]["vat_id"] = "DE123456789"
    errors = _errors(validator, pl)
    assert any(list(e.absolute_path) == ["customer", "vat_id"] for e in errors)
