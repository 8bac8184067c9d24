"""Fixed-width records: each field at a fixed column range of a line.

A :class:`Layout` is built once from field specs (what a flow's ``fields:`` option
holds) and then parses lines into dicts and formats dicts into lines::

    fields:
      - {name: id,     start: 1,  width: 6,  type: int, pad: "0"}
      - {name: name,   width: 24}                        # starts where id ends
      - {name: amount, start: 31, width: 10, type: decimal, implied_decimals: 2, pad: "0"}
      - {name: booked, start: 41, width: 8,  type: date, format: "%Y%m%d"}

Field spec keys
---------------
================  ===========================================================  ========
key               meaning                                                      default
================  ===========================================================  ========
name              the record key (required, unique)
start             first column, 1-based; without it the field starts right     after the
                  after the previous one                                       previous
width             number of characters (required, at least 1)
type              ``str`` · ``int`` · ``decimal`` · ``date``                   ``str``
pad               the padding character                                        space
align             ``left`` (padding on the right) or ``right``                 str: left,
                                                                               others: right
implied_decimals  decimal: digits only, the last N are decimals                none
                  (``"0001299"`` with 2 → ``Decimal("12.99")``)
decimals          decimal with a point: places written (``12.5`` → ``12.50``)  as given
decimal_point     decimal with a point: the separator character                ``.``
rounding          decimal writing, a value with more places than the field     ``error``
                  holds: ``error``, ``half-up`` or ``half-even``
format            date: the ``strftime`` format                                ``%Y%m%d``
================  ===========================================================  ========

Positions count characters of the decoded line (for single-byte encodings such as
cp1250 or ISO-8859-2, characters are bytes). Fields may leave gaps but must not overlap.

Reading (:meth:`Layout.parse`)
------------------------------
* ``str``: the padding on the padding side is removed (``"Anna    "`` → ``"Anna"``).
* ``int`` / ``decimal`` / ``date``: spaces (and a non-digit pad character) around the
  value are removed; a field of nothing but padding is ``None``. ``int`` accepts a sign
  (``"-00042"`` → -42); ``decimal`` becomes :class:`~decimal.Decimal`, exact.
* A line shorter than the layout reads as if padded with spaces (editors and transfer
  tools trim trailing blanks); characters beyond the last field are ignored, unless
  ``line_length`` is set: then every line must be exactly that long.
* A value that is not what its field says raises DecodeError naming the line, the field
  and its columns: ``orders.txt: line 14, field amount (columns 31–40): 'ABC' is not a
  number``.

Writing (:meth:`Layout.format`)
-------------------------------
* ``None`` or a missing key → the field is all spaces (it reads back as ``None``, or
  ``""`` for ``str``). Gaps between fields are spaces.
* ``str`` takes text and numbers (``str()``); ``int`` takes whole numbers and text of
  digits; ``decimal`` takes numbers and numeric text; ``date`` takes dates, datetimes
  and ISO 8601 text (``2024-05-01``).
* Numbers padded with ``0`` keep their sign in front (``-42`` in 6 → ``-00042``).
* ConversionError when a value does not fit its width (never truncated), is of the wrong
  kind, holds a line break, or has more decimal places than its field (``rounding``).
"""  # noqa: RUF002 - messages print column ranges with an en dash

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from integrator.errors import ConversionError, DecodeError

__all__ = ["FIELD_KEYS", "TYPES", "FieldSpec", "Layout", "layout_problems"]

TYPES = ("str", "int", "decimal", "date")
FIELD_KEYS = ("name", "start", "width", "type", "pad", "align", "implied_decimals",
              "decimals", "decimal_point", "rounding", "format")
_ROUNDING = {"half-up": ROUND_HALF_UP, "half-even": ROUND_HALF_EVEN}
_INT = re.compile(r"[+-]?\d+\Z")
_EXCERPT = 40
#: The longest line a layout may describe; a bound against a typo (width: 1000000000).
MAX_LINE = 1_000_000


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: ``start`` is 1-based, ``end`` the last column (inclusive)."""

    name: str
    start: int
    width: int
    type: str = "str"
    pad: str = " "
    align: str = "left"
    implied_decimals: int | None = None
    decimals: int | None = None
    decimal_point: str = "."
    rounding: str = "error"
    format: str = "%Y%m%d"

    @property
    def end(self) -> int:
        return self.start + self.width - 1

    @property
    def columns(self) -> str:
        return f"columns {self.start}–{self.end}" if self.width > 1 else f"column {self.start}"


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…")


def _int_key(spec: Mapping[str, Any], key: str, where: str, problems: list[str],
             minimum: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}: {key} must be a whole number, got {value!r}")
        return None
    if value < minimum:
        problems.append(f"{where}: {key} must be at least {minimum}, got {value}")
        return None
    return value


def _parse_specs(specs: Any) -> tuple[list[FieldSpec], list[str]]:
    """Fields and every problem found (all of them, for lint)."""
    from integrator.flow.suggest import did_you_mean

    problems: list[str] = []
    fields: list[FieldSpec] = []
    if not isinstance(specs, Sequence) or isinstance(specs, str | bytes) or not specs:
        return [], ["fields must be a non-empty list of field specs "
                    "({name: ..., start: ..., width: ...})"]
    names: set[str] = set()
    position = 1
    for i, spec in enumerate(specs):
        where = f"fields[{i}]"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: expected a mapping such as {{name: id, width: 6}}, "
                            f"got {type(spec).__name__}")
            continue
        name = spec.get("name")
        if isinstance(name, str) and name:
            where = f"field {name!r}"
        before = len(problems)
        for key in spec:
            if key not in FIELD_KEYS:
                hint = did_you_mean(str(key), FIELD_KEYS) or f"keys: {', '.join(FIELD_KEYS)}"
                problems.append(f"{where}: unknown key {key!r} ({hint})")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: name is required (the record key)")
        elif name in names:
            problems.append(f"{where}: the name is used twice")
        else:
            names.add(name)
        ftype = spec.get("type", "str")
        if ftype not in TYPES:
            problems.append(f"{where}: type must be one of {', '.join(TYPES)}, got {ftype!r}")
            ftype = "str"
        start = _int_key(spec, "start", where, problems, 1)
        width = _int_key(spec, "width", where, problems, 1)
        if "width" not in spec:
            problems.append(f"{where}: width is required")
        pad = spec.get("pad", " ")
        if not isinstance(pad, str) or len(pad) != 1 or pad in "\r\n":
            problems.append(f"{where}: pad must be one character, got {pad!r}")
            pad = " "
        align = spec.get("align", "left" if ftype == "str" else "right")
        if align not in ("left", "right"):
            problems.append(f"{where}: align must be left or right, got {align!r}")
            align = "left"
        implied = _int_key(spec, "implied_decimals", where, problems, 0)
        decimals = _int_key(spec, "decimals", where, problems, 0)
        point = spec.get("decimal_point", ".")
        if not isinstance(point, str) or len(point) != 1 or point.isdigit():
            problems.append(f"{where}: decimal_point must be one non-digit character, "
                            f"got {point!r}")
            point = "."
        rounding = spec.get("rounding", "error")
        if rounding not in ("error", *_ROUNDING):
            problems.append(f"{where}: rounding must be error, half-up or half-even, "
                            f"got {rounding!r}")
            rounding = "error"
        fmt = spec.get("format", "%Y%m%d")
        if not isinstance(fmt, str) or "%" not in fmt:
            problems.append(f"{where}: format must be a strftime format such as %Y%m%d, "
                            f"got {fmt!r}")
            fmt = "%Y%m%d"
        if ftype != "decimal":
            for key in ("implied_decimals", "decimals", "decimal_point", "rounding"):
                if key in spec:
                    problems.append(f"{where}: {key} applies to type decimal only")
        if ftype != "date" and "format" in spec:
            problems.append(f"{where}: format applies to type date only")
        if implied is not None and decimals is not None:
            problems.append(f"{where}: implied_decimals and decimals exclude each other "
                            "(implied: no point in the text; decimals: a point)")
        if width is not None and start is None:
            start = position
        if start is not None and width is not None:
            position = start + width
            if position - 1 > MAX_LINE:
                problems.append(f"{where}: ends at column {position - 1}; lines are "
                                f"limited to {MAX_LINE} characters")
        if len(problems) == before and isinstance(name, str) and start and width:
            fields.append(FieldSpec(name, start, width, ftype, pad, align, implied,
                                    decimals, point, rounding, fmt))
    ordered = sorted(fields, key=lambda f: f.start)
    for a, b in itertools.pairwise(ordered):
        if b.start <= a.end:
            problems.append(f"field {b.name!r} ({b.columns}) overlaps field {a.name!r} "
                            f"({a.columns})")
    return fields, problems


def layout_problems(specs: Any, line_length: int | None = None) -> list[str]:
    """Every problem of a ``fields`` value (and ``line_length``), for lint."""
    fields, problems = _parse_specs(specs)
    if line_length is not None and fields and not problems:
        end = max(f.end for f in fields)
        if end > line_length:
            problems.append(f"the fields end at column {end}, beyond line_length "
                            f"{line_length}")
    return problems


class Layout:
    """Parses lines into dicts and formats dicts into lines; see the module docstring.

    Build with :meth:`from_specs`; ``fields`` keep the order given (the order of the
    keys in parsed records); ``length`` is the column where the last field ends.
    """

    def __init__(self, fields: Sequence[FieldSpec], line_length: int | None = None) -> None:
        self.fields = tuple(fields)
        self.length = max(f.end for f in self.fields)
        self.line_length = line_length
        self._by_start = sorted(self.fields, key=lambda f: f.start)

    @classmethod
    def from_specs(cls, specs: Any, line_length: int | None = None) -> Layout:
        """A layout from ``fields`` specs; ValueError lists every problem."""
        problems = layout_problems(specs, line_length)
        if problems:
            raise ValueError("; ".join(problems))
        fields, _ = _parse_specs(specs)
        return cls(fields, line_length)

    # -- reading ---------------------------------------------------------------------

    def parse(self, line: str, *, line_no: int | None = None, where: str = "") -> dict[str, Any]:
        """One decoded line (without its line break) → a dict; DecodeError says where."""
        if self.line_length is not None and len(line) != self.line_length:
            raise self._decode_error(
                where, line_no, None,
                f"the line is {len(line)} characters long; line_length is {self.line_length}",
                hint="check the file against its record layout")
        out: dict[str, Any] = {}
        for f in self.fields:
            text = line[f.start - 1:f.end]
            if len(text) < f.width:
                text = text.ljust(f.width)
            try:
                out[f.name] = self._value(f, text)
            except ValueError as exc:
                shown = text.strip() or text
                raise self._decode_error(where, line_no, f, f"{_excerpt(shown)} {exc}",
                                         hint=self._hint(f)) from None
        return out

    @staticmethod
    def _value(f: FieldSpec, text: str) -> Any:
        if f.type == "str":
            return text.rstrip(f.pad) if f.align == "left" else text.lstrip(f.pad)
        strip = " " if f.pad.isdigit() else " " + f.pad
        value = text.strip(strip)
        if not value:
            return None
        if f.type == "int":
            if not _INT.match(value):
                raise ValueError("is not a whole number")
            return int(value)
        if f.type == "decimal":
            return _parse_decimal(f, value)
        try:
            return datetime.strptime(value, f.format).date()
        except ValueError:
            raise ValueError(f"is not a date in the format {f.format}") from None

    @staticmethod
    def _hint(f: FieldSpec) -> str:
        if f.type == "date":
            return f"the field holds dates formatted {f.format}"
        if f.type == "decimal" and f.implied_decimals is not None:
            return (f"the field holds digits with {f.implied_decimals} implied decimals, "
                    "no decimal point")
        return f"check the record layout: {f.name} is at {f.columns}"

    @staticmethod
    def _decode_error(where: str, line_no: int | None, f: FieldSpec | None, reason: str,
                      hint: str | None = None) -> DecodeError:
        place = f"line {line_no}" if line_no is not None else ""
        if f is not None:
            place = f"{place}, field {f.name} ({f.columns})" if place else \
                f"field {f.name} ({f.columns})"
        prefix = ": ".join(p for p in (where, place) if p)
        context: dict[str, Any] = {}
        if where:
            context["file"] = where
        if line_no is not None:
            context["line"] = line_no
        if f is not None:
            context["field"] = f.name
            context["column"] = f.start
        return DecodeError(f"{prefix}: {reason}" if prefix else reason, hint=hint,
                           context=context)

    # -- writing ---------------------------------------------------------------------

    def format(self, record: Mapping[str, Any]) -> str:
        """A dict → one line (no line break); ConversionError names the field."""
        if not isinstance(record, Mapping):
            raise ConversionError(
                f"a fixed-width record must be an object, got {type(record).__name__}",
                hint="map the payload to an object with the layout's field names")
        parts: list[str] = []
        column = 1
        for f in self._by_start:
            if f.start > column:
                parts.append(" " * (f.start - column))
            parts.append(self._text(f, record.get(f.name)))
            column = f.end + 1
        if self.line_length is not None and self.line_length >= column:
            parts.append(" " * (self.line_length - column + 1))
        return "".join(parts)

    def _text(self, f: FieldSpec, value: Any) -> str:
        if value is None:
            return " " * f.width
        try:
            text = self._render(f, value)
        except ValueError as exc:
            raise ConversionError(f"field {f.name} ({f.columns}): {_excerpt(str(value))} "
                                  f"{exc}", hint=self._hint(f),
                                  context={"field": f.name}) from None
        if "\n" in text or "\r" in text:
            raise ConversionError(f"field {f.name} ({f.columns}): the value holds a line "
                                  "break, which would split the record",
                                  hint="replace line breaks in a map step",
                                  context={"field": f.name})
        if len(text) > f.width:
            raise ConversionError(
                f"field {f.name} ({f.columns}): {_excerpt(text)} is {len(text)} characters; "
                f"the field holds {f.width}",
                hint="shorten the value in a map step, or widen the field",
                context={"field": f.name})
        if f.align == "left":
            return text.ljust(f.width, f.pad)
        if f.pad.isdigit() and text[:1] in "+-" and f.type != "str":
            return text[0] + text[1:].rjust(f.width - 1, f.pad)  # -42 → -00042
        return text.rjust(f.width, f.pad)

    @staticmethod
    def _render(f: FieldSpec, value: Any) -> str:
        if isinstance(value, bool):
            raise ValueError(f"is a boolean; the field holds {_kind(f)}")
        if f.type == "str":
            if isinstance(value, str | int | float | Decimal):
                return str(value)
            raise ValueError(f"is {type(value).__name__}; the field holds text")
        if f.type == "int":
            return str(_to_int(value))
        if f.type == "decimal":
            return _format_decimal(f, _to_decimal(value))
        return _to_date(value).strftime(f.format)


def _kind(f: FieldSpec) -> str:
    return {"str": "text", "int": "whole numbers", "decimal": "numbers",
            "date": "dates"}[f.type]


def _parse_decimal(f: FieldSpec, value: str) -> Decimal:
    if f.implied_decimals is not None:
        if not _INT.match(value):
            raise ValueError("is not a number")
        return Decimal(value).scaleb(-f.implied_decimals)
    text = value.replace(f.decimal_point, ".") if f.decimal_point != "." else value
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise ValueError("is not a number")
    return Decimal(text)


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if not math.isfinite(value) or value != int(value):
            raise ValueError("is not a whole number")
        return int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    raise ValueError("is not a whole number")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("is not a number") from None
    else:
        raise ValueError(f"is {type(value).__name__}; the field holds numbers")
    if not number.is_finite():
        raise ValueError("is not a finite number")
    return number


def _format_decimal(f: FieldSpec, number: Decimal) -> str:
    places = f.implied_decimals if f.implied_decimals is not None else f.decimals
    if places is not None:
        exponent = Decimal(1).scaleb(-places)
        try:
            quantized = number.quantize(exponent,
                                        rounding=_ROUNDING.get(f.rounding, ROUND_HALF_EVEN))
        except InvalidOperation:
            raise ValueError("has too many digits") from None
        if quantized != number and f.rounding == "error":
            raise ValueError(f"has more than {places} decimal places (rounding: error)")
        number = quantized
    if f.implied_decimals is not None:
        return str(int(number.scaleb(f.implied_decimals)))
    text = format(number, "f")
    return text.replace(".", f.decimal_point) if f.decimal_point != "." else text


def _to_date(value: Any) -> date:
    if isinstance(value, date):  # datetime is a date too; its time serves %H formats
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()) if "T" in value or ":" in value \
                else date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("is not an ISO 8601 date (2024-05-01)") from None
    raise ValueError(f"is {type(value).__name__}; the field holds dates")
