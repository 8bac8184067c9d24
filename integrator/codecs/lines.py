"""Splitting a byte stream into lines with bounded memory.

Line-based formats (JSONL, CSV, text) read their input through :func:`split_lines`. It
reads 64 KiB chunks and splits them in C, which costs little beyond the split itself,
and it never holds more than ``max_line`` bytes of one line: a longer line is skipped in
chunks up to its newline and reported by number and size, so one 1 GB line cannot take
the process down and the lines after it are still read.

Lines are split on ``b"\\n"`` only; a ``\\r`` before it stays on the line (JSON and CSV
readers treat it as whitespace / line end). The encodings of line-based formats must
therefore be ASCII-compatible (UTF-8, cp1250, ISO-8859-2, ...): see
:func:`check_line_encoding`.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Protocol

__all__ = ["CHUNK_SIZE", "LineChunk", "Readable", "check_line_encoding", "format_size",
           "split_lines"]

CHUNK_SIZE = 1 << 16  # 64 KiB: big enough to amortise, small enough for the CPU cache


class Readable(Protocol):
    """What :func:`split_lines` needs from a stream: ``read(n)`` returning bytes."""

    def read(self, size: int = ..., /) -> bytes: ...


#: One chunk of complete lines: ``(first_line_number, lines, oversized)``. ``lines`` holds
#: each line without its ``\n``; an oversized line appears in ``lines`` as ``b""`` and
#: ``oversized`` maps its line number to its full size in bytes (newline excluded).
LineChunk = tuple[int, list[bytes], dict[int, int]]


def split_lines(
    stream: Readable, *, max_line: int, chunk_size: int = CHUNK_SIZE
) -> Iterator[LineChunk]:
    """Yield the stream's lines chunk by chunk; memory stays below ``max_line + chunk_size``.

    The last line needs no trailing newline. An empty stream yields nothing. ``max_line``
    counts the bytes of a line without its newline.
    """
    line_no = 1  # number of the first line of the next chunk
    carry: list[bytes] = []  # the pieces of an incomplete line
    carried = 0  # their total size
    skipping = False  # inside an oversized line whose rest is being thrown away
    skipped = 0  # bytes of the oversized line seen so far
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        oversized: dict[int, int] = {}
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                skipped += len(chunk)
                continue
            skipping = False
            oversized[line_no] = skipped + end
            lines = chunk[end + 1:].split(b"\n")
            tail = lines.pop()
            lines.insert(0, b"")
        elif carry:
            end = chunk.find(b"\n")
            if end < 0:
                carried += len(chunk)
                if carried > max_line:
                    skipping, skipped, carry = True, carried, []
                else:
                    carry.append(chunk)
                continue
            carry.append(chunk[:end])
            head = b"".join(carry)
            carry = []
            lines = chunk[end + 1:].split(b"\n")
            tail = lines.pop()
            lines.insert(0, head)
        else:
            lines = chunk.split(b"\n")
            tail = lines.pop()
        if tail:
            carry, carried = [tail], len(tail)
            if carried > max_line:
                skipping, skipped, carry = True, carried, []
        if not lines:
            continue
        if len(chunk) > max_line or len(lines[0]) > max_line:  # else no line can be
            for i, line in enumerate(lines):
                if len(line) > max_line:
                    oversized[line_no + i] = len(line)
                    lines[i] = b""
        yield line_no, lines, oversized
        line_no += len(lines)
    if skipping:
        yield line_no, [b""], {line_no: skipped}
    elif carry:
        yield line_no, [b"".join(carry)], {}


def check_line_encoding(encoding: str) -> str:
    """The codec's canonical name; ValueError when it is unknown or not ASCII-compatible."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    probe = b"\n\r;,\"'ab"
    try:
        compatible = probe.decode(info.name) == probe.decode("ascii")
    except UnicodeDecodeError:
        compatible = False
    if not compatible:
        raise ValueError(
            f"encoding {encoding!r} is not ASCII-compatible; line-based formats need an "
            "encoding such as utf-8, cp1250 or iso-8859-2"
        )
    return info.name


def format_size(size: int) -> str:
    """``10_000_001`` → ``"10.0 MB"``, ``4_000_000`` → ``"4 MB"``, ``512`` → ``"512 bytes"``.

    Decimal units, as :func:`integrator.connectors.spec.parse_size` reads them.
    """
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            value = size / factor
            if size % factor == 0:
                return f"{size // factor} {unit}"
            return f"{value:.1f} {unit}"
    return f"{size} bytes"
