"""integrator.codecs.lines: bounded-memory line splitting, checked against bytes.split."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrator.codecs.lines import check_line_encoding, format_size, split_lines


def flatten(data: bytes, max_line: int, chunk_size: int) -> list[bytes | tuple[str, int]]:
    out: list[bytes | tuple[str, int]] = []
    for first, lines, oversized in split_lines(io.BytesIO(data), max_line=max_line,
                                               chunk_size=chunk_size):
        assert first == len(out) + 1  # chunks are contiguous and numbered from 1
        for i, line in enumerate(lines):
            n = first + i
            if n in oversized:
                assert line == b""
                out.append(("oversized", oversized[n]))
            else:
                out.append(line)
    return out


def expected(data: bytes, max_line: int) -> list[bytes | tuple[str, int]]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [("oversized", len(x)) if len(x) > max_line else x for x in lines]


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=15),
    trailing_newline=st.booleans(),
    max_line=st.integers(min_value=1, max_value=40),
    chunk_size=st.integers(min_value=1, max_value=70),
)
def test_matches_split_for_any_chunking(lines: list[bytes], trailing_newline: bool,
                                        max_line: int, chunk_size: int) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    assert flatten(data, max_line, chunk_size) == expected(data, max_line)


class CountingStream(io.RawIOBase):
    """Yields ``size`` bytes of one huge line, then a short line; never all at once."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.tail = b"\nnext\n"

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left > 0:
            take = min(n, self.left)
            self.left -= take
            return b"x" * take
        tail, self.tail = self.tail, b""
        return tail


def test_huge_line_is_skipped_without_being_held() -> None:
    stream = CountingStream(50_000_000)  # 50 MB, never materialised
    chunks = list(split_lines(stream, max_line=1_000, chunk_size=1 << 16))
    assert chunks == [(1, [b"", b"next"], {1: 50_000_000})]


def test_empty_stream_yields_nothing() -> None:
    assert list(split_lines(io.BytesIO(b""), max_line=10)) == []


def test_check_line_encoding() -> None:
    assert check_line_encoding("UTF8") == "utf-8"
    assert check_line_encoding("cp1250") == "cp1250"
    assert check_line_encoding("utf-8-sig") == "utf-8-sig"
    for bad in ("utf-16", "utf-32"):
        with pytest.raises(ValueError, match="not ASCII-compatible"):
            check_line_encoding(bad)


@pytest.mark.parametrize(("size", "text"), [
    (512, "512 bytes"), (4_000_000, "4 MB"), (10_000_001, "10.0 MB"), (1500, "1.5 KB"),
    (3 * 1000**3, "3 GB"),
])
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
