"""Fixed-width records: layouts, parsing with placed errors, formatting that never truncates."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from integrator.codecs.fixedwidth import Layout, layout_problems
from integrator.errors import ConversionError, DecodeError

# A bank-statement style layout; the ruler shows the columns.
#          1         2         3         4         5
# 123456789012345678901234567890123456789012345678901234
SPECS: list[dict[str, Any]] = [
    {"name": "id", "start": 1, "width": 6, "type": "int", "pad": "0"},
    {"name": "name", "width": 24},                       # columns 7-30
    {"name": "amount", "start": 31, "width": 10, "type": "decimal",
     "implied_decimals": 2, "pad": "0"},
    {"name": "booked", "start": 41, "width": 8, "type": "date"},
    {"name": "code", "start": 50, "width": 5, "align": "right"},
]
LINE = "000042Zażółć gęślą jaźń       0000001299" + "20240501" + " " + "  A12"


def layout(specs: list[dict[str, Any]] | None = None, **kw: Any) -> Layout:
    return Layout.from_specs(specs if specs is not None else SPECS, **kw)


# ------------------------------------------------------------------------------ parse

def test_parse_places_types_and_padding() -> None:
    assert len(LINE) == 54
    assert layout().parse(LINE) == {
        "id": 42,
        "name": "Zażółć gęślą jaźń",
        "amount": Decimal("12.99"),
        "booked": date(2024, 5, 1),
        "code": "A12",
    }


def test_fields_without_start_follow_the_previous_one() -> None:
    fields = layout().fields
    assert [(f.name, f.start, f.end) for f in fields] == [
        ("id", 1, 6), ("name", 7, 30), ("amount", 31, 40), ("booked", 41, 48),
        ("code", 50, 54)]
    assert fields[1].columns == "columns 7–30"


def test_implied_decimals_keep_exact_digits() -> None:
    lay = layout([{"name": "a", "width": 7, "type": "decimal", "implied_decimals": 2,
                   "pad": "0"}])
    assert lay.parse("0001299") == {"a": Decimal("12.99")}
    assert lay.parse("-000150") == {"a": Decimal("-1.50")}
    assert lay.parse("0000000") == {"a": Decimal("0.00")}
    assert str(lay.parse("0000001")["a"]) == "0.01"


def test_explicit_decimal_point_and_separator() -> None:
    lay = layout([{"name": "a", "width": 8, "type": "decimal"},
                  {"name": "b", "width": 8, "type": "decimal", "decimal_point": ","}])
    assert lay.parse("   12.5 -1234,56") == {"a": Decimal("12.5"), "b": Decimal("-1234.56")}


def test_blank_numbers_and_dates_are_null_but_zero_is_zero() -> None:
    lay = layout([{"name": "n", "width": 4, "type": "int", "pad": "0"},
                  {"name": "m", "width": 4, "type": "int"},
                  {"name": "d", "width": 8, "type": "date"},
                  {"name": "s", "width": 3}])
    assert lay.parse("0000" + "    " + "        " + "   ") == {
        "n": 0, "m": None, "d": None, "s": ""}


def test_alignment_decides_which_padding_is_removed() -> None:
    lay = layout([{"name": "left", "width": 6, "pad": "*"},
                  {"name": "right", "width": 6, "align": "right", "pad": "*"},
                  {"name": "n", "width": 6, "type": "int", "pad": "*"}])
    assert lay.parse("ab*c**" + "***x*y" + "****42") == {"left": "ab*c", "right": "x*y", "n": 42}


def test_date_formats() -> None:
    lay = layout([{"name": "d", "width": 10, "type": "date", "format": "%d.%m.%Y"}])
    assert lay.parse("01.05.2024") == {"d": date(2024, 5, 1)}


def test_a_short_line_reads_as_padded_and_extra_columns_are_ignored() -> None:
    lay = layout([{"name": "a", "width": 3}, {"name": "b", "width": 5}])
    assert lay.parse("abc") == {"a": "abc", "b": ""}
    assert lay.parse("abcde") == {"a": "abc", "b": "de"}
    assert lay.parse("abcdefgh-trailer") == {"a": "abc", "b": "defgh"}


def test_line_length_makes_the_length_strict() -> None:
    lay = layout([{"name": "a", "width": 3}], line_length=5)
    assert lay.parse("abc  ") == {"a": "abc"}
    with pytest.raises(DecodeError) as info:
        lay.parse("abc", line_no=3, where="in.txt")
    assert info.value.message == "in.txt: line 3: the line is 3 characters long; " \
                                 "line_length is 5"


def test_not_a_number_names_line_field_and_columns() -> None:
    bad = LINE[:30] + "ABC       " + LINE[40:]
    with pytest.raises(DecodeError) as info:
        layout().parse(bad, line_no=14)
    assert info.value.message == "line 14, field amount (columns 31–40): 'ABC' is not a number"
    assert info.value.context == {"line": 14, "field": "amount", "column": 31}
    assert info.value.hint == "the field holds digits with 2 implied decimals, no decimal point"


def test_error_with_a_file_name_in_front() -> None:
    with pytest.raises(DecodeError) as info:
        layout().parse("00x042" + LINE[6:], line_no=2, where="orders.txt")
    assert info.value.message == ("orders.txt: line 2, field id (columns 1–6): '00x042' is "
                                  "not a whole number")
    assert info.value.context["file"] == "orders.txt"


@pytest.mark.parametrize(("specs", "text", "reason"), [
    ([{"name": "d", "width": 8, "type": "date"}], "20241332",
     "field d (columns 1–8): '20241332' is not a date in the format %Y%m%d"),
    ([{"name": "a", "width": 6, "type": "decimal", "implied_decimals": 2}], " 12.50",
     "field a (columns 1–6): '12.50' is not a number"),
    ([{"name": "a", "width": 6, "type": "decimal"}], "1.2.3 ",
     "field a (columns 1–6): '1.2.3' is not a number"),
    ([{"name": "n", "width": 4, "type": "int"}], "4 2 ",
     "field n (columns 1–4): '4 2' is not a whole number"),
    ([{"name": "c", "width": 1, "type": "int"}], "x",
     "field c (column 1): 'x' is not a whole number"),
])
def test_bad_values(specs: list[dict[str, Any]], text: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        layout(specs).parse(text)
    assert info.value.message == reason


# ----------------------------------------------------------------------------- format

def test_format_round_trips() -> None:
    lay = layout()
    record = lay.parse(LINE)
    assert lay.format(record) == LINE
    assert lay.format({"id": 42, "name": "Zażółć gęślą jaźń", "amount": 12.99,
                       "booked": "2024-05-01", "code": "A12"}) == LINE


def test_format_fills_gaps_and_nulls_with_spaces() -> None:
    lay = layout()
    line = lay.format({"id": 7})
    assert line == "000007" + " " * 48
    assert lay.parse(line) == {"id": 7, "name": "", "amount": None, "booked": None,
                               "code": ""}


def test_zero_padded_negative_numbers_keep_the_sign_in_front() -> None:
    lay = layout([{"name": "n", "width": 6, "type": "int", "pad": "0"},
                  {"name": "a", "width": 7, "type": "decimal", "implied_decimals": 2,
                   "pad": "0"},
                  {"name": "s", "width": 5, "type": "int"}])
    line = lay.format({"n": -42, "a": Decimal("-1.5"), "s": -3})
    assert line == "-00042-000150   -3"
    assert lay.parse(line) == {"n": -42, "a": Decimal("-1.50"), "s": -3}


def test_decimals_with_a_point_are_written_with_their_places() -> None:
    lay = layout([{"name": "a", "width": 9, "type": "decimal", "decimals": 2,
                   "decimal_point": ","}])
    assert lay.format({"a": 1234.5}) == "  1234,50"
    assert lay.format({"a": "7"}) == "     7,00"


def test_values_that_do_not_fit_are_conversion_errors_never_truncated() -> None:
    lay = layout()
    with pytest.raises(ConversionError) as info:
        lay.format({"id": 1, "name": "A name much longer than twenty-four"})
    assert info.value.message == ("field name (columns 7–30): 'A name much longer than "
                                  "twenty-four' is 35 characters; the field holds 24")
    with pytest.raises(ConversionError, match=r"field id \(columns 1–6\): '1234567' is 7"):
        lay.format({"id": 1234567})


def test_more_decimal_places_than_the_field_holds() -> None:
    specs = [{"name": "a", "width": 7, "type": "decimal", "implied_decimals": 2,
              "pad": "0"}]
    with pytest.raises(ConversionError) as info:
        layout(specs).format({"a": 12.995})
    assert info.value.message == ("field a (columns 1–7): '12.995' has more than 2 decimal "
                                  "places (rounding: error)")
    assert layout([{**specs[0], "rounding": "half-up"}]).format({"a": 12.995}) == "0001300"
    assert layout([{**specs[0], "rounding": "half-even"}]).format({"a": "0.125"}) == "0000012"


@pytest.mark.parametrize(("spec", "value", "reason"), [
    ({"name": "n", "width": 4, "type": "int"}, 1.5, "'1.5' is not a whole number"),
    ({"name": "n", "width": 4, "type": "int"}, "12a", "'12a' is not a whole number"),
    ({"name": "n", "width": 4, "type": "int"}, True, "'True' is a boolean; the field "
                                                     "holds whole numbers"),
    ({"name": "n", "width": 4, "type": "decimal"}, "abc", "'abc' is not a number"),
    ({"name": "n", "width": 4, "type": "decimal"}, float("nan"), "'nan' is not a finite "
                                                                 "number"),
    ({"name": "n", "width": 8, "type": "date"}, "1.5.2024", "'1.5.2024' is not an ISO "
                                                            "8601 date (2024-05-01)"),
    ({"name": "n", "width": 8, "type": "date"}, 20240501, "'20240501' is int; the field "
                                                          "holds dates"),
    ({"name": "n", "width": 8}, {"a": 1}, "\"{'a': 1}\" is dict; the field holds text"),
])
def test_values_of_the_wrong_kind(spec: dict[str, Any], value: Any, reason: str) -> None:
    with pytest.raises(ConversionError) as info:
        layout([spec]).format({"n": value})
    where = "columns 1–4" if spec["width"] == 4 else "columns 1–8"
    assert info.value.message == f"field n ({where}): {reason}"


def test_line_breaks_in_values_are_refused() -> None:
    with pytest.raises(ConversionError, match="holds a line break"):
        layout([{"name": "s", "width": 10}]).format({"s": "a\nb"})


def test_dates_and_datetimes_format_with_their_format() -> None:
    lay = layout([{"name": "d", "width": 12, "type": "date", "format": "%Y%m%d%H%M"}])
    assert lay.format({"d": datetime(2024, 5, 1, 13, 45)}) == "202405011345"
    assert lay.format({"d": "2024-05-01T13:45:00"}) == "202405011345"
    assert lay.format({"d": date(2024, 5, 1)}) == "202405010000"


def test_a_payload_that_is_not_an_object() -> None:
    with pytest.raises(ConversionError, match="must be an object, got list"):
        layout().format([1, 2])  # type: ignore[arg-type]


def test_line_length_pads_written_lines() -> None:
    lay = layout([{"name": "a", "width": 3}], line_length=8)
    assert lay.format({"a": "x"}) == "x       "


# ----------------------------------------------------------------------------- layout

def test_every_layout_problem_is_reported_at_once() -> None:
    problems = layout_problems([
        {"name": "id", "start": 1, "width": 6, "type": "integer"},
        {"name": "name", "widht": 10},
        {"name": "amount", "start": 3, "width": 5, "type": "decimal",
         "implied_decimals": 2, "decimals": 2},
        {"name": "flag", "width": 1, "format": "%Y", "pad": "ab"},
        {"width": 2},
        {"name": "id", "start": 40, "width": 2},
        "oops",
    ])
    assert problems == [
        "field 'id': type must be one of str, int, decimal, date, got 'integer'",
        "field 'name': unknown key 'widht' (did you mean 'width'?)",
        "field 'name': width is required",
        "field 'amount': implied_decimals and decimals exclude each other (implied: no "
        "point in the text; decimals: a point)",
        "field 'flag': pad must be one character, got 'ab'",
        "field 'flag': format applies to type date only",
        "fields[4]: name is required (the record key)",
        "field 'id': the name is used twice",
        "fields[6]: expected a mapping such as {name: id, width: 6}, got str",
    ]


def test_overlapping_fields_are_a_problem() -> None:
    assert layout_problems([{"name": "a", "start": 1, "width": 5},
                            {"name": "b", "start": 4, "width": 2}]) == [
        "field 'b' (columns 4–5) overlaps field 'a' (columns 1–5)"]


def test_fields_must_be_a_non_empty_list() -> None:
    for value in (None, [], "id:1:6", {"name": "id"}):
        assert layout_problems(value) == [
            "fields must be a non-empty list of field specs ({name: ..., start: ..., "
            "width: ...})"]


def test_fields_beyond_line_length() -> None:
    assert layout_problems([{"name": "a", "width": 10}], line_length=8) == [
        "the fields end at column 10, beyond line_length 8"]


def test_from_specs_raises_with_every_problem() -> None:
    with pytest.raises(ValueError, match="width must be at least 1, got 0; field 'b'"):
        Layout.from_specs([{"name": "a", "width": 0}, {"name": "b", "width": 1,
                                                        "align": "middle"}])
