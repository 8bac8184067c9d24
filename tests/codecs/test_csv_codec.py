"""integrator.codecs.csv: per-record errors when reading, strict values when writing."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from integrator.codecs.csv import RowEncoder, read_rows, write_rows
from integrator.errors import ConversionError, DecodeError

POLISH = "Zażółć gęślą jaźń"


def rows(data: bytes, **kw: object) -> list[tuple[int, object]]:
    return list(read_rows(io.BytesIO(data), where="in/x.csv", **kw))  # type: ignore[arg-type]


def test_header_names_the_columns() -> None:
    assert rows(b"id,name\n1,a\n2,b\n") == [(2, {"id": "1", "name": "a"}),
                                          (3, {"id": "2", "name": "b"})]


def test_last_line_without_newline_and_crlf_line_ends() -> None:
    assert rows(b"id,name\r\n1,a\r\n2,b") == [(2, {"id": "1", "name": "a"}),
                                            (3, {"id": "2", "name": "b"})]


@pytest.mark.parametrize("encoding", ["cp1250", "iso-8859-2"])
def test_polish_erp_export_with_semicolons(encoding: str) -> None:
    data = f"nr;nazwa;miasto\n1;{POLISH};Łódź\n2;\"Śląsk; \"\"cytat\"\"\";Gdańsk\n".encode(encoding)
    assert POLISH.encode(encoding) != POLISH.encode("utf-8")  # really not UTF-8
    assert rows(data, encoding=encoding, delimiter=";") == [
        (2, {"nr": "1", "nazwa": POLISH, "miasto": "Łódź"}),
        (3, {"nr": "2", "nazwa": 'Śląsk; "cytat"', "miasto": "Gdańsk"}),
    ]


def test_utf8_sig_strips_the_bom() -> None:
    data = b"\xef\xbb\xbfid,name\n1," + POLISH.encode() + b"\n"
    assert rows(data, encoding="utf-8-sig") == [(2, {"id": "1", "name": POLISH})]
    # plain utf-8 keeps it: the first column name then starts with U+FEFF
    assert next(iter(rows(data)))[1] == {"\ufeffid": "1", "name": POLISH}


def test_invalid_utf8_is_an_error_for_that_record_only() -> None:
    data = b"id,name\n1,ok\n2,bad \xff\xfe here\n3,also ok\n"
    result = rows(data)
    assert result[0] == (2, {"id": "1", "name": "ok"})
    line, err = result[1]
    assert line == 3 and isinstance(err, DecodeError)
    # offset: "id,name\n" (8) + "1,ok\n" (5) + "2,bad " (6) = 19
    assert err.message == "in/x.csv:3: invalid utf-8 at byte offset 19 (byte 0xFF)"
    assert err.context == {"file": "in/x.csv", "line": 3, "offset": 19}
    assert result[2] == (4, {"id": "3", "name": "also ok"})
    assert len(result) == 3


def test_undefined_cp1250_byte_is_reported() -> None:
    data = "a;b\n1;".encode("cp1250") + b"\x98\n2;x\n"  # 0x98 is undefined in cp1250
    result = rows(data, encoding="cp1250", delimiter=";")
    assert isinstance(result[0][1], DecodeError)
    assert "invalid cp1250 at byte offset 6 (byte 0x98)" in result[0][1].message
    assert result[1] == (3, {"a": "2", "b": "x"})


def test_wrong_field_count_is_an_error_for_that_row() -> None:
    data = b"a,b,c,d,e,f,g\n1,2,3,4,5\n1,2,3,4,5,6,7\n"
    result = rows(data)
    assert isinstance(result[0][1], DecodeError)
    assert result[0][1].message.startswith("in/x.csv:2: expected 7 fields, got 5")
    assert result[1][1] == dict(zip("abcdefg", "1234567", strict=True))


def test_quoted_newlines_keep_the_first_line_number() -> None:
    data = b'id,text\n1,"two\nlines"\n2,x\n'
    assert rows(data) == [(2, {"id": "1", "text": "two\nlines"}), (4, {"id": "2", "text": "x"})]


def test_blank_lines_skipped_or_kept() -> None:
    data = b"id\n1\n\n2\n"
    assert rows(data) == [(2, {"id": "1"}), (4, {"id": "2"})]
    assert rows(data, skip_blank_lines=False) == [(2, {"id": "1"}), (3, {"id": ""}),
                                                  (4, {"id": "2"})]


def test_no_header_needs_columns() -> None:
    assert rows(b"1;a\n", header=False, columns=["id", "name"], delimiter=";") == [
        (1, {"id": "1", "name": "a"})]
    with pytest.raises(ValueError, match="needs columns"):
        rows(b"1;a\n", header=False)


def test_columns_replace_header_names() -> None:
    assert rows(b"ID,Nazwa\n1,a\n", columns=["id", "name"]) == [(2, {"id": "1", "name": "a"})]


def test_broken_header_stops_the_file() -> None:
    with pytest.raises(DecodeError, match="names column 'id' twice"):
        rows(b"id,id\n1,2\n")
    with pytest.raises(DecodeError, match="the header cannot be read: invalid utf-8"):
        rows(b"id,n\xffme\n1,2\n")


def test_malformed_quoting_and_unterminated_quote() -> None:
    result = rows(b'a,b\n"x"y,1\n2,3\n4,"open\n')
    assert isinstance(result[0][1], DecodeError) and "malformed CSV" in result[0][1].message
    assert result[1] == (3, {"a": "2", "b": "3"})
    assert isinstance(result[2][1], DecodeError)
    assert result[2][1].message.startswith("in/x.csv:4: malformed CSV: unexpected end of data")


def test_oversized_line_is_skipped_with_bounded_memory() -> None:
    big = b"2," + b"x" * 5_000
    result = rows(b"id,v\n1,a\n" + big + b"\n3,c\n", max_record_size=1_000)
    assert result[0] == (2, {"id": "1", "v": "a"})
    assert result[1][0] == 3
    err = result[1][1]
    assert isinstance(err, DecodeError)
    assert err.message == "in/x.csv:3: line 3 is 5.0 KB; max_record_size is 1 KB"
    assert result[2] == (4, {"id": "3", "v": "c"})


def test_oversized_multiline_record() -> None:
    record = b'2,"' + b"\n".join([b"y" * 400] * 5) + b'"'
    result = rows(b"id,v\n" + record + b"\n3,c\n", max_record_size=1_000)
    assert isinstance(result[0][1], DecodeError)
    assert "the record is 2.0 KB" in result[0][1].message
    assert result[1] == (7, {"id": "3", "v": "c"})


def test_not_ascii_compatible_encoding_refused() -> None:
    with pytest.raises(ValueError, match="not ASCII-compatible"):
        rows("a\n".encode("utf-16"), encoding="utf-16")
    with pytest.raises(ValueError, match="unknown encoding"):
        rows(b"a\n", encoding="no-such-codec")


def test_write_rows_values_and_dialect() -> None:
    out = io.BytesIO()
    n = write_rows([
        {"id": 1, "name": POLISH, "paid": True, "note": None, "total": Decimal("12.50"),
         "day": date(2024, 5, 1)},
        {"id": 2, "name": 'a;"b"', "paid": False},
    ], out, delimiter=";", encoding="cp1250", line_terminator="\r\n")
    assert n == 2
    assert out.getvalue().decode("cp1250") == (
        "id;name;paid;note;total;day\r\n"
        f"1;{POLISH};true;;12.50;2024-05-01\r\n"
        '2;"a;""b""";false;;;\r\n'
    )


def test_write_rows_round_trips_through_read_rows() -> None:
    data = [{"id": "1", "text": "multi\nline, \"quoted\""}, {"id": "2", "text": POLISH}]
    out = io.BytesIO()
    write_rows(data, out, encoding="iso-8859-2")
    back = [row for _, row in read_rows(io.BytesIO(out.getvalue()), encoding="iso-8859-2")]
    assert back == data


def test_write_rows_utf8_sig_writes_one_bom_and_no_header_when_asked() -> None:
    out = io.BytesIO()
    write_rows([{"a": 1}, {"a": 2}], out, encoding="utf-8-sig", header=False)
    assert out.getvalue() == b"\xef\xbb\xbf1\n2\n"


@pytest.mark.parametrize(("row", "message"), [
    ({"id": 1, "lines": [1, 2]}, "column 'lines' holds a list"),
    ({"id": 1, "lines": {"a": 1}}, "column 'lines' holds an object"),
    ({"id": 1, "extra": "x"}, "field 'extra' is not among the CSV columns"),
    ({"id": 1, "lines": "ẞ€"}, "cannot be written in iso-8859-2"),
])
def test_row_encoder_refuses_what_csv_cannot_hold(row: dict[str, object], message: str) -> None:
    encoder = RowEncoder(["id", "lines"], encoding="iso-8859-2")
    with pytest.raises(ConversionError, match=message):
        encoder.encode(row)


def test_write_rows_names_the_bad_row() -> None:
    out = io.BytesIO()
    with pytest.raises(ConversionError, match=r"^row 1: column 'x' holds a list"):
        write_rows([{"x": 1}, {"x": [1]}], out)
    assert out.getvalue() == b"x\n1\n"  # rows before the bad one were written
