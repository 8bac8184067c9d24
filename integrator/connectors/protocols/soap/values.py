"""SOAP answers as plain JSON values.

zeep turns a response into objects (``CompoundValue``, ``Decimal``, ``datetime``, lxml
elements for ``xsd:any``); ``zeep.helpers.serialize_object`` makes dicts and lists of
them, and :func:`json_safe` finishes the job so the value can go into a message body,
a dead letter or a JSONL file unchanged:

=====================================  ===============================================
XSD type (Python value)                JSON value
=====================================  ===============================================
decimal (``Decimal``)                  text, exactly as sent (``"12.50"``) — the
                                       default; ``decimals: number`` gives a number
                                       (an integer when whole, else a float)
float / double                         a number; ``NaN`` / ``INF`` / ``-INF`` as text
dateTime, date, time                   ISO 8601 text (``2024-05-01T10:00:00+02:00``,
                                       ``2024-05-01``, ``10:00:00``); a timezone is kept
duration (``timedelta``, ``Duration``)  ISO 8601 duration text (``P1DT2H``)
base64Binary / hexBinary (``bytes``)   base64 text
QName                                  ``{namespace}local`` text
xsd:any content (lxml element)         the element as XML text
nil / absent                           null
=====================================  ===============================================
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["DECIMAL_MODES", "json_safe"]

DECIMAL_MODES = ("string", "number")
_MAX_DEPTH = 200


def _decimal(value: Decimal, mode: str) -> Any:
    if not value.is_finite():
        return "NaN" if value.is_nan() else ("-INF" if value < 0 else "INF")
    if mode == "number":
        return int(value) if value == value.to_integral_value() else float(value)
    return format(value, "f")  # "1E+2" would surprise; "100" does not


def _other(value: Any) -> Any:
    """Values that are neither JSON nor containers: lxml nodes, QNames, durations."""
    tag = getattr(value, "tag", None)
    if tag is not None and hasattr(value, "iterchildren"):  # an lxml element (xsd:any)
        from lxml import etree  # type: ignore[import-untyped]

        return etree.tostring(value, encoding="unicode")
    if type(value).__name__ == "QName" and hasattr(value, "text"):
        return str(value.text)
    if type(value).__name__ == "Duration":  # isodate's duration with years / months
        import isodate  # type: ignore[import-untyped]

        return str(isodate.duration_isoformat(value))
    return str(value)


def json_safe(value: Any, *, decimals: str = "string", _depth: int = 0) -> Any:
    """``value`` (from ``serialize_object``) with only JSON types left; see the table."""
    if _depth > _MAX_DEPTH:
        raise ValueError(f"the answer is nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("-INF" if value < 0 else "INF")
    if isinstance(value, Decimal):
        return _decimal(value, decimals)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        import isodate

        return str(isodate.duration_isoformat(value))
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, decimals=decimals, _depth=_depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, decimals=decimals, _depth=_depth + 1) for v in value]
    return _other(value)
