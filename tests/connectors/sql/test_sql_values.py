"""Values between drivers and messages: the JSON-safe mapping and stored positions."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from integrator.connectors.protocols.sql.values import (
    decode_position,
    encode_position,
    json_safe,
    row_converter,
    to_bind,
)

POSITIONS: list[Any] = [
    None, 7, "ZAM/1", True, 2.5, Decimal("12.3400"),
    dt.datetime(2024, 5, 1, 10, 0, 0, 250000),
    dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.date(2024, 5, 1), dt.time(10, 30, 0, 5), dt.timedelta(days=1, seconds=5),
    uuid.UUID("6f2b5e1c-8f0e-4c5e-9a4e-1d2c3b4a5f60"), b"\x00\xff",
]


@pytest.mark.parametrize("value", POSITIONS, ids=lambda v: type(v).__name__)
def test_positions_survive_json(value: Any) -> None:
    stored = json.loads(json.dumps(encode_position(value)))
    back = decode_position(stored)
    assert back == value and type(back) is type(value)


def test_unusable_positions() -> None:
    with pytest.raises(TypeError):
        encode_position(float("nan"))
    with pytest.raises(TypeError):
        encode_position(object())
    for bad in ({"datetime": "soon"}, {"vector": "1"}, {"a": 1, "b": 2}, [1]):
        with pytest.raises(ValueError):
            decode_position(bad)


def test_json_safe_mapping() -> None:
    assert json_safe(Decimal("1.10")) == "1.10"
    assert json_safe(Decimal("1.10"), decimals_as_number=True) == 1.1
    assert json_safe(Decimal("NaN")) == "NaN"
    assert [json_safe(float(x)) for x in ("inf", "-inf", "nan")] == [
        "Infinity", "-Infinity", "NaN"]
    assert json_safe(memoryview(b"ab")) == "YWI="
    assert json_safe({"s": {"b", "a"}, "t": (1, Decimal("2"))}) == {
        "s": ["a", "b"], "t": [1, "2"]}
    assert json_safe(dt.timedelta(minutes=1, milliseconds=500)) == 60.5
    convert = row_converter(["a", "b c"])
    assert convert((1, Decimal("3"))) == {"a": 1, "b c": "3"}


def test_bind_values() -> None:
    assert to_bind({"a": [1, "ż"]}) == '{"a":[1,"ż"]}'
    assert to_bind([1, 2]) == "[1,2]"
    assert to_bind("x") == "x" and to_bind(None) is None and to_bind(1.5) == 1.5
