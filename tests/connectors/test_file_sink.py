"""The file connector as a sink: formats, atomic writes, append, templated paths, LRU."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from integrator.connectors.base import Delivery, Record, Runtime
from integrator.connectors.builtin.files import MAX_OPEN_FILES, FileConnector, FileSink
from integrator.errors import (
    ConversionError,
    FatalError,
    IntegratorError,
    RejectedError,
    TemplateError,
)
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"
IDS = IdFactory("test")


def runtime(tmp_path: Path) -> Runtime:
    return Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                   redactor=Redactor())


def make_sink(tmp_path: Path, sink_options: dict[str, Any] | None = None,
              **config: Any) -> FileSink:
    connector = FileConnector("out", FileConnector.spec.parse(config, "t"), runtime(tmp_path))
    options = FileConnector.actions["write"].options.parse(sink_options or {}, "t")
    return connector.sink("write", options)


def deliveries(*payloads: Any, bodies: list[Any] | None = None) -> list[Delivery]:
    bodies = bodies or list(payloads)
    return [Delivery(p, Message(b, ids=IDS)) for p, b in zip(payloads, bodies, strict=True)]


def write(sink: FileSink, *batches: list[Delivery], finish: str = "close"
          ) -> list[list[IntegratorError | None] | None]:
    async def run() -> list[list[IntegratorError | None] | None]:
        await sink.open()
        results = [await sink.write_batch(b) for b in batches]
        await (sink.close() if finish == "close" else sink.abort())
        return results

    return asyncio.run(run())


def read_back(tmp_path: Path, **config: Any) -> list[Any]:
    connector = FileConnector("in", FileConnector.spec.parse(config, "t"), runtime(tmp_path))
    source = connector.source(FileConnector.source_options.parse({}, "t"))

    async def run() -> list[Record]:
        await source.open()
        out = [r async for b in source.batches() for r in b]
        await source.close()
        return out

    records = asyncio.run(run())
    assert all(r.error is None for r in records), [r.error for r in records]
    return [r.body for r in records]


# ------------------------------------------------------------------- atomic overwrite

def test_close_renames_the_partial_into_place_with_all_lines(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="out/orders.jsonl")
    assert write(sink, deliveries({"id": 1}, {"id": 2}), deliveries({"id": 3})) == [None, None]
    final = tmp_path / "out/orders.jsonl"
    assert final.read_bytes() == b'{"id":1}\n{"id":2}\n{"id":3}\n'
    assert not (tmp_path / "out/.orders.jsonl.partial").exists()


def test_abort_leaves_the_partial_and_no_final_file(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="out/orders.jsonl")
    write(sink, deliveries({"id": 1}, {"id": 2}), finish="abort")
    assert not (tmp_path / "out/orders.jsonl").exists()
    assert (tmp_path / "out/.orders.jsonl.partial").read_bytes() == b'{"id":1}\n{"id":2}\n'


def test_old_file_stays_untouched_until_close(tmp_path: Path) -> None:
    final = tmp_path / "orders.jsonl"
    final.write_text("previous run\n")

    async def run() -> None:
        sink = make_sink(tmp_path, path="orders.jsonl")
        await sink.open()
        await sink.write_batch(deliveries({"id": 1}))
        assert final.read_text() == "previous run\n"  # readers never see a half file
        await sink.abort()
        assert final.read_text() == "previous run\n"  # a failed run replaces nothing
        sink = make_sink(tmp_path, path="orders.jsonl")
        await sink.write_batch(deliveries({"id": 2}))
        await sink.close()

    asyncio.run(run())
    assert final.read_text() == '{"id":2}\n'  # overwrite: truncated at the first write


def test_unwritable_directory_fails_at_open(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the directory should be")
    sink = make_sink(tmp_path, path="blocker/out/{{ id }}.jsonl")
    with pytest.raises(FatalError, match="cannot create"):
        asyncio.run(sink.open())


def test_write_after_close_is_fatal(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="o.jsonl")
    write(sink, deliveries({"id": 1}))
    with pytest.raises(FatalError, match="write after close"):
        asyncio.run(sink.write_batch(deliveries({"id": 2})))


# ------------------------------------------------------------------------------ append

def test_append_mode_adds_to_the_final_file(tmp_path: Path) -> None:
    final = tmp_path / "log.jsonl"
    final.write_text('{"id":0}\n')
    write(make_sink(tmp_path, path="log.jsonl", mode="append"), deliveries({"id": 1}))
    write(make_sink(tmp_path, path="log.jsonl", mode="append"), deliveries({"id": 2}))
    assert final.read_text() == '{"id":0}\n{"id":1}\n{"id":2}\n'
    assert not (tmp_path / ".log.jsonl.partial").exists()


def test_append_csv_writes_the_header_once(tmp_path: Path) -> None:
    for i in range(3):
        write(make_sink(tmp_path, path="x.csv", mode="append"), deliveries({"id": i, "n": "a"}))
    assert (tmp_path / "x.csv").read_text() == "id,n\n0,a\n1,a\n2,a\n"


# ------------------------------------------------------------------------------ formats

def test_jsonl_round_trip(tmp_path: Path) -> None:
    docs = [{"id": i, "name": POLISH, "lines": [{"sku": "A", "qty": 2}], "paid": i % 2 == 0}
            for i in range(5)]
    write(make_sink(tmp_path, path="o.jsonl"), deliveries(*docs))
    assert read_back(tmp_path, path="o.jsonl") == docs


def test_json_array_round_trip_compact_and_pretty(tmp_path: Path) -> None:
    docs = [{"id": 1, "name": POLISH}, {"id": 2}]
    write(make_sink(tmp_path, path="o.json"), deliveries(docs[0]), deliveries(docs[1]))
    assert (tmp_path / "o.json").read_text() == (
        '[\n{"id":1,"name":"' + POLISH + '"},\n{"id":2}\n]\n')
    assert read_back(tmp_path, path="o.json") == docs
    write(make_sink(tmp_path, path="p.json", pretty=True), deliveries(*docs))
    assert orjson.loads((tmp_path / "p.json").read_bytes()) == docs
    assert '\n  "id": 1,' in (tmp_path / "p.json").read_text()


@pytest.mark.parametrize("encoding", ["cp1250", "iso-8859-2"])
def test_csv_round_trip_polish_semicolon(tmp_path: Path, encoding: str) -> None:
    rows = [{"nr": "1", "nazwa": POLISH, "uwagi": 'z "cudzysłowem"; i średnikiem'},
            {"nr": "2", "nazwa": "Łódź", "uwagi": ""}]
    sink = make_sink(tmp_path, path="erp.csv", delimiter=";", encoding=encoding)
    write(sink, deliveries(rows[0]), deliveries(rows[1]))
    raw = (tmp_path / "erp.csv").read_bytes()
    assert raw.decode(encoding).splitlines()[0] == "nr;nazwa;uwagi"  # header once
    assert raw.count(b"nr;nazwa") == 1
    assert POLISH.encode(encoding) in raw
    assert read_back(tmp_path, path="erp.csv", delimiter=";", encoding=encoding) == rows


def test_csv_columns_crlf_bom_and_value_rules(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="x.csv", columns=["id", "ok", "note"],
                     line_terminator="\r\n", encoding="utf-8-sig")
    results = write(sink, deliveries({"id": 1, "ok": True, "note": None},
                                     {"id": 2, "lines": [1]},
                                     {"id": 3, "ok": False, "note": [1, 2]}))
    assert (tmp_path / "x.csv").read_bytes() == b"\xef\xbb\xbfid,ok,note\r\n1,true,\r\n"
    [result] = results
    assert result is not None and result[0] is None
    assert isinstance(result[1], ConversionError) and "'lines' is not among" in str(result[1])
    assert isinstance(result[2], ConversionError) and "holds a list" in str(result[2])


def test_text_format_and_non_string_payloads(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="notes.txt", encoding="cp1250")
    [result] = write(sink, deliveries(POLISH, {"not": "text"}, "second"))
    assert result is not None and result[0] is None and result[2] is None
    assert isinstance(result[1], RejectedError)
    assert (tmp_path / "notes.txt").read_bytes() == f"{POLISH}\nsecond\n".encode("cp1250")
    assert read_back(tmp_path, path="notes.txt", encoding="cp1250") == [
        {"line": POLISH}, {"line": "second"}]


def test_xml_without_root_one_document_per_templated_file(tmp_path: Path) -> None:
    docs = [{"Order": {"@id": str(i), "name": POLISH}} for i in (1, 2)]
    bodies = [{"id": 1}, {"id": 2}]
    sink = make_sink(tmp_path, path="out/order-{{ body.id }}.xml")
    assert write(sink, deliveries(*docs, bodies=bodies)) == [None]
    for i, doc in zip((1, 2), docs, strict=True):
        assert read_back(tmp_path, path=f"out/order-{i}.xml") == [doc]
    assert (tmp_path / "out/order-1.xml").read_text().startswith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Order id="1">')


def test_xml_without_root_refuses_a_second_document_in_one_file(tmp_path: Path) -> None:
    [result] = write(make_sink(tmp_path, path="one.xml"),
                     deliveries({"Order": {"n": "1"}}, {"Order": {"n": "2"}}))
    assert result is not None and result[0] is None
    assert isinstance(result[1], RejectedError) and "holds one document" in str(result[1])
    assert read_back(tmp_path, path="one.xml") == [{"Order": {"n": "1"}}]


def test_xml_with_root_wraps_every_delivery_and_round_trips(tmp_path: Path) -> None:
    docs = [{"@id": "1", "name": POLISH}, {"@id": "2", "name": "b"}]
    sink = make_sink(tmp_path, path="orders.xml", root="Orders", record_path="Orders/Order",
                     encoding="iso-8859-2", pretty=True)
    write(sink, deliveries(docs[0]), deliveries(docs[1]))
    raw = (tmp_path / "orders.xml").read_bytes()
    assert raw.startswith(
        b'<?xml version="1.0" encoding="ISO-8859-2"?>\n<Orders>\n<Order id="1">')
    assert raw.endswith(b"</Order>\n</Orders>\n")
    assert POLISH.encode("iso-8859-2") in raw
    assert read_back(tmp_path, path="orders.xml", record_path="Orders/Order") == docs


def test_xml_characters_the_encoding_lacks_become_references(tmp_path: Path) -> None:
    write(make_sink(tmp_path, path="e.xml", encoding="iso-8859-2"),
          deliveries({"a": "5 € — ok"}))
    assert b"5 &#8364; &#8212; ok" in (tmp_path / "e.xml").read_bytes()
    assert read_back(tmp_path, path="e.xml") == [{"a": "5 € — ok"}]


def test_unencodable_payload_fails_alone(tmp_path: Path) -> None:
    [result] = write(make_sink(tmp_path, path="o.jsonl"),
                     deliveries({"id": 1}, {"id": {1, 2}}, {"id": 3}))
    assert result is not None and result[0] is None and result[2] is None
    assert isinstance(result[1], ConversionError)
    assert read_back(tmp_path, path="o.jsonl") == [{"id": 1}, {"id": 3}]


def test_no_file_when_every_delivery_for_it_failed(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, path="out/{{ name }}.json")
    [result] = write(sink, deliveries({"name": "bad", "x": {1}}, {"name": "good"}))
    assert result is not None and isinstance(result[0], ConversionError) and result[1] is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.json"]
    assert [p.name for p in sink.paths] == ["good.json"]


def test_sink_options_override_the_connection(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, {"path": "other/o.csv", "delimiter": "|"}, path="o.jsonl")
    write(sink, deliveries({"a": 1, "b": 2}))
    assert (tmp_path / "other/o.csv").read_text() == "a|b\n1|2\n"
    assert not (tmp_path / "o.jsonl").exists()


# --------------------------------------------------------------------- templated paths

def test_templated_path_groups_by_rendered_file(tmp_path: Path) -> None:
    bodies = [{"market": m, "id": i} for i, m in enumerate(["PL", "DE", "PL", "CZ", "DE"])]
    sink = make_sink(tmp_path, path="out/{{ market }}/orders.jsonl")
    write(sink, deliveries(*bodies))
    assert sorted(str(p.relative_to(tmp_path)) for p in sink.paths) == [
        "out/CZ/orders.jsonl", "out/DE/orders.jsonl", "out/PL/orders.jsonl"]
    assert read_back(tmp_path, path="out/PL/orders.jsonl") == [bodies[0], bodies[2]]
    assert read_back(tmp_path, path="out/DE/orders.jsonl") == [bodies[1], bodies[4]]


@pytest.mark.parametrize("evil", ["../../etc/cron.d/x", "../out2/x", "/etc/passwd",
                                  "a/../../x", "a/../b", "~root/x"])
def test_path_traversal_from_message_data_is_rejected(tmp_path: Path, evil: str) -> None:
    bodies = [{"name": "ok-1"}, {"name": evil}, {"name": "ok-2"}]
    sink = make_sink(tmp_path, path="out/{{ name }}.jsonl")
    [result] = write(sink, deliveries(*bodies))
    assert result is not None and result[0] is None and result[2] is None
    assert isinstance(result[1], RejectedError)
    assert str(result[1]).startswith("connection 'out' (file): path escapes out/: ")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["out/ok-1.jsonl", "out/ok-2.jsonl"]


def test_path_template_at_the_start_stays_in_the_workdir(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "work", path="{{ name }}.jsonl")
    [result] = write(sink, deliveries({"name": "fine"}, {"name": "../outside"}))
    assert result is not None and result[0] is None
    assert isinstance(result[1], RejectedError) and "path escapes the work directory" in str(
        result[1])
    assert (tmp_path / "work/fine.jsonl").exists() and not (tmp_path / "outside.jsonl").exists()


def test_rendered_path_must_name_a_file(tmp_path: Path) -> None:
    [result] = write(make_sink(tmp_path, path="{{ dir }}", format="jsonl"),
                     deliveries({"dir": "a/"}, {"dir": ""}))
    assert result is not None
    assert all(isinstance(e, RejectedError) and "names no file" in str(e) for e in result)


def test_missing_template_field_fails_that_delivery(tmp_path: Path) -> None:
    [result] = write(make_sink(tmp_path, path="out/{{ market }}.jsonl"),
                     deliveries({"market": "PL"}, {"id": 2}))
    assert result is not None and result[0] is None and isinstance(result[1], TemplateError)


def test_lru_keeps_at_most_64_files_open_and_completes_all(tmp_path: Path) -> None:
    fd_dir = Path("/proc/self/fd")

    async def run() -> int:
        sink = make_sink(tmp_path, path="out/{{ n }}.csv")
        await sink.open()
        before = len(os.listdir(fd_dir))
        peak = 0
        for round_ in range(3):  # every file is revisited after being evicted
            batch = deliveries(*[{"n": n, "round": round_} for n in range(150)])
            assert await sink.write_batch(batch) is None
            peak = max(peak, len(os.listdir(fd_dir)) - before)
        await sink.close()
        return peak

    peak = asyncio.run(run())
    assert peak <= MAX_OPEN_FILES
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 150 and not [f for f in files if f.name.endswith(".partial")]
    for n in (0, 77, 149):
        assert (tmp_path / f"out/{n}.csv").read_text() == f"n,round\n{n},0\n{n},1\n{n},2\n"
