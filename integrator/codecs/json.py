"""JSON: thin wrappers over orjson that speak integrator's errors.

* :func:`loads` — bytes or text → Python value; malformed input raises
  :class:`~integrator.errors.DecodeError` naming the place ("orders.jsonl:57: invalid
  JSON: unexpected character at column 13") with ``file``/``line``/``column`` in
  ``context``.
* :func:`dumps` / :func:`dumps_pretty` — Python value → compact / indented UTF-8 bytes,
  non-ASCII kept as is. ``Decimal`` is written as a JSON number with its exact digits
  (SQL money columns survive the round trip). Anything orjson cannot encode (sets, bytes,
  non-string keys, NaN decimals, integers beyond 64 bits) raises
  :class:`~integrator.errors.ConversionError`.

Hot loops (the JSONL reader) call ``orjson.loads`` directly and build the error with
:func:`decode_error` only when it fails, so the happy path costs nothing extra.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from integrator.errors import ConversionError, DecodeError

__all__ = ["decode_error", "dumps", "dumps_pretty", "kind_of", "loads"]


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    where: str = "",
    file: str | None = None,
    line: int | None = None,
) -> Any:
    """Decode one JSON document.

    ``where`` prefixes the error message (default ``file:line`` when those are given);
    ``file`` and ``line`` go into the error's ``context``. When ``line`` is given the
    document is taken to be that one line, and errors name only the column.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise decode_error(exc, where=where, file=file, line=line) from None


def decode_error(
    exc: orjson.JSONDecodeError,
    *,
    where: str = "",
    file: str | None = None,
    line: int | None = None,
) -> DecodeError:
    """The DecodeError for a failed ``orjson.loads`` (see :func:`loads` for the arguments)."""
    reason = exc.msg
    context: dict[str, Any] = {}
    if file is not None:
        context["file"] = file
    if line is not None:
        # one document per line: the line is known, the column is what helps
        context["line"] = line
        context["column"] = exc.colno
        place = f"at column {exc.colno}"
    else:
        context["line"] = exc.lineno
        context["column"] = exc.colno
        place = f"at line {exc.lineno} column {exc.colno}"
    if not where:
        where = file or ""
        if file is not None and line is not None:
            where = f"{file}:{line}"
    prefix = f"{where}: " if where else ""
    if "zero-length" in reason:
        message = f"{prefix}invalid JSON: the document is empty"
    elif "UTF-8" in reason:
        message = f"{prefix}invalid JSON: the text is not valid UTF-8"
    else:
        message = f"{prefix}invalid JSON: {reason} {place}"
    return DecodeError(
        message,
        hint="check the producer of this file; each document must be valid JSON (RFC 8259)",
        context=context,
    )


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"Decimal {value} has no JSON representation")
        return orjson.Fragment(str(value).encode("ascii"))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; ConversionError when ``value`` cannot be JSON."""
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError as exc:
        raise _encode_error(exc) from None


def dumps_pretty(value: Any) -> bytes:
    """JSON indented by two spaces; ConversionError when ``value`` cannot be JSON."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError as exc:
        raise _encode_error(exc) from None


def _encode_error(exc: orjson.JSONEncodeError) -> ConversionError:
    return ConversionError(
        f"cannot encode as JSON: {exc}",
        hint="convert the value in a map step (sets to lists, bytes to base64 text, "
             "object keys to text)",
    )


def kind_of(value: Any) -> str:
    """``"an array"``, ``"a number"`` ... — the JSON kind of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
