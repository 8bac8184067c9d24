"""The file connector as a lookup: a whole file indexed by one field, in memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from integrator.connectors.base import Runtime
from integrator.connectors.builtin.files import FileConnector, FileLookup
from integrator.errors import FatalError
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"


def make_lookup(tmp_path: Path, lookup_options: dict[str, Any], **config: Any) -> FileLookup:
    runtime = Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                      redactor=Redactor())
    connector = FileConnector("ref", FileConnector.spec.parse(config, "t"), runtime)
    return connector.lookup(FileConnector.lookup_options.parse(lookup_options, "t"))


def get_many(lookup: FileLookup, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
    async def run() -> Mapping[Hashable, Any]:
        await lookup.open()
        try:
            return await lookup.get_many(keys)
        finally:
            await lookup.close()

    return asyncio.run(run())


def test_jsonl_lookup_with_text_and_number_keys(tmp_path: Path) -> None:
    (tmp_path / "customers.jsonl").write_text(
        '{"id": 1, "name": "Ala"}\n{"id": "K-2", "name": "' + POLISH + '"}\n'
        '{"id": 3, "name": "old"}\n{"id": 3, "name": "new"}\n')
    lookup = make_lookup(tmp_path, {"key": "id"}, path="customers.jsonl")
    found = get_many(lookup, [1, "1", "K-2", 3, "missing", 99])
    assert found == {1: {"id": 1, "name": "Ala"}, "1": {"id": 1, "name": "Ala"},
                     "K-2": {"id": "K-2", "name": POLISH},
                     3: {"id": 3, "name": "new"}}  # the later record wins


def test_csv_lookup_in_cp1250(tmp_path: Path) -> None:
    (tmp_path / "sku.csv").write_bytes(f"sku;nazwa\nA-1;{POLISH}\nB-2;Łódź\n".encode("cp1250"))
    lookup = make_lookup(tmp_path, {"key": "sku"}, path="sku.csv", delimiter=";",
                         encoding="cp1250")
    assert get_many(lookup, ["B-2", "A-1", "C-3"]) == {
        "B-2": {"sku": "B-2", "nazwa": "Łódź"}, "A-1": {"sku": "A-1", "nazwa": POLISH}}


def test_json_array_lookup(tmp_path: Path) -> None:
    (tmp_path / "rates.json").write_text('[{"code": "EUR", "rate": 4.3}, {"code": "USD"}]')
    lookup = make_lookup(tmp_path, {"key": "code"}, path="rates.json")
    assert get_many(lookup, ["EUR"]) == {"EUR": {"code": "EUR", "rate": 4.3}}


def test_records_without_the_key_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "c.jsonl").write_text('{"id": 1}\n{"name": "no id"}\n{"id": [1]}\n')
    lookup = make_lookup(tmp_path, {"key": "id"}, path="c.jsonl")
    with caplog.at_level(logging.WARNING, logger="integrator"):
        assert get_many(lookup, [1]) == {1: {"id": 1}}
    assert "2 records have no usable 'id' field" in caplog.text


def test_too_many_records_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text("".join(f'{{"id": {i}}}\n' for i in range(11)))
    lookup = make_lookup(tmp_path, {"key": "id", "max_lookup_records": 10}, path="c.jsonl")
    with pytest.raises(FatalError, match=r"more than max_lookup_records \(10\)"):
        get_many(lookup, [1])
    ok = make_lookup(tmp_path, {"key": "id", "max_lookup_records": 11}, path="c.jsonl")
    assert get_many(ok, [10]) == {10: {"id": 10}}


def test_broken_reference_data_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text('{"id": 1}\n{"id": \n')
    lookup = make_lookup(tmp_path, {"key": "id"}, path="c.jsonl")
    with pytest.raises(FatalError, match=r"lookup data is broken: c\.jsonl:2: invalid JSON"):
        get_many(lookup, [1])


def test_missing_file_and_text_format_are_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="does not exist"):
        get_many(make_lookup(tmp_path, {"key": "id"}, path="none.jsonl"), [1])
    (tmp_path / "t.txt").write_text("x\n")
    with pytest.raises(FatalError, match="a text file cannot serve lookups"):
        make_lookup(tmp_path, {"key": "id"}, path="t.txt")


def test_key_option_is_required() -> None:
    with pytest.raises(FatalError, match="missing required option 'key'"):
        FileConnector.lookup_options.parse({}, "t")
