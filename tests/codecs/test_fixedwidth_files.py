"""Fixed-width files through the file connector: reading, writing, cp1250, lint, a run."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from integrator.compiler import check_text
from integrator.connectors.base import Delivery, Record, Runtime
from integrator.connectors.builtin.files import FileConnector
from integrator.connectors.builtin.memory import MemoryHub
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions
from integrator.errors import ConversionError, DecodeError
from integrator.flow.loader import LoadOptions
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"
FIELDS: list[dict[str, Any]] = [
    {"name": "id", "start": 1, "width": 5, "type": "int", "pad": "0"},
    {"name": "name", "width": 20},
    {"name": "amount", "width": 9, "type": "decimal", "implied_decimals": 2, "pad": "0"},
    {"name": "booked", "width": 8, "type": "date"},
]
IDS = IdFactory("fw")


def run_flow(text: str, tmp_path: Path) -> tuple[RunReport, MemoryHub]:
    """Compile and run a flow (its own helper: a shared ``conftest`` import is fragile
    when test folders have conftest files of their own)."""
    compiled, diag = check_text(textwrap.dedent(text), "flow.yaml",
                                options=LoadOptions(env={}), workdir=tmp_path)
    errors = [p.message for p in diag.problems if p.is_error]
    assert compiled is not None and not errors, errors
    hub = MemoryHub()
    engine = Engine(compiled, RunOptions(workdir=tmp_path), resources={"memory": hub},
                    dead_letters=MemoryDeadLetters())
    return asyncio.run(engine.run()), hub


def runtime(tmp_path: Path) -> Runtime:
    return Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                   redactor=Redactor())


def connector(tmp_path: Path, **config: Any) -> FileConnector:
    return FileConnector("fw", FileConnector.spec.parse(config, "t"), runtime(tmp_path))


def read(tmp_path: Path, **config: Any) -> list[Record]:
    source = connector(tmp_path, **config).source(FileConnector.source_options.parse({}, "t"))

    async def collect() -> list[Record]:
        await source.open()
        try:
            return [r async for batch in source.batches() for r in batch]
        finally:
            await source.close()

    return asyncio.run(collect())


def write(tmp_path: Path, payloads: list[Any], **config: Any) -> list[Any]:
    sink = connector(tmp_path, **config).sink(
        "write", FileConnector.actions["write"].options.parse({}, "t"))

    async def run() -> list[Any]:
        await sink.open()
        results = await sink.write_batch([Delivery(p, Message(p, IDS)) for p in payloads])
        await sink.close()
        return results or [None] * len(payloads)

    return asyncio.run(run())


def line(id_: str, name: str, amount: str, booked: str) -> str:
    return f"{id_:>5}{name:<20}{amount:>9}{booked:>8}"


def test_reads_cp1250_fixed_width_records_with_their_lines(tmp_path: Path) -> None:
    text = "\r\n".join([
        line("00001", POLISH, "000001299", "20240501"),
        "",
        line("00002", "Łódź", "000100000", "20240502"),
    ]) + "\r\n"
    (tmp_path / "stmt.txt").write_bytes(text.encode("cp1250"))
    records = read(tmp_path, path="stmt.txt", format="fixed", encoding="cp1250",
                   fields=FIELDS)
    assert [r.body for r in records] == [
        {"id": 1, "name": POLISH, "amount": Decimal("12.99"),
         "booked": date(2024, 5, 1)},
        {"id": 2, "name": "Łódź", "amount": Decimal("1000.00"),
         "booked": date(2024, 5, 2)},
    ]
    assert [r.meta for r in records] == [{"file": "stmt.txt", "line": 1},
                                         {"file": "stmt.txt", "line": 3}]
    assert [r.ack for r in records] == [(0, 1), (0, 3)]


def test_a_bad_field_is_an_error_record_and_the_rest_is_read(tmp_path: Path) -> None:
    rows = [line("00001", "Anna", "000001299", "20240501"),
            line("00002", "Bogdan", "0000ABC00", "20240501"),
            line("00003", "Celina", "000000100", "20241301"),
            line("00004", "Dorota", "000000001", "20240501")]
    (tmp_path / "stmt.txt").write_text("\n".join(rows), encoding="cp1250")
    records = read(tmp_path, path="stmt.txt", format="fixed", encoding="cp1250",
                   fields=FIELDS)
    assert [r.body["id"] for r in records if r.error is None] == [1, 4]
    errors = [(r.meta, r.error.message) for r in records if r.error is not None]
    assert errors == [
        ({"file": "stmt.txt", "line": 2},
         "stmt.txt: line 2, field amount (columns 26–34): '0000ABC00' is not a number"),
        ({"file": "stmt.txt", "line": 3},
         "stmt.txt: line 3, field booked (columns 35–42): '20241301' is not a date in the "
         "format %Y%m%d"),
    ]
    assert all(isinstance(r.error, DecodeError) for r in records if r.error is not None)


def test_bytes_invalid_in_the_encoding_are_an_error_record(tmp_path: Path) -> None:
    good = line("00001", "Anna", "000001299", "20240501").encode("cp1250")
    (tmp_path / "stmt.txt").write_bytes(good + b"\n" + b"\x81" + good[1:] + b"\n" + good)
    records = read(tmp_path, path="stmt.txt", format="fixed", encoding="cp1250",
                   fields=FIELDS)
    assert [r.error is None for r in records] == [True, False, True]
    assert records[1].error is not None
    assert records[1].error.message == "stmt.txt:2: invalid cp1250 at byte 0 of the line " \
                                       "(byte 0x81)"


def test_writes_cp1250_lines_and_reads_them_back(tmp_path: Path) -> None:
    payloads = [{"id": 1, "name": POLISH, "amount": 12.99, "booked": "2024-05-01"},
                {"id": 2, "name": "Łódź", "amount": Decimal("1000"), "booked": None}]
    results = write(tmp_path, payloads, path="out/stmt.txt", format="fixed",
                    encoding="cp1250", fields=FIELDS, line_terminator="\r\n")
    assert results == [None, None]
    data = (tmp_path / "out/stmt.txt").read_bytes()
    assert data == (line("00001", POLISH, "000001299", "20240501") + "\r\n"
                    + line("00002", "Łódź", "000100000", "") + "\r\n").encode("cp1250")
    back = read(tmp_path, path="out/stmt.txt", format="fixed", encoding="cp1250",
                fields=FIELDS)
    assert [r.body["name"] for r in back] == [POLISH, "Łódź"]
    assert back[1].body["booked"] is None


def test_a_value_that_does_not_fit_fails_that_delivery_only(tmp_path: Path) -> None:
    payloads = [{"id": 1, "name": "Anna"},
                {"id": 2, "name": "Bartholomew-Maximilian von Hohenzollern"},
                {"id": 3, "name": "Ewa", "amount": "x"},
                {"id": 4, "name": "日本"},
                {"id": 5, "name": "Zofia"}]
    results = write(tmp_path, payloads, path="out.txt", format="fixed", encoding="cp1250",
                    fields=FIELDS)
    assert results[0] is None and results[4] is None
    assert [type(r) for r in results[1:4]] == [ConversionError] * 3
    assert results[1].message == ("field name (columns 6–25): 'Bartholomew-Maximilian von "
                                  "Hohenzollern' is 39 characters; the field holds 20")
    assert results[2].message == "field amount (columns 26–34): 'x' is not a number"
    assert results[3].message.startswith("the text '日本' cannot be written in cp1250")
    lines = (tmp_path / "out.txt").read_text(encoding="cp1250").splitlines()
    assert [ln[:5] for ln in lines] == ["00001", "00005"]


def test_lint_checks_the_layout(tmp_path: Path) -> None:
    def messages(**raw: Any) -> list[str]:
        return [p.message for p in FileConnector.check_config(raw)]

    assert messages(path="in.txt", format="fixed", fields=FIELDS) == []
    assert messages(path="in.txt", format="fixed") == [
        "format fixed needs fields: the list of field specs ({name, start, width, type})"]
    assert messages(path="in.txt", format="fixed",
                    fields=[{"name": "a", "widht": 3}]) == [
        "field 'a': unknown key 'widht' (did you mean 'width'?)",
        "field 'a': width is required"]
    assert messages(path="in.csv", fields=FIELDS) == [
        "fields describes fixed-width records; format is csv, so it would be ignored (set "
        "format: fixed, or remove fields)"]


def test_a_flow_problem_points_at_the_connection(tmp_path: Path) -> None:
    _, diag = check_text(textwrap.dedent("""
        flow: fw
        connections:
          bank: {type: file, path: in.txt, format: fixed, fields: [{name: a, start: 0, width: 2}]}
          out: {type: memory}
        source: {connection: bank}
        steps:
          - deliver: [all]
        sinks:
          all: {connection: out}
    """), "flow.yaml", options=LoadOptions(env={}), workdir=tmp_path)
    errors = [p for p in diag.problems if p.is_error]
    assert [p.message for p in errors] == [
        "connection 'bank' (file): field 'a': start must be at least 1, got 0"]


def test_a_flow_reads_fixed_width_and_writes_jsonl_with_exact_decimals(
        tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes((
        line("00001", POLISH, "000001299", "20240501") + "\n"
        + line("00002", "Bogdan", "00000ABC0", "20240501") + "\n"
        + line("00003", "Łucja", "000000005", "20240503") + "\n").encode("cp1250"))
    report, _ = run_flow(f"""
        flow: fw
        connections:
          bank:
            type: file
            path: {tmp_path / 'in.txt'}
            format: fixed
            encoding: cp1250
            fields:
              - {{name: id, start: 1, width: 5, type: int, pad: "0"}}
              - {{name: name, width: 20}}
              - {{name: amount, width: 9, type: decimal, implied_decimals: 2, pad: "0"}}
              - {{name: booked, width: 8, type: date}}
          out: {{type: file, path: {tmp_path / 'out.jsonl'}}}
        source: {{connection: bank}}
        steps:
          - deliver: [all]
        sinks:
          all: {{connection: out}}
    """, tmp_path)
    assert report.status == "completed"
    assert report.dead_lettered == 1
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert lines == [
        b'{"id":1,"name":"' + POLISH.encode() + b'","amount":12.99,"booked":"2024-05-01"}',
        b'{"id":3,"name":"\xc5\x81ucja","amount":0.05,"booked":"2024-05-03"}',
    ]
    assert orjson.loads(lines[1])["name"] == "Łucja"
