"""Values between SQL drivers and JSON-shaped messages.

Reading (rows → message bodies), :func:`json_safe`:

=====================================  ==============================================
driver value                           message value
=====================================  ==============================================
NULL, bool, int, str                   as they are
float                                  float; NaN, Infinity, -Infinity as text
                                       ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
Decimal (NUMERIC, DECIMAL, MONEY)      text ``"12.50"`` (exact), or a float when the
                                       source option ``decimals: number`` is set
datetime                               ISO 8601 text, ``2024-05-01T10:00:00`` (naive)
                                       or ``2024-05-01T10:00:00+00:00`` (with zone)
date / time                            ``2024-05-01`` / ``10:00:00.250000``
timedelta (PostgreSQL interval)        seconds, a number
UUID                                   text
bytes, bytearray, memoryview (BYTEA,   base64 text (standard alphabet, padded)
BLOB, BINARY, BIT)
dict / list (PostgreSQL json, jsonb,   the same structure, values made safe
arrays)
set (MySQL SET)                        a sorted list of text
anything else (inet, ranges, ...)      ``str(value)``
=====================================  ==============================================

MariaDB's JSON columns arrive as text (MariaDB stores JSON as LONGTEXT), SQLite's
dates and decimals as whatever the row holds (text, integer or real): SQLite has no
such types.

Writing (message values → bind parameters), :func:`to_bind`: objects and lists become
JSON text (for json, jsonb and text columns); every other JSON value is bound as it is
and the database converts it (PostgreSQL parses text into dates, numbers, uuids).

Watermark positions are stored in the connector state as JSON; :func:`encode_position`
and :func:`decode_position` keep their type (a timestamp stays a timestamp when it is
bound again).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

__all__ = [
    "decode_position",
    "encode_position",
    "json_safe",
    "row_converter",
    "to_bind",
]

_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _bytes(value: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def json_safe(value: Any, decimals_as_number: bool = False) -> Any:
    """A JSON-shaped copy of one driver value (see the table in the module docstring)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return _float(value)
    if isinstance(value, Decimal):
        if decimals_as_number:
            return _float(float(value))
        return "NaN" if value.is_nan() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v, decimals_as_number) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, decimals_as_number) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, bool | int | str):  # subclasses (enum.IntEnum, str enums)
        return value
    return str(value)


def row_converter(
    columns: Sequence[str], decimals_as_number: bool = False
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function turning one result row (a tuple) into a JSON-safe dict by column name."""
    names = tuple(columns)
    plain = _PLAIN

    def convert(row: Sequence[Any]) -> dict[str, Any]:
        return {name: value if type(value) in plain else json_safe(value, decimals_as_number)
                for name, value in zip(names, row, strict=True)}

    return convert


def to_bind(value: Any) -> Any:
    """A message value as a bind parameter: objects and lists as JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode("utf-8")
    return value


# -- watermark positions ----------------------------------------------------------------

_TAGS: dict[str, Callable[[Any], Any]] = {
    "decimal": Decimal,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "bytes": base64.b64decode,
    "interval": lambda seconds: dt.timedelta(seconds=seconds),
}


def encode_position(value: Any) -> Any:
    """A watermark or key value as JSON that :func:`decode_position` turns back.

    Raises TypeError for a value of a type that cannot be a position (the source
    reports it as a configuration problem).
    """
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise TypeError(f"the value {value!r} cannot be a watermark")
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"interval": value.total_seconds()}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": _bytes(value)}
    if isinstance(value, int | str):
        return int(value) if isinstance(value, int) else str(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be a watermark")


def decode_position(value: Any) -> Any:
    """The driver value :func:`encode_position` stored; ValueError when unreadable."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"not a stored position: {value!r}")
        (tag, text), = value.items()
        decode = _TAGS.get(tag)
        if decode is None:
            raise ValueError(f"unknown position type {tag!r}")
        try:
            return decode(text)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"stored {tag} position {text!r} is unreadable: {exc}") \
                from None
    if isinstance(value, list):
        raise ValueError(f"not a stored position: {value!r}")
    return value
