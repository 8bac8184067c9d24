"""CSV: reading records with per-record errors, and writing rows.

Reading (:func:`read_rows`) takes a binary stream and yields ``(line, row)`` per record,
where ``line`` is the record's first physical line and ``row`` is a dict of column →
text, or a :class:`~integrator.errors.DecodeError` for that record alone:

* bytes that are not valid in ``encoding`` → error naming file, line and the byte offset
  in the file (the stream is decoded with ``surrogateescape``, so the bad bytes of one
  record cannot stop the reading of the next);
* a record with the wrong number of fields → "expected 7 fields, got 5";
* a line or record larger than ``max_record_size`` → error with its size; the line is
  skipped in chunks, never held in memory whole;
* malformed quoting (``"a"b``, an unterminated quote at end of file) → error.

Encodings must be ASCII-compatible (utf-8, cp1250, iso-8859-2, cp1252 ...); ``utf-8-sig``
strips a leading byte-order mark. ``header=True`` takes column names from the first
record (duplicates are an error: they would silently lose data); with ``columns`` as well,
the header record is skipped and ``columns`` name the fields. ``header=False`` needs
``columns``. A broken header raises DecodeError from the iterator: nothing after it can be
interpreted.

Writing (:class:`RowEncoder`, :func:`write_rows`): ``None`` → empty field, booleans →
``true``/``false``, numbers and text as ``str()``, dates as ISO 8601; mappings and lists
raise :class:`~integrator.errors.ConversionError`, as do fields not in ``columns`` and
text that ``encoding`` cannot represent.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, Any

from integrator.codecs.lines import Readable, check_line_encoding, format_size, split_lines
from integrator.errors import ConversionError, DecodeError

__all__ = ["DEFAULT_MAX_RECORD_SIZE", "RowEncoder", "read_rows", "write_rows"]

DEFAULT_MAX_RECORD_SIZE = 4_000_000

_SURROGATE = re.compile("[\udc80-\udcff]")
_BOM = b"\xef\xbb\xbf"


class _LineFeed:
    """Decoded lines for ``csv.reader``, remembering what it needs to report errors.

    ``bad`` maps a line number to ``(byte offset in the stream, byte value)`` of the first
    byte that ``encoding`` could not decode; ``oversized`` maps a line number to its size.
    ``offset`` is the stream offset of the next line.
    """

    def __init__(self, stream: Readable, encoding: str, max_line: int) -> None:
        self._chunks = split_lines(stream, max_line=max_line)
        self._lines: list[bytes] = []
        self._pos = 0
        self._chunk_oversized: dict[int, int] = {}
        self.encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self._strip_bom = encoding == "utf-8-sig"
        self.line_no = 0
        self.offset = 0
        self.bad: dict[int, tuple[int, int]] = {}
        self.oversized: dict[int, int] = {}

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self._pos >= len(self._lines):
            _first, self._lines, self._chunk_oversized = next(self._chunks)
            self._pos = 0
        line = self._lines[self._pos]
        self._pos += 1
        self.line_no += 1
        start = self.offset
        if not line and self._chunk_oversized:
            size = self._chunk_oversized.get(self.line_no)
            if size is not None:
                self.oversized[self.line_no] = size
                self.offset += size + 1
                return "\n"
        self.offset += len(line) + 1
        if self._strip_bom and self.line_no == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
            start += len(_BOM)
        text = line.decode(self.encoding, "surrogateescape")
        if not text.isascii():
            bad = _SURROGATE.search(text)
            if bad:
                at = start + len(text[:bad.start()].encode(self.encoding, "surrogateescape"))
                self.bad[self.line_no] = (at, ord(bad.group()) - 0xDC00)
        return text + "\n"

    def problem(self, first: int, last: int) -> tuple[int, str, dict[str, Any]] | None:
        """The first decode problem on lines ``first..last`` (and forget those lines)."""
        found: tuple[int, str, dict[str, Any]] | None = None
        for n in range(first, last + 1):
            if found is None and n in self.oversized:
                found = (n, f"line {n} is {format_size(self.oversized[n])}", {})
            if found is None and n in self.bad:
                at, byte = self.bad[n]
                found = (n, f"invalid {self.encoding} at byte offset {at} (byte 0x{byte:02X})",
                         {"offset": at})
            self.oversized.pop(n, None)
            self.bad.pop(n, None)
        return found


def read_rows(
    stream: Readable,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    quotechar: str = '"',
    header: bool = True,
    columns: Sequence[str] | None = None,
    skip_blank_lines: bool = True,
    where: str = "",
    max_record_size: int = DEFAULT_MAX_RECORD_SIZE,
) -> Iterator[tuple[int, dict[str, str] | DecodeError]]:
    """Yield ``(first_line, row_or_error)`` per record; see the module docstring.

    Raises ValueError for unusable arguments (a non-ASCII-compatible encoding, no header
    and no columns) and DecodeError when the header record cannot be read.
    """
    canonical = check_line_encoding(encoding)
    if not header and not columns:
        raise ValueError("CSV without a header row needs columns to name the fields")
    if csv.field_size_limit() < max_record_size:
        # the csv module's global cap (131072 characters) would turn a legitimate large
        # field into an error; our own max_record_size bounds memory instead
        csv.field_size_limit(max_record_size)
    feed = _LineFeed(stream, "utf-8-sig" if canonical == "utf-8-sig" else canonical,
                     max_record_size)
    reader = csv.reader(feed, delimiter=delimiter, quotechar=quotechar, strict=True)
    names: list[str] = list(columns) if columns else []
    prev = 0

    if header:
        while True:
            try:
                head = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _error(where, 1, f"the header cannot be read: {exc}") from None
            first, prev = prev + 1, feed.line_no
            found = feed.problem(first, prev)
            if found is not None:
                raise _error(where, found[0], f"the header cannot be read: {found[1]}",
                             found[2])
            if head:
                break
        if columns:
            if len(head) != len(names):
                raise _error(where, first, f"the header has {len(head)} fields but columns "
                             f"names {len(names)}")
        else:
            seen: set[str] = set()
            for name in head:
                if name in seen:
                    raise _error(where, first, f"the header names column {name!r} twice",
                                 hint="rename one of them, or set header: false and list "
                                      "columns")
                seen.add(name)
            names = head
    width = len(names)
    start = feed.offset

    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first, prev = prev + 1, feed.line_no
            feed.problem(first, prev)
            start = feed.offset
            yield first, _error(where, first, _csv_reason(exc, max_record_size))
            continue
        first, prev = prev + 1, feed.line_no
        if feed.bad or feed.oversized:
            found = feed.problem(first, prev)
            if found is not None:
                start = feed.offset
                reason = found[1]
                if reason.startswith("line "):
                    reason += f"; max_record_size is {format_size(max_record_size)}"
                yield first, _error(where, found[0], reason, found[2])
                continue
        size = feed.offset - start
        start = feed.offset
        if size > max_record_size:
            yield first, _error(where, first, f"the record is {format_size(size)}; "
                                f"max_record_size is {format_size(max_record_size)}")
            continue
        if not row:
            if skip_blank_lines:
                continue
            row = [""]
        if len(row) != width:
            yield first, _error(where, first, f"expected {width} fields, got {len(row)}",
                                hint=f"check the delimiter ({delimiter!r}) and quoting")
            continue
        yield first, dict(zip(names, row, strict=True))


def _csv_reason(exc: csv.Error, max_record_size: int) -> str:
    text = str(exc)
    if "field limit" in text:
        return f"a field is larger than max_record_size {format_size(max_record_size)}"
    return f"malformed CSV: {text}"


def _error(
    where: str,
    line: int,
    reason: str,
    extra: Mapping[str, Any] | None = None,
    *,
    hint: str | None = None,
) -> DecodeError:
    prefix = f"{where}:{line}: " if where else f"line {line}: "
    context: dict[str, Any] = {"line": line, **(extra or {})}
    if where:
        context["file"] = where
    return DecodeError(prefix + reason, hint=hint, context=context)


class _Collector:
    """The file object ``csv.writer`` writes each record to: it keeps the text."""

    __slots__ = ("parts", "write")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.write = self.parts.append


class RowEncoder:
    """Encodes one row at a time, so a caller can keep per-row errors apart.

    ``columns`` fixes the field order; ``header()`` gives the header record's bytes.
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        delimiter: str = ",",
        quotechar: str = '"',
        encoding: str = "utf-8",
        line_terminator: str = "\n",
    ) -> None:
        self.columns = tuple(columns)
        self._known = frozenset(self.columns)
        # utf-8-sig would put a BOM before every row; the caller writes it once if wanted
        self.encoding = "utf-8" if check_line_encoding(encoding) == "utf-8-sig" else encoding
        self._out = _Collector()
        self._writer = csv.writer(self._out, delimiter=delimiter, quotechar=quotechar,
                                  lineterminator=line_terminator)

    def header(self) -> bytes:
        return self._record(list(self.columns))

    def encode(self, row: Mapping[str, Any]) -> bytes:
        """One CSV record as bytes; ConversionError when the row cannot be CSV."""
        if type(row) is not dict and not isinstance(row, Mapping):
            raise ConversionError(
                f"a CSV row must be an object, got {type(row).__name__}",
                hint="map the payload to an object of column → value",
            )
        if not self._known.issuperset(row.keys()):
            extra = next(k for k in row if k not in self._known)
            raise ConversionError(
                f"field {extra!r} is not among the CSV columns ({', '.join(self.columns)})",
                hint="list it in columns, or drop it in a map step",
            )
        get = row.get
        values = [get(name) for name in self.columns]
        return self._record([
            v if v.__class__ is str else _field(name, v)
            for name, v in zip(self.columns, values, strict=True)
        ])

    def _record(self, values: list[str]) -> bytes:
        self._writer.writerow(values)
        text = self._out.parts.pop()
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start:exc.end]
            raise ConversionError(
                f"the text {bad!r} cannot be written in {self.encoding}",
                hint="choose an encoding that has it (utf-8) or transliterate in a map step",
            ) from None


def _field(name: str, value: Any) -> str:
    cls = value.__class__
    if cls is int or cls is float:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    kind = "an object" if isinstance(value, Mapping) else (
        "a list" if isinstance(value, list | tuple) else type(value).__name__)
    raise ConversionError(
        f"column {name!r} holds {kind}, which a CSV field cannot hold",
        hint="flatten it in a map step (e.g. join a list, or pick the nested fields)",
    )


def write_rows(
    rows: Iterable[Mapping[str, Any]],
    stream: IO[bytes],
    *,
    columns: Sequence[str] | None = None,
    delimiter: str = ",",
    quotechar: str = '"',
    encoding: str = "utf-8",
    header: bool = True,
    line_terminator: str = "\n",
) -> int:
    """Write ``rows`` to a binary stream; returns the number of rows written.

    Without ``columns`` the first row's keys name them. ``utf-8-sig`` writes a BOM first.
    The first row that cannot be written raises ConversionError naming its index; rows
    before it have been written.
    """
    encoder: RowEncoder | None = None
    count = 0
    for index, row in enumerate(rows):
        if encoder is None:
            if columns is None and not isinstance(row, Mapping):
                raise ConversionError(f"row {index}: a CSV row must be an object, got "
                                      f"{type(row).__name__}")
            encoder = RowEncoder(
                columns if columns is not None else list(row),
                delimiter=delimiter, quotechar=quotechar, encoding=encoding,
                line_terminator=line_terminator,
            )
            if check_line_encoding(encoding) == "utf-8-sig":
                stream.write(_BOM)
            if header:
                stream.write(encoder.header())
        try:
            data = encoder.encode(row)
        except ConversionError as exc:
            raise ConversionError(f"row {index}: {exc.message}", hint=exc.hint) from None
        stream.write(data)
        count += 1
    return count
