"""The ``file`` connector: JSONL, JSON, CSV, XML, fixed-width and text files as source,
sink and lookup.

Datasheet
=========
:reads:   one file, or every file a glob matches, in sorted order (``in/*.csv``).
          Blocking reads of 64 KiB chunks, split and decoded in bulk: reading costs little
          beyond the decoder (orjson, the csv module, expat).
:writes:  one file per rendered ``path`` (``out/{{ market }}/orders.jsonl``), through a
          ``.<name>.partial`` sibling that ``close`` fsyncs and renames into place.
:formats: ``jsonl`` one JSON object per line · ``json`` an array of objects, or one
          object · ``csv`` · ``xml`` one document, ``record_path`` picks the records ·
          ``fixed`` fixed-width records, one per line, laid out by ``fields`` (see
          :mod:`integrator.codecs.fixedwidth`) ·
          ``text`` one record ``{"line": ...}`` per line. Default: from the extension
          (.jsonl/.ndjson, .json, .csv, .xml, .txt); fixed is never derived.
:roles:   source · sink (action ``write``) · lookup (``key``).

Writing rules
-------------
* jsonl: ``dumps(payload) + "\n"``; json: one array per file (``[`` with the first
  item, ``]`` at close); text: the payload string and ``"\n"`` (anything else is
  rejected); csv: a header once per file, columns from ``columns`` or the first row;
  fixed: one line per payload laid out by ``fields`` (a value that does not fit its
  width is a ConversionError for that delivery, never truncated).
  json and jsonl are always UTF-8; csv, fixed, text and xml use ``encoding``.
* xml without ``root``: a file holds exactly one document, so every delivery needs its
  own file — template the path (``out/order-{{ id }}.xml``); a second delivery to the
  same file is rejected. xml with ``root``: every delivery to a file becomes one item
  element inside ``<root>``, named by the last segment of ``record_path`` (or, without
  it, by the payload's single top-level key) — the shape the source reads back with the
  same ``record_path``.
* Deliveries of a batch are grouped by rendered path, one ``write`` per file; at most 64
  files are open at once (least recently used closed first, reopened when needed).
* Lookup: ``open`` loads the whole file (jsonl, json, csv, xml) into a dict keyed by the
  ``key`` field's text; more than ``max_lookup_records`` is a FatalError.

Guarantees
----------
* A bad record — malformed JSON, a JSON line that is not an object, bytes invalid in the
  encoding, a CSV row with the wrong field count, a fixed-width field that is not what
  its spec says, a line over ``max_record_size`` — is a Record with a DecodeError naming
  file and line (and the field); the records around it are read.
* Memory is bounded: a line is never held beyond ``max_record_size`` (a 1 GB line is
  skipped in chunks); a JSON or XML file larger than ``max_record_size`` is one error
  record, never read whole.
* XML input cannot declare a DOCTYPE or entities (no XXE, no billion laughs).
* Source acknowledgements may come in any order; ``committed`` is the last position up
  to which every record has been acknowledged (what a durable layer persists).
* Sink output is atomic per file in ``overwrite`` mode: after ``abort`` (a failed run) no
  final file is created or replaced, the ``.partial`` stays for inspection; after
  ``close`` every final file is complete and fsynced. ``append`` mode writes the final
  file directly and is not atomic.
* A templated sink path cannot leave the directory of its constant prefix: a rendered
  ``../x`` or absolute path is a RejectedError for that delivery only.

Options: :data:`FileConnector.spec` (``integrator connectors show file`` prints them).
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import orjson

from integrator.codecs import csv as csv_codec
from integrator.codecs import json as json_codec
from integrator.codecs.fixedwidth import Layout, layout_problems
from integrator.codecs.lines import Readable, check_line_encoding, format_size, split_lines
from integrator.codecs.xml import parse_xml, to_xml, xml_encoding_name
from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Lookup,
    Progress,
    Record,
    Runtime,
    Sink,
    Source,
)
from integrator.connectors.spec import Config, ConfigSpec, Option, OptionProblem
from integrator.errors import (
    ConversionError,
    DecodeError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
)
from integrator.mapping.context import TemplateContext

if TYPE_CHECKING:
    from integrator.mapping.templates import Template

__all__ = [
    "FORMATS",
    "FileConnector",
    "FileLookup",
    "FileSettings",
    "FileSink",
    "FileSource",
    "read_records",
]

FORMATS = ("jsonl", "json", "csv", "xml", "fixed", "text")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
              ".xml": "xml", ".txt": "text"}
MAX_OPEN_FILES = 64
_BOM = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- options

def _options(*, path_required: bool) -> tuple[Option, ...]:
    """The connection options (shared with ``stdin``, which takes the reading ones)."""
    return (
        Option(
            "path", "template",
            "Source: a file path or a glob (`in/*.csv`, files read in sorted order). "
            "Sink: a path that may contain `{{ ... }}` rendered per message; the rendered "
            "path must stay inside the directory before the first `{{`. Relative paths "
            "resolve against the flow's work directory.",
            required=path_required,
            examples=("in/orders-*.jsonl", "out/{{ market }}/orders.csv"),
        ),
        Option(
            "format", "enum",
            "File format. Default: from the extension (.jsonl/.ndjson → jsonl, .json → "
            "json, .csv → csv, .xml → xml, .txt → text); `fixed` (fixed-width records "
            "laid out by `fields`) is always set explicitly.",
            choices=FORMATS, default=None, examples=("jsonl", "csv"),
        ),
        Option(
            "encoding", "string",
            "Text encoding of csv, fixed, xml and text files (json/jsonl output is always "
            "UTF-8). "
            "Must be ASCII-compatible for line formats; utf-8-sig strips (and writes) a "
            "byte-order mark.",
            default="utf-8", examples=("utf-8", "utf-8-sig", "cp1250", "iso-8859-2"),
        ),
        Option(
            "mode", "enum",
            "Sink: `overwrite` replaces each file atomically at the end of a successful "
            "run; `append` adds to the final file directly (not atomic; jsonl, csv and "
            "text only).",
            choices=("overwrite", "append"), default="overwrite", examples=("append",),
        ),
        Option("delimiter", "string", "CSV field delimiter, one character.",
               default=",", examples=(";", "\t")),
        Option("quotechar", "string", "CSV quote character, one character.",
               default='"', examples=('"', "'")),
        Option(
            "header", "boolean",
            "CSV: the first record names the columns (reading) / write a header record "
            "(writing).",
            default=True, examples=(False,),
        ),
        Option(
            "columns", "list",
            "CSV column names. Reading: needed when header is false; with a header, they "
            "replace its names. Writing: the column order (default: the first row's keys).",
            default=None, examples=(["id", "name", "total"],),
        ),
        Option(
            "line_terminator", "string",
            "CSV and fixed-width record terminator when writing. Default \\n; use \\r\\n "
            "for RFC 4180 consumers (and mainframe transfers) that insist on it.",
            default="\n", examples=("\r\n",),
        ),
        Option("skip_blank_lines", "boolean",
               "CSV and fixed: skip empty (fixed: blank) lines when reading.",
               default=True, examples=(False,)),
        Option(
            "fields", "any",
            "Fixed-width layout: a list of field specs, each {name, start (1-based; "
            "default: after the previous field), width, type: str|int|decimal|date, pad, "
            "align: left|right, implied_decimals, decimals, decimal_point, rounding: "
            "error|half-up|half-even, format (dates, strftime)}. Required by format "
            "fixed.",
            default=None,
            examples=([{"name": "id", "start": 1, "width": 6, "type": "int", "pad": "0"},
                       {"name": "name", "width": 24},
                       {"name": "amount", "width": 10, "type": "decimal",
                        "implied_decimals": 2, "pad": "0"},
                       {"name": "booked", "width": 8, "type": "date",
                        "format": "%Y%m%d"}],),
        ),
        Option(
            "line_length", "integer",
            "Fixed-width: every line must be exactly this many characters (reading), and "
            "lines are padded to it (writing). Default: shorter lines read as if padded "
            "with spaces, characters after the last field are ignored.",
            default=None, minimum=1, maximum=1_000_000, examples=(120,),
        ),
        Option(
            "root", "string",
            "XML sink: the root element that wraps every delivery written to one file; "
            "each delivery becomes one item element (see record_path). Without root each "
            "file holds exactly one delivery as its document.",
            default=None, examples=("Orders",),
        ),
        Option(
            "record_path", "string",
            "XML: the element path, from the root, whose elements are records "
            "(`Orders/Order`). Reading without it: the whole document is one record. "
            "Writing with root: the last segment names each item element.",
            default=None, examples=("Orders/Order",),
        ),
        Option("force_list", "list",
               "XML reading: element names that are always lists, even when single.",
               default=None, examples=(["Line", "Item"],)),
        Option("attr_prefix", "string", "XML: the key prefix of attributes.",
               default="@", examples=("@", "_")),
        Option("strip_namespaces", "boolean",
               "XML reading: drop namespace prefixes and xmlns attributes.",
               default=False, examples=(True,)),
        Option("max_depth", "integer", "XML reading: the deepest element nesting accepted.",
               default=100, minimum=1, examples=(100,)),
        Option("pretty", "boolean", "json and xml sinks: indent the output.",
               default=False, examples=(True,)),
        Option(
            "max_record_size", "size",
            "The largest JSONL line, CSV record, text line, JSON file or XML file "
            "accepted; a larger one becomes an error record and reading goes on.",
            default="4MB", examples=("4MB", "64MB"),
        ),
        Option("batch_size", "integer", "Records per batch from a source.",
               default=512, minimum=1, maximum=1_000_000, examples=(512, 5000)),
    )


def _override(options: Sequence[Option], note: str) -> ConfigSpec:
    """The same options without defaults: only what a sink block gives overrides."""
    return ConfigSpec(tuple(
        Option(o.name, o.type, f"{o.description} {note}", choices=o.choices,
               examples=o.examples, minimum=o.minimum, maximum=o.maximum, secret=o.secret)
        for o in options
    ))


_CONNECTION_OPTIONS = _options(path_required=True)
_READ_OPTION_NAMES = ("format", "encoding", "delimiter", "quotechar", "header", "columns",
                      "skip_blank_lines", "fields", "line_length", "record_path",
                      "force_list", "attr_prefix", "strip_namespaces", "max_depth",
                      "max_record_size", "batch_size")
#: The options ``stdin`` shares with the file source (format then defaults to jsonl).
READ_OPTIONS: tuple[Option, ...] = tuple(
    o for o in _options(path_required=False) if o.name in _READ_OPTION_NAMES
)


# -------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class FileSettings:
    """Options parsed and checked once; roles read these, never the raw config."""

    path: str
    format: str
    encoding: str
    mode: str
    delimiter: str
    quotechar: str
    header: bool
    columns: tuple[str, ...] | None
    line_terminator: str
    skip_blank_lines: bool
    root: str | None
    record_path: tuple[str, ...]
    force_list: tuple[str, ...]
    attr_prefix: str
    strip_namespaces: bool
    max_depth: int
    pretty: bool
    max_record_size: int
    batch_size: int
    layout: Layout | None = None  # format fixed: the parsed ``fields``

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[str]:
        """Every cross-option problem in parsed ``values`` (lint shows them all)."""
        out: list[str] = []
        fmt = values.get("format") or derive_format(values.get("path") or "")
        if fmt is None:
            out.append(f"cannot tell the format of {values.get('path')!r} from its "
                       f"extension; set format: to one of {', '.join(FORMATS)}")
        encoding = values.get("encoding") or "utf-8"
        try:
            check_line_encoding(encoding)
        except ValueError as exc:
            out.append(str(exc))
        for name in ("delimiter", "quotechar"):
            value = values.get(name)
            if value is not None and len(value) != 1:
                out.append(f"{name} must be exactly one character, got {value!r}")
        if fmt == "csv" and values.get("header") is False and not values.get("columns"):
            out.append("csv with header: false needs columns: to name the fields")
        if values.get("mode") == "append" and fmt in ("json", "xml"):
            out.append(f"mode append is not available for format {fmt}: a {fmt} file "
                       "holds one document")
        if fmt == "fixed":
            if values.get("fields") is None:
                out.append("format fixed needs fields: the list of field specs "
                           "({name, start, width, type})")
            else:
                out.extend(layout_problems(values["fields"], values.get("line_length")))
        elif values.get("fields") is not None and fmt is not None:
            out.append(f"fields describes fixed-width records; format is {fmt}, so it "
                       "would be ignored (set format: fixed, or remove fields)")
        if values.get("max_record_size") == 0:
            out.append("max_record_size must be at least 1 byte")
        record_path = values.get("record_path")
        if record_path is not None and not [s for s in record_path.split("/") if s]:
            out.append(f"record_path {record_path!r} names no element")
        return out

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, where: str) -> FileSettings:
        """Build from parsed option values; FatalError names the first problem."""
        problems = cls.problems(values)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FatalError(f"{where}: {problems[0]}{more}")
        path = values.get("path") or ""
        fmt = values.get("format") or derive_format(path)
        assert fmt is not None  # problems() checked it
        record_path = values.get("record_path")
        return cls(
            path=path,
            format=fmt,
            encoding=check_line_encoding(values.get("encoding") or "utf-8"),
            mode=values.get("mode") or "overwrite",
            delimiter=values.get("delimiter") or ",",
            quotechar=values.get("quotechar") or '"',
            header=values.get("header") is not False,
            columns=tuple(values["columns"]) if values.get("columns") else None,
            line_terminator=values.get("line_terminator") or "\n",
            skip_blank_lines=values.get("skip_blank_lines") is not False,
            root=values.get("root"),
            record_path=tuple(s for s in (record_path or "").split("/") if s),
            force_list=tuple(values.get("force_list") or ()),
            attr_prefix=values.get("attr_prefix") or "@",
            strip_namespaces=bool(values.get("strip_namespaces")),
            max_depth=_given(values, "max_depth", 100),
            pretty=bool(values.get("pretty")),
            max_record_size=_given(values, "max_record_size", 4_000_000),
            batch_size=_given(values, "batch_size", 512),
            layout=(Layout.from_specs(values["fields"], values.get("line_length"))
                    if fmt == "fixed" else None),
        )


def _given(values: Mapping[str, Any], name: str, default: int) -> int:
    value = values.get(name)
    return default if value is None else int(value)


def derive_format(path: str) -> str | None:
    """The format a path's extension implies (``out/{{ id }}.json`` → json), or None."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def _merge(config: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(config)
    merged.update({k: v for k, v in options.items() if v is not None})
    return merged


# --------------------------------------------------------------------------- reading

def read_records(
    stream: Readable, settings: FileSettings, label: str, file_index: int
) -> Iterator[list[Record]]:
    """Decode one binary stream into lists of Records (sizes vary; callers re-batch).

    ``label`` names the stream in meta and messages; ack tokens are
    ``(file_index, line)`` or ``(file_index, index)``. Raises FatalError for problems
    that make the whole stream unreadable (a CSV header that cannot be read).
    """
    fmt = settings.format
    if fmt == "jsonl":
        return _read_jsonl(stream, settings, label, file_index)
    if fmt == "csv":
        return _read_csv(stream, settings, label, file_index)
    if fmt == "text":
        return _read_text(stream, settings, label, file_index)
    if fmt == "fixed":
        return _read_fixed(stream, settings, label, file_index)
    if fmt == "json":
        return _read_json(stream, settings, label, file_index)
    return _read_xml(stream, settings, label, file_index)


def _bad(error: DecodeError, label: str, key: str, n: int, fi: int) -> Record:
    return Record(None, {"file": label, key: n}, (fi, n), error)


def _oversized(label: str, n: int, size: int, limit: int) -> DecodeError:
    return DecodeError(
        f"{label}: line {n} is {format_size(size)}; max_record_size is {format_size(limit)}",
        hint="raise max_record_size if records this large are expected",
        context={"file": label, "line": n, "size": size},
    )


def _read_jsonl(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError  # a local alias: the hot loop looks it up
    transcode = s.encoding not in ("utf-8", "utf-8-sig")
    first_chunk = True
    for first, lines, oversized in split_lines(stream, max_line=s.max_record_size):
        if first_chunk:
            first_chunk = False
            if lines[0].startswith(_BOM):  # RFC 8259 lets a parser ignore a BOM
                lines[0] = lines[0][len(_BOM):]
        broken: dict[int, DecodeError] = {}
        if transcode:
            broken = _transcode(lines, first, s.encoding, label)
        out: list[Record] = []
        append = out.append
        n = first - 1
        for line in lines:
            n += 1
            if not line:
                if oversized and n in oversized:
                    append(_bad(_oversized(label, n, oversized[n], s.max_record_size),
                                label, "line", n, fi))
                elif broken and n in broken:
                    append(_bad(broken[n], label, "line", n, fi))
                continue
            try:
                body = loads(line)
            except JSONDecodeError as exc:
                if line.isspace():
                    continue
                append(_bad(json_codec.decode_error(exc, file=label, line=n),
                            label, "line", n, fi))
                continue
            if type(body) is not dict:
                append(_bad(_not_object(body, label, "line", n), label, "line", n, fi))
                continue
            append(Record(body, {"file": label, "line": n}, (fi, n)))
        if out:
            yield out


def _transcode(lines: list[bytes], first: int, encoding: str, label: str
               ) -> dict[int, DecodeError]:
    """Re-encode lines in place from ``encoding`` to UTF-8; undecodable ones become b""."""
    broken: dict[int, DecodeError] = {}
    for i, line in enumerate(lines):
        try:
            lines[i] = _decode_line(line, encoding, label, first + i).encode("utf-8")
        except DecodeError as exc:
            broken[first + i] = exc
            lines[i] = b""
    return broken


def _decode_line(line: bytes, encoding: str, label: str, n: int) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"{label}:{n}: invalid {encoding} at byte {exc.start} of the line "
            f"(byte 0x{line[exc.start]:02X})",
            hint="check the encoding option",
            context={"file": label, "line": n, "column": exc.start + 1},
        ) from None


def _not_object(body: Any, label: str, key: str, n: int) -> DecodeError:
    where = f"{label}:{n}" if key == "line" else f"{label}: index {n}"
    return DecodeError(
        f"{where}: expected a JSON object, got {json_codec.kind_of(body)}",
        hint="every record must be a JSON object ({...})",
        context={"file": label, key: n},
    )


def _read_text(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    encoding = "utf-8" if s.encoding == "utf-8-sig" else s.encoding
    first_chunk = s.encoding == "utf-8-sig"
    for first, lines, oversized in split_lines(stream, max_line=s.max_record_size):
        if first_chunk:
            first_chunk = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM):]
        out: list[Record] = []
        n = first - 1
        for line in lines:
            n += 1
            if not line and oversized and n in oversized:
                out.append(_bad(_oversized(label, n, oversized[n], s.max_record_size),
                                label, "line", n, fi))
                continue
            try:
                text = _decode_line(line[:-1] if line.endswith(b"\r") else line,
                                    encoding, label, n)
            except DecodeError as exc:
                out.append(_bad(exc, label, "line", n, fi))
                continue
            out.append(Record({"line": text}, {"file": label, "line": n}, (fi, n)))
        if out:
            yield out


def _read_fixed(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    layout = s.layout
    assert layout is not None  # from_values built it for format fixed
    parse = layout.parse
    encoding = "utf-8" if s.encoding == "utf-8-sig" else s.encoding
    first_chunk = s.encoding == "utf-8-sig"
    skip_blank = s.skip_blank_lines
    for first, lines, oversized in split_lines(stream, max_line=s.max_record_size):
        if first_chunk:
            first_chunk = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM):]
        out: list[Record] = []
        n = first - 1
        for line in lines:
            n += 1
            if not line and oversized and n in oversized:
                out.append(_bad(_oversized(label, n, oversized[n], s.max_record_size),
                                label, "line", n, fi))
                continue
            try:
                text = _decode_line(line[:-1] if line.endswith(b"\r") else line,
                                    encoding, label, n)
                if skip_blank and (not text or text.isspace()):
                    continue
                body = parse(text, line_no=n, where=label)
            except DecodeError as exc:
                out.append(_bad(exc, label, "line", n, fi))
                continue
            out.append(Record(body, {"file": label, "line": n}, (fi, n)))
        if out:
            yield out


def _read_csv(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    rows = csv_codec.read_rows(
        stream, encoding=s.encoding, delimiter=s.delimiter, quotechar=s.quotechar,
        header=s.header, columns=s.columns, skip_blank_lines=s.skip_blank_lines,
        where=label, max_record_size=s.max_record_size,
    )
    out: list[Record] = []
    try:
        for n, row in rows:
            if isinstance(row, DecodeError):
                out.append(_bad(row, label, "line", n, fi))
            else:
                out.append(Record(row, {"file": label, "line": n}, (fi, n)))
            if len(out) >= 1024:
                yield out
                out = []
    except DecodeError as exc:  # the header: nothing after it can be interpreted
        raise FatalError(exc.message, hint="fix the header row, or set header: false and "
                         "list columns", context=exc.context) from None
    if out:
        yield out


def _read_document(stream: Readable, s: FileSettings, label: str) -> bytes | DecodeError:
    """The whole stream, or an error when it is larger than max_record_size."""
    limit = s.max_record_size
    data = stream.read(limit + 1)
    parts = [data]
    total = len(data)
    while data and total <= limit:  # short reads (pipes) return less than asked
        data = stream.read(limit + 1 - total)
        parts.append(data)
        total += len(data)
    if total <= limit:
        return b"".join(parts)
    parts.clear()
    while True:  # count the rest without keeping it
        data = stream.read(1 << 20)
        if not data:
            break
        total += len(data)
    return DecodeError(
        f"{label} is {format_size(total)}; max_record_size is {format_size(limit)}",
        hint="raise max_record_size, or use jsonl / a record_path to read records one by one",
        context={"file": label, "size": total},
    )


def _read_json(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    data = _read_document(stream, s, label)
    if isinstance(data, DecodeError):
        yield [_bad(data, label, "index", 0, fi)]
        return
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        if s.encoding in ("utf-8", "utf-8-sig"):
            doc = orjson.loads(data)
        else:
            doc = orjson.loads(data.decode(s.encoding))
    except orjson.JSONDecodeError as exc:
        yield [_bad(json_codec.decode_error(exc, file=label), label, "index", 0, fi)]
        return
    except UnicodeDecodeError as exc:
        yield [_bad(DecodeError(f"{label}: invalid {s.encoding} at byte offset {exc.start}",
                                context={"file": label, "offset": exc.start}),
                    label, "index", 0, fi)]
        return
    if isinstance(doc, dict):
        yield [Record(doc, {"file": label}, (fi, 0))]
        return
    if not isinstance(doc, list):
        error = DecodeError(
            f"{label}: expected an array of objects or one object, got "
            f"{json_codec.kind_of(doc)}", context={"file": label})
        yield [_bad(error, label, "index", 0, fi)]
        return
    out: list[Record] = []
    for i, item in enumerate(doc):
        if type(item) is dict:
            out.append(Record(item, {"file": label, "index": i}, (fi, i)))
        else:
            out.append(_bad(_not_object(item, label, "index", i), label, "index", i, fi))
    if out:
        yield out


def _read_xml(
    stream: Readable, s: FileSettings, label: str, fi: int
) -> Iterator[list[Record]]:
    data = _read_document(stream, s, label)
    if isinstance(data, DecodeError):
        yield [_bad(data, label, "index", 0, fi)]
        return
    try:
        doc = parse_xml(
            data, force_list=s.force_list, attr_prefix=s.attr_prefix,
            strip_namespaces=s.strip_namespaces, max_bytes=s.max_record_size,
            max_depth=s.max_depth, where=label,
            encoding=None if s.encoding in ("utf-8", "utf-8-sig") else s.encoding,
        )
    except DecodeError as exc:
        yield [_bad(exc, label, "index", 0, fi)]
        return
    if not s.record_path:
        yield [Record(doc, {"file": label}, (fi, 0))]
        return
    root_name = next(iter(doc))
    if root_name != s.record_path[0]:
        error = DecodeError(
            f"{label}: the root element is <{root_name}>, but record_path "
            f"{'/'.join(s.record_path)} starts at <{s.record_path[0]}>",
            hint="record_path starts with the root element's name",
            context={"file": label},
        )
        yield [_bad(error, label, "index", 0, fi)]
        return
    items: list[Any] = [doc[root_name]]
    for name in s.record_path[1:]:
        found: list[Any] = []
        for item in items:
            if isinstance(item, dict) and name in item:
                value = item[name]
                found.extend(value if isinstance(value, list) else [value])
        items = found
    out: list[Record] = []
    for i, item in enumerate(items):
        if item is None:
            body: dict[str, Any] = {}
        elif isinstance(item, dict):
            body = item
        else:
            body = {"#text": item}
        out.append(Record(body, {"file": label, "index": i}, (fi, i)))
    if out:
        yield out


# ---------------------------------------------------------------------------- source

def _resolve(runtime: Runtime, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(runtime.workdir) / p


def _match(runtime: Runtime, path: str, where: str) -> list[tuple[Path, str]]:
    """The files a source path names, sorted, each with its label for meta."""
    if "{{" in path or "{%" in path:
        raise FatalError(f"{where}: a source path cannot hold a template: {path!r}",
                         hint="templates are for sink paths; use a glob to read many files")
    full = _resolve(runtime, path)
    relative = not Path(path).expanduser().is_absolute()
    if any(c in path for c in "*?["):
        matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise FatalError(
                f"{where}: no file matches {path!r}",
                hint=f"relative paths resolve against {runtime.workdir}; check the pattern",
            )
    else:
        if not full.is_file():
            what = "is a directory" if full.is_dir() else "does not exist"
            raise FatalError(
                f"{where}: {path!r} {what}",
                hint=f"relative paths resolve against {runtime.workdir}",
            )
        files = [full]
    out = []
    for f in files:
        label = os.path.relpath(f, runtime.workdir) if relative else str(f)
        out.append((f, Path(label).as_posix() if relative else label))
    return out


class FileSource(Source):
    """Reads the matched files one after another; see the module datasheet.

    Ack tokens are ``(file_index, line)`` (``index`` for json/xml records).
    ``acked`` counts acknowledged records; ``committed`` is the last token up to which
    everything has been acknowledged, or None.
    """

    def __init__(self, settings: FileSettings, runtime: Runtime, where: str) -> None:
        self.settings = settings
        self.runtime = runtime
        self.where = where
        self._files: list[tuple[Path, str]] = []
        self._sizes: list[int] = []
        self._stream: BinaryIO | None = None
        self._done_bytes = 0
        self._stopped = False
        self._issued: deque[list[Any]] = deque()  # ack tokens per batch, oldest first
        self._head_pos = 0  # tokens of the oldest batch already committed
        self._acked_ahead: set[Any] = set()  # acked, but not yet contiguous
        self.acked = 0
        self.committed: Any = None

    async def open(self) -> None:
        self._files = _match(self.runtime, self.settings.path, self.where)
        try:
            self._sizes = [f.stat().st_size for f, _ in self._files]
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot read {exc.filename}: {exc.strerror}") \
                from None

    async def batches(self) -> AsyncIterator[list[Record]]:
        size = self.settings.batch_size
        pending: list[Record] = []
        for fi, (path, label) in enumerate(self._files):
            if self._stopped:
                return
            try:
                stream: BinaryIO = open(path, "rb", buffering=0)  # noqa: SIM115 - kept on self
            except OSError as exc:
                raise FatalError(f"{self.where}: cannot open {label}: {exc.strerror}") \
                    from None
            self._stream = stream
            try:
                for records in read_records(stream, self.settings, label, fi):
                    pending.extend(records)
                    while len(pending) >= size:
                        batch = pending[:size]
                        del pending[:size]
                        if self._stopped:
                            return
                        self._issued.append([r.ack for r in batch])
                        yield batch
            except OSError as exc:
                raise FatalError(f"{self.where}: reading {label} failed: {exc.strerror}") \
                    from None
            finally:
                self._stream = None
                stream.close()
            self._done_bytes += self._sizes[fi]
        if pending and not self._stopped:
            self._issued.append([r.ack for r in pending])
            yield pending

    async def ack(self, tokens: Sequence[Any]) -> None:
        """Record acknowledgements (any order, each token once); advance ``committed``."""
        self.acked += len(tokens)
        ahead = self._acked_ahead
        ahead.update(tokens)
        issued = self._issued
        while issued:
            head = issued[0]
            pos = self._head_pos
            rest = head[pos:] if pos else head
            if ahead.issuperset(rest):  # the usual case: a whole batch, at C speed
                ahead.difference_update(rest)
                issued.popleft()
                self._head_pos = 0
                self.committed = head[-1]
                continue
            while head[pos] in ahead:  # part of the oldest batch: token by token
                ahead.discard(head[pos])
                self.committed = head[pos]
                pos += 1
            self._head_pos = pos
            break

    def stop(self) -> None:
        self._stopped = True

    def progress(self) -> Progress:
        done = self._done_bytes
        stream = self._stream
        if stream is not None and not stream.closed:
            done += stream.tell()
        return Progress(done, sum(self._sizes), unit="bytes")

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()


# ------------------------------------------------------------------------------ sink

class _Encoder:
    """Turns payloads into bytes for one file; holds the file's format state."""

    def __init__(self, settings: FileSettings, *, needs_header: bool) -> None:
        self.s = settings
        # utf-8-sig's BOM is written once per file by _OutFile, never per payload
        self.codec = "utf-8" if settings.encoding == "utf-8-sig" else settings.encoding
        self.count = 0  # payloads encoded for this file
        self.csv: csv_codec.RowEncoder | None = None
        self.needs_header = needs_header

    def encode(self, payload: Any) -> bytes:
        """Bytes to append for one payload; MessageError when this payload cannot be."""
        fmt = self.s.format
        if fmt == "jsonl":
            data = json_codec.dumps(payload) + b"\n"
        elif fmt == "json":
            item = (json_codec.dumps_pretty(payload) if self.s.pretty
                    else json_codec.dumps(payload))
            data = (b"[\n" if self.count == 0 else b",\n") + item
        elif fmt == "text":
            if not isinstance(payload, str):
                raise RejectedError(
                    f"the text format writes text, got {type(payload).__name__}",
                    hint="render the payload with a template step, or use format jsonl",
                )
            data = self._text(payload + "\n")
        elif fmt == "csv":
            data = self._csv(payload)
        elif fmt == "fixed":
            layout = self.s.layout
            assert layout is not None
            data = self._text(layout.format(payload) + self.s.line_terminator)
        else:
            data = self._xml(payload)
        self.count += 1
        return data

    def _text(self, text: str) -> bytes:
        try:
            return text.encode(self.codec)
        except UnicodeEncodeError as exc:
            raise ConversionError(
                f"the text {exc.object[exc.start:exc.end]!r} cannot be written in "
                f"{self.codec}",
                hint="choose an encoding that has it (utf-8) or transliterate in a map step",
            ) from None

    def _csv(self, payload: Any) -> bytes:
        s = self.s
        encoder = self.csv
        if encoder is None:
            if s.columns is None and not isinstance(payload, Mapping):
                raise ConversionError(
                    f"a CSV row must be an object, got {type(payload).__name__}",
                    hint="map the payload to an object of column → value")
            encoder = csv_codec.RowEncoder(
                s.columns if s.columns is not None else [str(k) for k in payload],
                delimiter=s.delimiter, quotechar=s.quotechar, encoding=self.codec,
                line_terminator=s.line_terminator,
            )
        data = encoder.encode(payload)
        self.csv = encoder  # the columns are fixed once a row was written
        if self.needs_header:
            self.needs_header = False
            data = encoder.header() + data
        return data

    def _xml(self, payload: Any) -> bytes:
        s = self.s
        if s.root is None:
            if self.count:
                raise RejectedError(
                    "an XML file without root holds one document, and this path already "
                    "has one",
                    hint="put {{ ... }} in path so every message gets its own file, or set "
                         "root: to wrap all deliveries in one element",
                )
            text = to_xml(payload, pretty=s.pretty, attr_prefix=s.attr_prefix,
                          encoding=self.codec) + "\n"
        else:
            if s.record_path:
                item = to_xml(payload, root=s.record_path[-1], pretty=s.pretty,
                              attr_prefix=s.attr_prefix, declaration=False)
            else:
                item = to_xml(payload, pretty=s.pretty, attr_prefix=s.attr_prefix,
                              declaration=False)
            text = item + "\n"
            if self.count == 0:
                declaration = f'<?xml version="1.0" encoding="{xml_encoding_name(self.codec)}"?>'
                text = f"{declaration}\n<{s.root}>\n{text}"
        # characters the encoding lacks become character references: still the same XML
        return text.encode(self.codec, "xmlcharrefreplace")

    def footer(self) -> bytes:
        if self.count == 0:
            return b""
        if self.s.format == "json":
            return b"\n]\n"
        if self.s.format == "xml" and self.s.root is not None:
            return f"</{self.s.root}>\n".encode(self.codec)
        return b""


class _OutFile:
    """One output file of this run: where it goes, its handle (when open), its state."""

    def __init__(self, final: Path, settings: FileSettings) -> None:
        self.final = final
        self.append = settings.mode == "append"
        self.partial = final if self.append else final.with_name(f".{final.name}.partial")
        # appending to a non-empty file: its header and BOM are already there
        fresh = not (self.append and final.exists() and final.stat().st_size > 0)
        self.bom = fresh and settings.encoding == "utf-8-sig" and settings.format in (
            "csv", "text", "xml")
        self.encoder = _Encoder(settings, needs_header=fresh and settings.header)
        self.handle: IO[bytes] | None = None
        self.started = False  # the file was created (truncated) in this run

    def open(self) -> IO[bytes]:
        handle = self.handle
        if handle is None:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            mode = "ab" if (self.started or self.append) else "wb"
            handle = self.handle = open(self.partial, mode)  # noqa: SIM115 - closed by the sink
            if not self.started and self.bom:
                handle.write(_BOM)
            self.started = True
        return handle

    def release(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.close()

    def finish(self) -> None:
        """Footer, flush, fsync, close and (overwrite mode) rename into place."""
        if not self.started:  # every delivery for this path failed: no file at all
            return
        footer = self.encoder.footer()
        handle = self.open()
        if footer:
            handle.write(footer)
        handle.flush()
        os.fsync(handle.fileno())
        self.release()
        if not self.append:
            os.replace(self.partial, self.final)


class FileSink(Sink):
    """Writes deliveries to files; see the module datasheet for the guarantees.

    Deliveries are grouped by rendered path; each group is written with one ``write``
    call. At most 64 files are open at a time (least recently used closed first).
    """

    def __init__(self, settings: FileSettings, runtime: Runtime, where: str) -> None:
        self.settings = settings
        self.runtime = runtime
        self.where = where
        self._template: Template | None = None
        self._prefix = ""  # the constant text before the first template tag
        path = settings.path
        cut = min((i for i in (path.find("{{"), path.find("{%")) if i >= 0), default=-1)
        if cut >= 0:
            try:
                from integrator.mapping.templates import compile_template
            except ImportError as exc:  # pragma: no cover - the module ships with integrator
                raise FatalError(f"{where}: templated paths need integrator.mapping."
                                 f"templates: {exc}") from None
            self._template = compile_template(path, name=f"{where}.path")
            prefix = self._prefix = path[:cut]
            base_text = prefix[: prefix.rfind("/") + 1] if "/" in prefix else ""
            self._fixed: Path | None = None
        else:
            self._fixed = Path(os.path.normpath(_resolve(runtime, path)))
            base_text = str(self._fixed.parent)
        # rendered paths must stay inside this directory; open() creates it
        self._base = Path(os.path.normpath(_resolve(runtime, base_text or ".")))
        self._base_label = base_text or "the work directory"
        self._files: dict[Path, _OutFile] = {}
        self._open: OrderedDict[Path, _OutFile] = OrderedDict()
        self._checked: dict[str, Path] = {}  # rendered text → its checked final path
        self._closed = False

    async def open(self) -> None:
        """Create the output directory (the constant part of path) or fail fast."""
        try:
            self._base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot create {self._base}: {exc.strerror}",
                             hint="check the path and the permissions") from None

    @property
    def paths(self) -> list[Path]:
        """Final paths written in this run, in the order first written."""
        return [path for path, out in self._files.items() if out.started]

    def _render(self, delivery: Delivery) -> Path:
        if self._fixed is not None:
            return self._fixed
        template = self._template
        assert template is not None
        text = template.render(TemplateContext(delivery.message, delivery.payload))
        path = self._checked.get(text)
        if path is None:
            path = self._check(text)
            if len(self._checked) >= 4096:  # bounded: paths made of ids are many
                self._checked.clear()
            self._checked[text] = path
        return path

    def _check(self, text: str) -> Path:
        """The final path for a rendered text; RejectedError when it leaves the base."""
        if not text or "\x00" in text or text.endswith(("/", os.sep)):
            raise RejectedError(f"{self.where}: the rendered path {text!r} names no file",
                                hint="check the fields used in path")
        variable = text[len(self._prefix):] if text.startswith(self._prefix) else text
        full = os.path.normpath(_resolve(self.runtime, text))
        base = str(self._base)
        if (variable.startswith(("/", "~")) or ".." in text.split("/")
                or not full.startswith(base.rstrip(os.sep) + os.sep)):
            raise RejectedError(
                f"{self.where}: path escapes {self._base_label}: {text!r}",
                hint="message data must not contain ../ or absolute paths; clean it in a "
                     "map step",
                context={"path": text},
            )
        return Path(full)

    def _file(self, path: Path) -> _OutFile:
        out = self._files.get(path)
        if out is None:
            out = self._files[path] = _OutFile(path, self.settings)
        return out

    def _handle(self, out: _OutFile) -> IO[bytes]:
        if out.handle is not None:
            self._open.move_to_end(out.final)
            return out.handle
        while len(self._open) >= MAX_OPEN_FILES:
            _, oldest = self._open.popitem(last=False)
            oldest.release()
        handle = out.open()
        self._open[out.final] = out
        return handle

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        if self._closed:
            raise FatalError(f"{self.where}: write after close")
        if self._fixed is not None and self.settings.format == "jsonl":
            # The common case in one pass: one file, every payload JSON-encodable.
            try:
                data = b"".join([orjson.dumps(d.payload) + b"\n" for d in deliveries])
            except orjson.JSONEncodeError:
                pass  # some payload is not JSON: the careful path names it
            else:
                out = self._file(self._fixed)
                self._write(out, data)
                out.encoder.count += len(deliveries)
                return None
        errors: list[IntegratorError | None] = [None] * len(deliveries)
        failed = False
        groups: dict[Path, list[int]] = {}
        for i, delivery in enumerate(deliveries):
            try:
                path = self._render(delivery)
            except MessageError as exc:
                errors[i] = exc
                failed = True
                continue
            group = groups.get(path)
            if group is None:
                groups[path] = [i]
            else:
                group.append(i)
        for path, indexes in groups.items():
            out = self._file(path)
            chunks: list[bytes] = []
            for i in indexes:
                try:
                    chunks.append(out.encoder.encode(deliveries[i].payload))
                except MessageError as exc:
                    errors[i] = exc
                    failed = True
            if chunks:
                self._write(out, b"".join(chunks))
        return errors if failed else None

    def _write(self, out: Any, data: bytes) -> None:
        try:
            self._handle(out).write(data)
        except OSError as exc:
            raise FatalError(
                f"{self.where}: cannot write {out.partial}: {exc.strerror}",
                hint="check free disk space and permissions",
            ) from None

    def _finish_all(self) -> None:
        for out in self._files.values():
            out.finish()
        for directory in {out.final.parent for out in self._files.values() if out.started}:
            _fsync_dir(directory)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._open.clear()
        try:
            await asyncio.to_thread(self._finish_all)
        except OSError as exc:
            for out in self._files.values():
                out.release()  # files not finished keep their .partial, as after abort
            raise FatalError(f"{self.where}: cannot complete {exc.filename}: {exc.strerror}",
                             hint="check free disk space and permissions") from None

    async def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._open.clear()
        for out in self._files.values():
            out.release()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (22, 9):  # EINVAL, EBADF
            raise
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- lookup

class FileLookup(Lookup):
    """Loads a jsonl, json, csv or xml file into memory at ``open``, keyed by ``key``.

    Keys are text (numbers converted with ``str()``); records without the key field are
    skipped and counted in a warning; a later record with the same key replaces an
    earlier one. A malformed record or more than ``max_lookup_records`` records is a
    FatalError: reference data must be whole to be trusted.
    """

    def __init__(self, settings: FileSettings, runtime: Runtime, where: str, key: str,
                 max_records: int) -> None:
        if settings.format == "text":
            raise FatalError(f"{where}: a text file cannot serve lookups",
                             hint="use jsonl, json, csv or xml")
        self.settings = settings
        self.runtime = runtime
        self.where = where
        self.key = key
        self.max_records = max_records
        self._index: dict[str, Any] = {}

    async def open(self) -> None:
        files = _match(self.runtime, self.settings.path, self.where)
        self._index = await asyncio.to_thread(self._load, files)

    def _load(self, files: list[tuple[Path, str]]) -> dict[str, Any]:
        index: dict[str, Any] = {}
        key, limit = self.key, self.max_records
        missing = 0
        count = 0
        for fi, (path, label) in enumerate(files):
            try:
                with open(path, "rb", buffering=0) as stream:
                    for records in read_records(stream, self.settings, label, fi):
                        for record in records:
                            if record.error is not None:
                                raise FatalError(
                                    f"{self.where}: lookup data is broken: "
                                    f"{record.error.message}", hint=record.error.hint,
                                    context=record.error.context)
                            value = record.body.get(key)
                            if value is None or isinstance(value, dict | list):
                                missing += 1
                                continue
                            count += 1
                            if count > limit:
                                raise FatalError(
                                    f"{self.where}: {label} holds more than "
                                    f"max_lookup_records ({limit}) records",
                                    hint="raise max_lookup_records, or look up in a "
                                         "database instead")
                            index[value if isinstance(value, str) else str(value)] = \
                                record.body
            except OSError as exc:
                raise FatalError(f"{self.where}: cannot read {label}: {exc.strerror}") \
                    from None
        if missing:
            self.runtime.logger.warning(
                "%s: %d records have no usable %r field and cannot be looked up",
                self.where, missing, key)
        return index

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        index = self._index
        out: dict[Hashable, Any] = {}
        for k in keys:
            found = index.get(k if isinstance(k, str) else str(k))
            if found is not None:
                out[k] = found
        return out

    async def close(self) -> None:
        self._index = {}


# ------------------------------------------------------------------------- connector

class FileConnector(Connector):
    """Files on the local disk as source, sink (``write``) and lookup."""

    type_name = "file"
    summary = ("Read and write JSONL, JSON, CSV, XML, fixed-width and text files (globs, "
               "atomic writes).")
    spec = ConfigSpec(_CONNECTION_OPTIONS)
    source_options = ConfigSpec((
        Option("batch_size", "integer", "Records per batch (overrides the connection's).",
               minimum=1, maximum=1_000_000, examples=(5000,)),
    ))
    lookup_options = ConfigSpec((
        Option("key", "string", "The field whose value indexes the records.",
               required=True, examples=("sku", "customer_id")),
        Option("max_lookup_records", "integer",
               "The most records loaded into memory; more is a fatal error.",
               default=1_000_000, minimum=1, examples=(1_000_000,)),
    ))
    actions = {
        "write": Action(
            "Write each delivery's payload to the file its path renders to.",
            _override(_CONNECTION_OPTIONS, "Overrides the connection's value."),
        ),
    }
    default_action = "write"
    capabilities = Capabilities(batching=True, ordering=True, max_concurrency=1)
    examples = (
        "connections:\n  orders_in:\n    type: file\n    path: in/orders-*.jsonl\n",
        "connections:\n  export:\n    type: file\n    path: out/{{ market }}/orders.csv\n"
        "    delimiter: ';'\n    encoding: cp1250\n",
    )

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        """Cross-option problems of a connection block, for lint (after ``spec.check``)."""
        values: dict[str, Any] = {}
        for opt in cls.spec:
            if opt.name in raw:
                try:
                    values[opt.name] = opt.parse(raw[opt.name])
                except ValueError:
                    return []  # spec.check reports it
            elif opt.has_default:
                values[opt.name] = opt.parse(opt.default) if opt.default is not None else None
        key = "format" if "format" not in raw else None
        return [OptionProblem(key, p) for p in FileSettings.problems(values)]

    async def check(self) -> CheckResult:
        """Readable files for a plain path or glob; a writable folder for a template."""
        path: str = self.config.path
        cut = min((i for i in (path.find("{{"), path.find("{%")) if i >= 0), default=-1)
        if cut < 0:
            try:
                files = _match(self.runtime, path, self._where())
            except FatalError:
                files = []
            if files:
                size = sum(f.stat().st_size for f, _ in files)
                return CheckResult("ok", f"{len(files)} file(s), {format_size(size)}")
            target = _resolve(self.runtime, path).parent
        else:
            prefix = path[:cut]
            target = _resolve(self.runtime, prefix[: prefix.rfind("/") + 1] or ".")
        probe = target
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the sink creates missing folders below this one
        if probe.is_dir() and os.access(probe, os.W_OK):
            return CheckResult("ok", f"no file yet; {target} is writable")
        return CheckResult("misconfigured", f"{path!r}: no such file, and {probe} is not "
                                            "a writable folder")

    def _where(self) -> str:
        return f"connection {self.name!r} (file)"

    def source(self, options: Config) -> FileSource:
        settings = FileSettings.from_values(_merge(self.config, options), where=self._where())
        return FileSource(settings, self.runtime, self._where())

    def sink(self, action: str, options: Config) -> FileSink:
        if action != "write":
            raise FatalError(f"{self._where()}: unknown action {action!r}",
                             hint="the file connector has one action: write")
        settings = FileSettings.from_values(_merge(self.config, options), where=self._where())
        return FileSink(settings, self.runtime, self._where())

    def lookup(self, options: Config) -> FileLookup:
        settings = FileSettings.from_values(self.config, where=self._where())
        return FileLookup(settings, self.runtime, self._where(), options["key"],
                          options.get("max_lookup_records") or 1_000_000)
