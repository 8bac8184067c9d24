"""The file connector as a source: every format, every bad input, acks, progress, stop."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from integrator.connectors.base import Record, Runtime
from integrator.connectors.builtin.files import FileConnector, FileSource
from integrator.errors import DecodeError, FatalError
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"


def make_source(tmp_path: Path, source_options: dict[str, Any] | None = None,
                **config: Any) -> FileSource:
    runtime = Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                      redactor=Redactor())
    connector = FileConnector("orders", FileConnector.spec.parse(config, "t"), runtime)
    return connector.source(FileConnector.source_options.parse(source_options or {}, "t"))


async def collect(source: FileSource) -> list[list[Record]]:
    await source.open()
    try:
        return [batch async for batch in source.batches()]
    finally:
        await source.close()


def read(tmp_path: Path, **config: Any) -> list[Record]:
    return [r for batch in asyncio.run(collect(make_source(tmp_path, **config))) for r in batch]


def good(records: list[Record]) -> list[Any]:
    return [r.body for r in records if r.error is None]


def errors(records: list[Record]) -> list[tuple[dict[str, Any], str]]:
    out = []
    for r in records:
        if r.error is not None:
            assert r.body is None and isinstance(r.error, DecodeError)
            out.append((r.meta, r.error.message))
    return out


# ------------------------------------------------------------------------------ jsonl

def test_jsonl_records_meta_and_ack_tokens(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/orders.jsonl").write_bytes(
        b'{"id": 1}\n\n{"id": 2, "name": "' + POLISH.encode() + b'"}\r\n   \n{"id": 3}')
    records = read(tmp_path, path="in/orders.jsonl")
    assert [r.body for r in records] == [{"id": 1}, {"id": 2, "name": POLISH}, {"id": 3}]
    assert [r.meta for r in records] == [
        {"file": "in/orders.jsonl", "line": 1},
        {"file": "in/orders.jsonl", "line": 3},
        {"file": "in/orders.jsonl", "line": 5},
    ]
    assert [r.ack for r in records] == [(0, 1), (0, 3), (0, 5)]


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    lines = ['{"id": 1}', '{"id": 2}', '{"id": 3}', '{"id": 4}', "[1, 2]", '"text"', "42",
             '{"id": 8}']
    (tmp_path / "o.jsonl").write_text("\n".join(lines))
    records = read(tmp_path, path="o.jsonl")
    assert good(records) == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}, {"id": 8}]
    assert errors(records) == [
        ({"file": "o.jsonl", "line": 5}, "o.jsonl:5: expected a JSON object, got an array"),
        ({"file": "o.jsonl", "line": 6}, "o.jsonl:6: expected a JSON object, got a string"),
        ({"file": "o.jsonl", "line": 7}, "o.jsonl:7: expected a JSON object, got a number"),
    ]
    assert [r.ack for r in records][4:7] == [(0, 5), (0, 6), (0, 7)]  # errors are acked too


def test_jsonl_malformed_json_is_one_error_record(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_bytes(b'{"id": 1}\n{"id": 2,, }\n{"id": 3}\n')
    records = read(tmp_path, path="o.jsonl")
    assert good(records) == [{"id": 1}, {"id": 3}]
    [(meta, message)] = errors(records)
    assert meta == {"file": "o.jsonl", "line": 2}
    assert message == ("o.jsonl:2: invalid JSON: unexpected character, expected a string key "
                       "at column 10")
    bad = records[1].error
    assert bad is not None and bad.context == {"file": "o.jsonl", "line": 2, "column": 10}


def test_jsonl_10mb_line_among_good_lines_with_bounded_memory(tmp_path: Path) -> None:
    huge = b'{"blob": "' + b"x" * 10_000_000 + b'"}'
    with open(tmp_path / "o.jsonl", "wb") as f:
        f.write(b'{"id": 1}\n')
        f.write(huge + b"\n")
        f.write(b'{"id": 3}\n')
    tracemalloc.start()
    try:
        records = read(tmp_path, path="o.jsonl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert good(records) == [{"id": 1}, {"id": 3}]
    assert errors(records) == [({"file": "o.jsonl", "line": 2},
                                "o.jsonl: line 2 is 10.0 MB; max_record_size is 4 MB")]
    assert records[1].error is not None and records[1].error.context["size"] == len(huge)
    assert peak < 6_000_000, f"peak {peak} bytes: the line was held in memory"


def test_jsonl_last_line_too_long_without_newline(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_bytes(b'{"id": 1}\n{"x": "' + b"y" * 2000 + b'"}')
    records = read(tmp_path, path="o.jsonl", max_record_size="1KB")
    assert good(records) == [{"id": 1}]
    assert errors(records) == [({"file": "o.jsonl", "line": 2},
                                "o.jsonl: line 2 is 2.0 KB; max_record_size is 1 KB")]


def test_jsonl_bom_and_legacy_encoding(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'\xef\xbb\xbf{"id": 1}\n')
    assert good(read(tmp_path, path="a.jsonl")) == [{"id": 1}]
    (tmp_path / "b.jsonl").write_bytes(
        f'{{"name": "{POLISH}"}}\n'.encode("cp1250") + b'{"name": "\x98"}\n{"id": 3}\n')
    records = read(tmp_path, path="b.jsonl", encoding="cp1250")
    assert good(records) == [{"name": POLISH}, {"id": 3}]
    assert errors(records) == [({"file": "b.jsonl", "line": 2},
                                "b.jsonl:2: invalid cp1250 at byte 10 of the line (byte 0x98)")]


# ------------------------------------------------------------------------------- json

def test_json_array_of_objects_with_index(tmp_path: Path) -> None:
    (tmp_path / "o.json").write_text('[{"id": 1}, [2], {"id": 3}]')
    records = read(tmp_path, path="o.json")
    assert good(records) == [{"id": 1}, {"id": 3}]
    assert [r.meta for r in records] == [{"file": "o.json", "index": i} for i in range(3)]
    assert errors(records)[0][1] == "o.json: index 1: expected a JSON object, got an array"


def test_json_single_object_and_bad_top_level(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text('{"id": 1}')
    assert read(tmp_path, path="one.json")[0].body == {"id": 1}
    (tmp_path / "num.json").write_text("42")
    assert errors(read(tmp_path, path="num.json"))[0][1] == (
        "num.json: expected an array of objects or one object, got a number")
    (tmp_path / "bad.json").write_text('[\n  {"id": 1},\n  {"id": }\n]')
    [(_, message)] = errors(read(tmp_path, path="bad.json"))
    assert message.startswith("bad.json: invalid JSON") and "at line 3 column 10" in message


def test_json_file_larger_than_max_record_size(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text("[" + ",".join(['{"id": 1}'] * 500) + "]")
    [(_, message)] = errors(read(tmp_path, path="big.json", max_record_size="1KB"))
    assert message == "big.json is 5.0 KB; max_record_size is 1 KB"


# -------------------------------------------------------------------------------- csv

@pytest.mark.parametrize("encoding", ["cp1250", "iso-8859-2"])
def test_csv_polish_erp_export(tmp_path: Path, encoding: str) -> None:
    text = f"nr;nazwa;kwota\n1;{POLISH};12,50\n2;\"Łódź; centrum\";7\n"
    (tmp_path / "erp.csv").write_bytes(text.encode(encoding))
    records = read(tmp_path, path="erp.csv", delimiter=";", encoding=encoding)
    assert [r.body for r in records] == [
        {"nr": "1", "nazwa": POLISH, "kwota": "12,50"},
        {"nr": "2", "nazwa": "Łódź; centrum", "kwota": "7"},
    ]
    assert [r.meta["line"] for r in records] == [2, 3]


def test_csv_bom(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes(b"\xef\xbb\xbfid,name\n1," + POLISH.encode() + b"\n")
    assert good(read(tmp_path, path="x.csv", encoding="utf-8-sig")) == [
        {"id": "1", "name": POLISH}]


def test_csv_invalid_utf8_row_and_wrong_field_count(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes(b"id,name\n1,a\n2,b\xc3\x28c\n3\n4,d\n")
    records = read(tmp_path, path="x.csv")
    assert good(records) == [{"id": "1", "name": "a"}, {"id": "4", "name": "d"}]
    assert errors(records) == [
        ({"file": "x.csv", "line": 3}, "x.csv:3: invalid utf-8 at byte offset 15 (byte 0xC3)"),
        ({"file": "x.csv", "line": 4}, "x.csv:4: expected 2 fields, got 1"),
    ]


def test_csv_header_problem_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes(b"id,id\n1,2\n")
    with pytest.raises(FatalError, match="names column 'id' twice"):
        read(tmp_path, path="x.csv")


# -------------------------------------------------------------------------------- xml

ORDERS_XML = (f'<?xml version="1.0" encoding="utf-8"?>\n<Orders>\n'
              f'  <Order id="1"><name>{POLISH}</name></Order>\n'
              f'  <Order id="2"><name>b</name></Order>\n</Orders>\n')


def test_xml_record_path_items_are_records(tmp_path: Path) -> None:
    (tmp_path / "o.xml").write_text(ORDERS_XML)
    records = read(tmp_path, path="o.xml", record_path="Orders/Order")
    assert [r.body for r in records] == [{"@id": "1", "name": POLISH},
                                        {"@id": "2", "name": "b"}]
    assert [r.meta for r in records] == [{"file": "o.xml", "index": 0},
                                        {"file": "o.xml", "index": 1}]


def test_xml_single_item_and_whole_document(tmp_path: Path) -> None:
    (tmp_path / "one.xml").write_text("<Orders><Order><n>1</n></Order></Orders>")
    assert good(read(tmp_path, path="one.xml", record_path="Orders/Order")) == [{"n": "1"}]
    assert good(read(tmp_path, path="one.xml")) == [{"Orders": {"Order": {"n": "1"}}}]
    assert errors(read(tmp_path, path="one.xml", record_path="Invoices/Invoice"))[0][1] == (
        "one.xml: the root element is <Orders>, but record_path Invoices/Invoice starts at "
        "<Invoices>")


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A secret file that hostile XML tries to read; the audit hook sees any open()."""
    secret = tmp_path / "canary.txt"
    secret.write_text("CANARY-SECRET-8d1e")
    opened: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args and "canary.txt" in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    yield secret
    assert opened == [], f"the canary file was opened: {opened}"
    secret.read_text()  # positive control: the hook does see an open
    assert len(opened) == 1


def test_xml_source_refuses_xxe_and_billion_laughs(tmp_path: Path, canary: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/1-xxe.xml").write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{canary}">]>\n'
        f"<Orders><Order>&x;</Order></Orders>")
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    (tmp_path / "in/2-lol.xml").write_text(
        f'<!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><Orders><Order>&l9;</Order></Orders>')
    (tmp_path / "in/3-ok.xml").write_text("<Orders><Order><n>1</n></Order></Orders>")
    records = read(tmp_path, path="in/*.xml", record_path="Orders/Order")
    assert good(records) == [{"n": "1"}]
    errs = errors(records)
    assert [meta["file"] for meta, _ in errs] == ["in/1-xxe.xml", "in/2-lol.xml"]
    assert all("DOCTYPE declaration is not allowed" in message for _, message in errs)
    everything = orjson.dumps([[r.body, r.meta, str(r.error), r.error and r.error.context]
                               for r in records]).decode()
    assert "CANARY" not in everything


def test_xml_encoding_option_reads_legacy_files_without_declaration(tmp_path: Path) -> None:
    (tmp_path / "erp.xml").write_bytes(f"<Orders><Order>{POLISH}</Order></Orders>".encode(
        "cp1250"))
    assert good(read(tmp_path, path="erp.xml", encoding="cp1250",
                     record_path="Orders/Order")) == [{"#text": POLISH}]
    [(_, message)] = errors(read(tmp_path, path="erp.xml", record_path="Orders/Order"))
    assert "not well-formed" in message  # read as UTF-8, the default


def test_xml_malformed_is_an_error_record(tmp_path: Path) -> None:
    (tmp_path / "bad.xml").write_text("<Orders>\n<Order></Orders>")
    [(_, message)] = errors(read(tmp_path, path="bad.xml", record_path="Orders/Order"))
    assert message == "bad.xml: malformed XML at line 2 column 10: mismatched tag"


# ------------------------------------------------------------------------------- text

def test_text_lines_are_records(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_bytes(b"first\r\n\nthird \xff\nfourth")
    records = read(tmp_path, path="log.txt")
    assert good(records) == [{"line": "first"}, {"line": ""}, {"line": "fourth"}]
    assert errors(records) == [({"file": "log.txt", "line": 3},
                                "log.txt:3: invalid utf-8 at byte 6 of the line (byte 0xFF)")]


# --------------------------------------------------------------- files, acks, progress

def test_glob_reads_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("b.jsonl", "a.jsonl", "c.jsonl"):
        (tmp_path / "in" / name).write_text(f'{{"f": "{name}"}}\n{{"f": "{name}"}}\n')
    (tmp_path / "in/ignored.csv").write_text("x\n1\n")
    records = read(tmp_path, path="in/*.jsonl")
    assert [r.meta["file"] for r in records] == [
        "in/a.jsonl", "in/a.jsonl", "in/b.jsonl", "in/b.jsonl", "in/c.jsonl", "in/c.jsonl"]
    assert [r.ack for r in records] == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]


def test_empty_files_give_no_records(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv", "e.txt"):
        (tmp_path / name).write_bytes(b"")
        assert read(tmp_path, path=name) == []
    (tmp_path / "h.csv").write_text("id,name\n")
    assert read(tmp_path, path="h.csv") == []


def test_absolute_path_keeps_its_label(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    [record] = read(tmp_path / "elsewhere", path=str(tmp_path / "a.jsonl"))
    assert record.meta == {"file": str(tmp_path / "a.jsonl"), "line": 1}


def test_batch_size_and_source_option_override(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(1000)))
    batches = asyncio.run(collect(make_source(tmp_path, path="o.jsonl", batch_size=300)))
    assert [len(b) for b in batches] == [300, 300, 300, 100]
    batches = asyncio.run(collect(make_source(tmp_path, {"batch_size": 999}, path="o.jsonl")))
    assert [len(b) for b in batches] == [999, 1]
    assert [r.body["id"] for b in batches for r in b] == list(range(1000))


def test_ack_out_of_order_counts_and_commits_contiguously(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(10)))

    async def run() -> None:
        source = make_source(tmp_path, path="o.jsonl", batch_size=4)
        await source.open()
        tokens = [r.ack for b in [b async for b in source.batches()] for r in b]
        assert len(tokens) == 10
        await source.ack([tokens[5], tokens[1]])
        assert source.acked == 2 and source.committed is None
        await source.ack([tokens[0]])
        assert source.committed == (0, 2)  # lines 1 and 2 are done, line 3 is not
        await source.ack([tokens[9], tokens[8], tokens[7], tokens[6]])
        assert source.committed == (0, 2)
        await source.ack([tokens[3], tokens[2], tokens[4]])
        assert source.acked == 10 and source.committed == (0, 10)
        await source.close()

    asyncio.run(run())


def test_progress_reports_bytes_of_all_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(3000)))
    (tmp_path / "b.jsonl").write_text('{"id": 1}\n')
    total = (tmp_path / "a.jsonl").stat().st_size + (tmp_path / "b.jsonl").stat().st_size

    async def run() -> None:
        source = make_source(tmp_path, path="*.jsonl", batch_size=100)
        await source.open()
        first = source.progress()
        assert (first.done, first.total, first.unit) == (0, total, "bytes")
        seen = []
        async for _ in source.batches():
            seen.append(source.progress().done)
        assert seen == sorted(seen) and 0 < seen[0] <= total
        assert source.progress().done == total
        await source.close()

    asyncio.run(run())


def test_stop_ends_batches_at_the_next_boundary(tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(1000)))

    async def run() -> list[int]:
        source = make_source(tmp_path, path="o.jsonl", batch_size=10)
        await source.open()
        sizes = []
        async for batch in source.batches():
            sizes.append(len(batch))
            if len(sizes) == 3:
                source.stop()
        await source.close()
        return sizes

    assert asyncio.run(run()) == [10, 10, 10]


def test_missing_file_and_empty_glob_are_fatal_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match=r"'in/nope\.jsonl' does not exist") as info:
        read(tmp_path, path="in/nope.jsonl")
    assert str(tmp_path) in (info.value.hint or "")
    with pytest.raises(FatalError, match=r"no file matches 'in/\*.csv'"):
        read(tmp_path, path="in/*.csv")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(FatalError, match="is a directory"):
        read(tmp_path, path="dir.jsonl")


def test_format_must_be_given_or_derivable(tmp_path: Path) -> None:
    (tmp_path / "orders.dat").write_text('{"id": 1}\n')
    with pytest.raises(FatalError, match=r"cannot tell the format of 'orders\.dat'"):
        read(tmp_path, path="orders.dat")
    assert good(read(tmp_path, path="orders.dat", format="jsonl")) == [{"id": 1}]
    problems = FileConnector.check_config({"path": "orders.dat"})
    assert [(p.key, p.message.split(";")[0]) for p in problems] == [
        ("format", "cannot tell the format of 'orders.dat' from its extension")]
    assert FileConnector.check_config({"path": "orders.ndjson"}) == []


def test_cross_option_problems_are_all_reported() -> None:
    problems = FileConnector.check_config({
        "path": "x.csv", "encoding": "utf-16", "delimiter": ";;", "header": False,
        "mode": "append"})
    messages = [p.message for p in problems]
    assert len(messages) == 3
    assert "not ASCII-compatible" in messages[0]
    assert messages[1] == "delimiter must be exactly one character, got ';;'"
    assert messages[2] == "csv with header: false needs columns: to name the fields"
    assert [p.message for p in FileConnector.check_config(
        {"path": "x.json", "mode": "append"})] == [
        "mode append is not available for format json: a json file holds one document"]


def test_a_source_path_cannot_be_a_template(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="a source path cannot hold a template"):
        read(tmp_path, path="in/{{ day }}.jsonl")
