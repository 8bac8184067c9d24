"""Bad input through the whole engine: each bad record fails alone, with its place."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support import compile_flow

from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.runner import Engine, RunOptions

FLOW = """\
flow: csv-import
connections:
  erp: {{type: file, path: {path}, encoding: {encoding}, delimiter: ";"}}
  out: {{type: file, path: {out}}}
keys: {{sku: Indeks}}
source: {{connection: erp}}
steps:
  - map: {{fields: {{sku: Indeks, name: Nazwa, stock: to_integer(Stan)}}}}
  - deliver: [rows]
sinks:
  rows: {{connection: out}}
"""


def run(tmp_path: Path, data: bytes, encoding: str) -> tuple[object, list[dict], list[str]]:
    source = tmp_path / "export.csv"
    source.write_bytes(data)
    out = tmp_path / "rows.jsonl"
    flow = compile_flow(FLOW.format(path=source, out=out, encoding=encoding))
    dead = MemoryDeadLetters()
    report = asyncio.run(Engine(flow, RunOptions(workdir=tmp_path), dead_letters=dead).run())
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    return report, dead.letters, lines


def test_invalid_utf8_row_is_dead_lettered_and_the_rest_imported(tmp_path: Path) -> None:
    data = ("Indeks;Nazwa;Stan\nSKU-1;Łódka;5\n".encode()
            + b"SKU-2;Z\xff\xfeepsute;7\n"
            + "SKU-3;Żółw;9\n".encode())
    report, letters, lines = run(tmp_path, data, "utf-8")
    assert report.read == 3 and report.dead_lettered == 1 and report.acked == 3
    assert [line.split('"sku":"')[1][:5] for line in lines] == ["SKU-1", "SKU-3"]
    assert letters[0]["step"] == "source" and letters[0]["meta"]["line"] == 3
    assert "UTF-8" in letters[0]["error"] or "utf-8" in letters[0]["error"]


def test_cp1250_export_reads_polish_text(tmp_path: Path) -> None:
    data = "Indeks;Nazwa;Stan\nSKU-1;Zażółć gęślą jaźń;5\n".encode("cp1250")
    report, letters, lines = run(tmp_path, data, "cp1250")
    assert report.ok and letters == []
    assert lines == ['{"sku":"SKU-1","name":"Zażółć gęślą jaźń","stock":5}']


def test_wrong_field_count_fails_that_row(tmp_path: Path) -> None:
    data = b"Indeks;Nazwa;Stan\nSKU-1;A;5\nSKU-2;B\nSKU-3;C;7\n"
    report, letters, lines = run(tmp_path, data, "utf-8")
    assert len(lines) == 2 and report.dead_lettered == 1
    assert letters[0]["meta"]["line"] == 3 and "field" in letters[0]["error"]
