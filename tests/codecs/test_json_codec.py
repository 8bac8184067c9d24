"""integrator.codecs.json: orjson wrappers that raise integrator errors with the place."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import orjson
import pytest

from integrator.codecs.json import decode_error, dumps, dumps_pretty, kind_of, loads
from integrator.errors import ConversionError, DecodeError


def test_loads_bytes_and_text() -> None:
    assert loads(b'{"a": [1, 2.5, "\xc5\xbc"]}') == {"a": [1, 2.5, "ż"]}
    assert loads('{"a": null}') == {"a": None}


def test_malformed_json_names_file_line_and_column() -> None:
    with pytest.raises(DecodeError) as info:
        loads(b'{"id": 1, "x": @}', file="orders.jsonl", line=57)
    err = info.value
    assert err.message.startswith("orders.jsonl:57: invalid JSON: unexpected character")
    assert err.message.endswith("at column 16")
    assert err.context == {"file": "orders.jsonl", "line": 57, "column": 16}


def test_multi_line_document_reports_line_inside_it() -> None:
    with pytest.raises(DecodeError) as info:
        loads(b'{\n  "a": 1,\n  "b": ]\n}', file="order.json")
    assert info.value.context == {"file": "order.json", "line": 3, "column": 8}
    assert "at line 3 column 8" in info.value.message


def test_where_overrides_the_prefix() -> None:
    with pytest.raises(DecodeError) as info:
        loads(b"[1,", where="webhook body")
    assert info.value.message.startswith("webhook body: invalid JSON: unexpected end of data")


def test_empty_and_invalid_utf8_documents() -> None:
    with pytest.raises(DecodeError, match="the document is empty"):
        loads(b"", file="a.json")
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        loads(b'{"a": "\xff"}', file="a.json")


def test_decode_error_is_built_from_an_orjson_error() -> None:
    try:
        orjson.loads(b"{]")
    except orjson.JSONDecodeError as exc:
        err = decode_error(exc, file="f.jsonl", line=3)
    assert isinstance(err, DecodeError)
    assert err.message.startswith("f.jsonl:3: invalid JSON")


def test_dumps_is_compact_utf8_and_keeps_non_ascii() -> None:
    assert dumps({"name": "Zażółć gęślą jaźń", "n": [1, None, True]}) == (
        '{"name":"Zażółć gęślą jaźń","n":[1,null,true]}'.encode()
    )


def test_dumps_pretty_indents_two_spaces() -> None:
    assert dumps_pretty({"a": [1]}) == b'{\n  "a": [\n    1\n  ]\n}'


def test_decimal_keeps_its_exact_digits() -> None:
    assert dumps({"total": Decimal("1234567890.123456789")}) == b'{"total":1234567890.123456789}'
    assert loads(dumps({"x": Decimal("12.50")})) == {"x": 12.5}


def test_dates_use_iso_format() -> None:
    assert dumps({"d": date(2024, 5, 1)}) == b'{"d":"2024-05-01"}'


@pytest.mark.parametrize("value", [
    {"a": {1, 2}},
    {"a": b"raw"},
    {1: "non-string key"},
    {"a": Decimal("NaN")},
    {"a": 2**70},
    {"a": object()},
])
def test_values_orjson_cannot_encode_raise_conversion_error(value: object) -> None:
    with pytest.raises(ConversionError, match="cannot encode as JSON"):
        dumps(value)
    with pytest.raises(ConversionError):
        dumps_pretty(value)


def test_kind_of_names_json_kinds() -> None:
    assert [kind_of(v) for v in ([], {}, "s", 1, 1.5, True, None)] == [
        "an array", "an object", "a string", "a number", "a number", "a boolean", "null"]
