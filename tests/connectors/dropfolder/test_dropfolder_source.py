"""The drop-folder source with real files: claiming, readiness, archiving, errors, crashes."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from integrator.compiler import check_text
from integrator.connectors.base import Record, Runtime
from integrator.connectors.builtin.dropfolder import (
    DropFolderConnector,
    DropFolderSource,
    Readiness,
)
from integrator.connectors.builtin.memory import MemoryHub
from integrator.connectors.state import MemoryStateStore
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions
from integrator.errors import DecodeError, FatalError
from integrator.flow.loader import LoadOptions
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"


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


def make(tmp_path: Path, *, follow: bool = False, batch_size: int | None = None,
         **config: Any) -> DropFolderSource:
    config.setdefault("path", "inbox")
    config.setdefault("stable_for", 0)
    config.setdefault("poll_interval", "50ms")
    runtime = Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                      redactor=Redactor(), state=MemoryStateStore())
    connector = DropFolderConnector("partner", DropFolderConnector.spec.parse(config, "t"),
                                    runtime)
    options: dict[str, Any] = {"follow": follow}
    if batch_size:
        options["batch_size"] = batch_size
    return connector.source(DropFolderConnector.source_options.parse(options, "t"))


async def drain(source: DropFolderSource, *, ack: bool = True, close: bool = True
                ) -> list[Record]:
    await source.open()
    out: list[Record] = []
    try:
        async for batch in source.batches():
            out.extend(batch)
            if ack:
                await source.ack([r.ack for r in batch])
    finally:
        if close:
            await source.close()
    return out


def run(tmp_path: Path, **kw: Any) -> list[Record]:
    ack = kw.pop("ack", True)
    return asyncio.run(drain(make(tmp_path, **kw), ack=ack))


def drop(folder: Path, name: str, lines: list[Any] | bytes) -> Path:
    """Write a file the way a careful producer does: a hidden temporary, then a rename."""
    folder.mkdir(parents=True, exist_ok=True)
    data = lines if isinstance(lines, bytes) else b"".join(
        orjson.dumps(x) + b"\n" for x in lines)
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    os.rename(tmp, folder / name)
    return folder / name


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def processing_files(tmp_path: Path) -> list[str]:
    out = []
    for _root, _dirs, files in os.walk(tmp_path / "inbox/processing"):
        out.extend(f for f in files if f != ".lock")
    return sorted(out)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


# ---------------------------------------------------------------------- the happy path

def test_reads_files_in_name_order_and_archives_them(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "b.jsonl", [{"id": 3}])
    drop(inbox, "a.jsonl", [{"id": 1}, {"id": 2, "name": POLISH}])
    records = run(tmp_path)
    assert [r.body for r in records] == [{"id": 1}, {"id": 2, "name": POLISH}, {"id": 3}]
    claimed = records[0].meta.pop("claimed")
    assert "/inbox/processing/" in claimed and claimed.endswith("/a.jsonl")
    assert records[0].meta == {"file": "a.jsonl", "line": 1}
    assert names(inbox / "archive") == ["a.jsonl", "b.jsonl"]
    assert (inbox / "archive/a.jsonl").read_bytes().count(b"\n") == 2
    assert names(inbox) == ["archive", "error", "processing"]
    assert names(inbox / "processing") == []  # the owner folder is removed at close


def test_pattern_hidden_files_and_folders(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "orders.jsonl", [{"id": 1}])
    drop(inbox, "notes.txt", b"not for us\n")
    (inbox / ".orders2.jsonl").write_bytes(b'{"id": 99}\n')  # an upload in progress
    (inbox / "sub.jsonl").mkdir()
    records = run(tmp_path, pattern="*.jsonl")
    assert [r.body for r in records] == [{"id": 1}]
    assert sorted(names(inbox)) == [".orders2.jsonl", "archive", "error", "notes.txt",
                                    "processing", "sub.jsonl"]


def test_each_format_decodes_as_the_file_connector_does(tmp_path: Path, inbox: Path
                                                        ) -> None:
    (inbox / "a.csv").write_bytes(f"id;name\n1;{POLISH}\n".encode("cp1250"))
    (inbox / "b.json").write_text('[{"id": 2}]')
    (inbox / "c.xml").write_text("<Orders><Order><id>3</id></Order></Orders>")
    (inbox / "d.txt").write_text("hello\n")
    records = run(tmp_path, delimiter=";", encoding="cp1250", record_path="Orders/Order")
    assert [r.body for r in records] == [{"id": "1", "name": POLISH}, {"id": 2},
                                         {"id": "3"}, {"line": "hello"}]
    assert names(inbox / "archive") == ["a.csv", "b.json", "c.xml", "d.txt"]


def test_fixed_width_files_in_cp1250(tmp_path: Path, inbox: Path) -> None:
    (inbox / "STMT_1.txt").write_bytes(
        f"00001{POLISH:<20}000001299\n00002{'Łódź':<20}0000000x0\n".encode("cp1250"))
    records = run(tmp_path, pattern="STMT_*.txt", format="fixed", encoding="cp1250",
                  fields=[{"name": "id", "width": 5, "type": "int"},
                          {"name": "name", "width": 20},
                          {"name": "amount", "width": 9, "type": "decimal",
                           "implied_decimals": 2, "pad": "0"}])
    assert records[0].body == {"id": 1, "name": POLISH, "amount": Decimal("12.99")}
    assert records[1].error is not None
    assert records[1].error.message == ("STMT_1.txt: line 2, field amount (columns "
                                        "26–34): '0000000x0' is not a number")
    report = json.loads((inbox / "error/STMT_1.txt.errors.json").read_text())
    assert report["errors"] == [{
        "file": "STMT_1.txt", "line": 2, "field": "amount", "error_class": "DecodeError",
        "message": "STMT_1.txt: line 2, field amount (columns 26–34): '0000000x0' is not "
                   "a number"}]


def test_an_empty_file_is_archived(tmp_path: Path, inbox: Path) -> None:
    (inbox / "empty.jsonl").write_bytes(b"")
    assert run(tmp_path) == []
    assert names(inbox / "archive") == ["empty.jsonl"]


def test_on_success_delete(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])
    assert len(run(tmp_path, on_success="delete")) == 1
    assert names(inbox / "archive") == []
    assert processing_files(tmp_path) == []


def test_a_name_taken_in_the_archive_gets_a_timestamp(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "orders.jsonl", [{"id": 1}])
    run(tmp_path)
    drop(inbox, "orders.jsonl", [{"id": 2}])
    run(tmp_path)
    drop(inbox, "orders.jsonl", [{"id": 3}])
    run(tmp_path)
    archived = names(inbox / "archive")
    assert len(archived) == 3 and archived[-1] == "orders.jsonl"
    for name in archived[:2]:
        stem, stamp, ext = name.split(".")
        assert (stem, ext) == ("orders", "jsonl")
        assert len(stamp) == 22 and stamp[8] == "T" and stamp.endswith("Z")
    contents = sorted((inbox / "archive" / n).read_bytes() for n in archived)
    assert contents == [b'{"id":1}\n', b'{"id":2}\n', b'{"id":3}\n']


def test_archive_and_error_folders_elsewhere(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])
    drop(inbox, "b.jsonl", b"{oops\n")
    run(tmp_path, archive_folder=str(tmp_path / "done"), error_folder="../failed")
    assert names(tmp_path / "done") == ["a.jsonl"]
    assert names(tmp_path / "failed") == ["b.jsonl", "b.jsonl.errors.json"]


# -------------------------------------------------------------------------- bad input

def test_bad_records_send_the_file_to_error_with_a_report(tmp_path: Path, inbox: Path
                                                          ) -> None:
    drop(inbox, "mixed.jsonl", b'{"id": 1}\n{"id": \n[1]\n{"id": 4}\n')
    drop(inbox, "good.jsonl", [{"id": 5}])
    records = run(tmp_path)
    assert [r.body for r in records if r.error is None] == [{"id": 5}, {"id": 1},
                                                            {"id": 4}]
    assert [type(r.error) for r in records if r.error is not None] == [DecodeError] * 2
    assert names(inbox / "archive") == ["good.jsonl"]
    assert names(inbox / "error") == ["mixed.jsonl", "mixed.jsonl.errors.json"]
    report = json.loads((inbox / "error/mixed.jsonl.errors.json").read_text())
    assert report["file"] == "mixed.jsonl"
    assert report["moved_to"] == str(inbox / "error/mixed.jsonl")
    assert (report["records"], report["bad_records"], report["truncated"]) == (4, 2, False)
    assert [(e["file"], e["line"]) for e in report["errors"]] == [("mixed.jsonl", 2),
                                                                  ("mixed.jsonl", 3)]
    assert report["errors"][0]["message"].startswith("mixed.jsonl:2: invalid JSON")
    assert report["errors"][1]["message"] == ("mixed.jsonl:3: expected a JSON object, got "
                                              "an array")


def test_on_bad_records_archive_keeps_the_report_beside_it(tmp_path: Path, inbox: Path
                                                          ) -> None:
    drop(inbox, "mixed.jsonl", b'{"id": 1}\nnope\n')
    run(tmp_path, on_bad_records="archive")
    assert names(inbox / "archive") == ["mixed.jsonl", "mixed.jsonl.errors.json"]
    assert names(inbox / "error") == []


def test_a_file_of_unknown_format_goes_to_error(tmp_path: Path, inbox: Path) -> None:
    (inbox / "orders.dat").write_bytes(b"\x00\x01")
    drop(inbox, "ok.jsonl", [{"id": 1}])
    records = run(tmp_path)
    assert [r.body for r in records] == [{"id": 1}, None]
    assert records[1].error is not None
    assert records[1].error.message == "orders.dat: cannot tell the format from the " \
                                       "extension"
    assert names(inbox / "error") == ["orders.dat", "orders.dat.errors.json"]


def test_an_unreadable_csv_header_is_an_error_record_not_a_stop(tmp_path: Path,
                                                                inbox: Path) -> None:
    (inbox / "a.csv").write_text("id,id\n1,2\n")
    (inbox / "b.csv").write_text("id\n7\n")
    records = run(tmp_path)
    assert [r.body for r in records] == [None, {"id": "7"}]
    assert records[0].error is not None
    assert "names column 'id' twice" in records[0].error.message
    assert names(inbox / "error") == ["a.csv", "a.csv.errors.json"]
    assert names(inbox / "archive") == ["b.csv"]


def test_a_missing_folder_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="inbox does not exist"):
        run(tmp_path)


# ------------------------------------------------------------------ acks and crashes

def test_nothing_is_archived_before_every_record_is_acked(tmp_path: Path, inbox: Path
                                                         ) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}, {"id": 2}, {"id": 3}])

    async def scenario() -> None:
        source = make(tmp_path, batch_size=1)
        await source.open()
        got = [r async for batch in source.batches() for r in batch]
        assert [r.body["id"] for r in got] == [1, 2, 3]
        await source.ack([got[2].ack, got[0].ack])  # out of order
        assert names(inbox / "archive") == []
        assert processing_files(tmp_path) == [".a.jsonl.progress.json", "a.jsonl"]
        await source.ack([got[1].ack])
        assert names(inbox / "archive") == ["a.jsonl"]
        await source.close()

    asyncio.run(scenario())
    assert processing_files(tmp_path) == []


def test_unacked_files_are_resumed_by_the_next_start(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}, {"id": 2}])
    first = run(tmp_path, ack=False)
    assert [r.body for r in first] == [{"id": 1}, {"id": 2}]
    assert processing_files(tmp_path) == ["a.jsonl"]
    assert names(inbox / "archive") == []
    again = run(tmp_path)
    assert [r.body for r in again] == [{"id": 1}, {"id": 2}]
    assert names(inbox / "archive") == ["a.jsonl"]
    assert processing_files(tmp_path) == []


def test_a_partly_acked_file_resumes_after_the_acked_records(tmp_path: Path, inbox: Path
                                                            ) -> None:
    drop(inbox, "a.jsonl", b'{"id": 1}\nbad\n{"id": 3}\n{"id": 4}\n')

    async def first_run() -> None:
        source = make(tmp_path)
        await source.open()
        got = [r async for batch in source.batches() for r in batch]
        await source.ack([r.ack for r in got[:3]])  # 1, the bad line, 3
        await source.close()

    asyncio.run(first_run())
    progress = [p for p in (inbox / "processing").rglob(".a.jsonl.progress.json")]
    assert len(progress) == 1
    saved = json.loads(progress[0].read_text())
    assert saved["committed"] == 3 and [b["line"] for b in saved["bad"]] == [2]
    again = run(tmp_path)
    assert [r.body for r in again] == [{"id": 4}]
    assert [r.meta["line"] for r in again] == [4]
    # the bad line read in the first run is still in the report
    report = json.loads((inbox / "error/a.jsonl.errors.json").read_text())
    assert [e["line"] for e in report["errors"]] == [2]
    assert report["records"] == 4


def test_files_of_a_crashed_instance_are_adopted(tmp_path: Path, inbox: Path) -> None:
    dead = inbox / "processing/otherhost-123-abcdef"
    dead.mkdir(parents=True)
    (dead / ".lock").write_bytes(b"")  # nobody holds it: the process died
    drop(dead, "x.jsonl", [{"id": 1}, {"id": 2}])
    (dead / ".x.jsonl.progress.json").write_text('{"committed": 1, "bad": []}')
    drop(inbox / "processing", "loose.jsonl", [{"id": 3}])
    drop(inbox, "new.jsonl", [{"id": 4}])
    records = run(tmp_path)
    assert [r.body for r in records] == [{"id": 3}, {"id": 2}, {"id": 4}]
    assert names(inbox / "archive") == ["loose.jsonl", "new.jsonl", "x.jsonl"]
    assert not dead.exists()
    assert processing_files(tmp_path) == []


def test_a_live_instance_keeps_its_files(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])

    async def scenario() -> None:
        holder = make(tmp_path)
        got = await drain(holder, ack=False, close=False)  # claimed, unacked, still alive
        assert [r.body for r in got] == [{"id": 1}]
        other = await drain(make(tmp_path))
        assert other == []  # the live owner's file is not taken
        assert processing_files(tmp_path) == ["a.jsonl"]
        await holder.close()  # releases it: the next start adopts
        third = await drain(make(tmp_path))
        assert [r.body for r in third] == [{"id": 1}]

    asyncio.run(scenario())
    assert names(inbox / "archive") == ["a.jsonl"]


def test_a_name_still_in_progress_waits_in_the_folder(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])

    async def scenario() -> None:
        source = make(tmp_path, follow=True)
        await source.open()
        batches = source.batches()
        first = await batches.__anext__()
        drop(inbox, "a.jsonl", [{"id": 2}])  # the same name again, before the ack
        await asyncio.sleep(0.2)  # several scans: it must stay in the inbox
        assert names(inbox).count("a.jsonl") == 1
        await source.ack([r.ack for r in first])
        second = await asyncio.wait_for(batches.__anext__(), 10)
        assert [r.body for r in second] == [{"id": 2}]
        await source.ack([r.ack for r in second])
        source.stop()
        await batches.aclose()
        await source.close()

    asyncio.run(scenario())
    assert len(names(inbox / "archive")) == 2


# ------------------------------------------------------------------ two claimers race

def test_two_instances_claim_each_file_exactly_once(tmp_path: Path, inbox: Path) -> None:
    for i in range(60):
        drop(inbox, f"f{i:03}.jsonl", [{"file": i, "n": 0}, {"file": i, "n": 1}])
    start = threading.Barrier(2)
    results: dict[str, list[Record]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            source = make(tmp_path, batch_size=1)
            start.wait(10)
            results[name] = asyncio.run(drain(source))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    seen = [(r.body["file"], r.body["n"]) for rs in results.values() for r in rs]
    assert sorted(seen) == [(i, n) for i in range(60) for n in (0, 1)]  # each once
    assert len(names(inbox / "archive")) == 60
    assert processing_files(tmp_path) == []


def test_a_file_claimed_by_one_instance_is_lost_to_the_other(tmp_path: Path, inbox: Path
                                                            ) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])

    async def scenario() -> None:
        a, b = make(tmp_path), make(tmp_path)
        await a.open()
        await b.open()
        try:
            assert a._claim("a.jsonl") is not None
            assert b._claim("a.jsonl") is None  # the rename found nothing: a won
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- ready

def test_readiness_by_age_and_by_watching() -> None:
    r = Readiness(2.0)
    now = 1_000_000.0
    ns = int((now - 10) * 1e9)
    assert r.check("old", 10, ns, wall=now, mono=0.0)  # unchanged for 10s by its mtime
    fresh = int(now * 1e9)
    assert not r.check("new", 10, fresh, wall=now, mono=0.0)
    assert not r.check("new", 12, fresh + 1, wall=now + 1, mono=1.0)  # still growing
    assert not r.check("new", 12, fresh + 1, wall=now + 2, mono=2.0)  # watched 1s
    assert r.check("new", 12, fresh + 1, wall=now + 3.1, mono=3.1)  # watched 2.1s
    # a writer whose clock runs ahead: the mtime never looks old, watching decides
    future = int((now + 3600) * 1e9)
    assert not r.check("skew", 5, future, wall=now, mono=10.0)
    assert r.check("skew", 5, future, wall=now + 2, mono=12.0)
    # a file that changed since the previous scan is never ready, however old its mtime
    r2 = Readiness(2.0)
    assert not r2.check("cp-p", 1, fresh, wall=now, mono=0.0)
    assert not r2.check("cp-p", 9, ns, wall=now + 0.5, mono=0.5)
    assert r2.check("cp-p", 9, ns, wall=now + 1, mono=1.0)
    r.keep_only({"old"})
    assert set(r._seen) == {"old"}
    assert Readiness(0).check("x", 1, fresh, wall=now, mono=0.0)


def test_a_file_being_written_is_not_read_until_stable(tmp_path: Path, inbox: Path) -> None:
    path = inbox / "slow.jsonl"
    path.write_bytes(b'{"n": 0}\n')
    done = threading.Event()

    def writer() -> None:
        with path.open("ab") as f:
            for n in range(1, 11):
                time.sleep(0.05)
                f.write(orjson.dumps({"n": n}) + b"\n")
                f.flush()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        records = run(tmp_path, stable_for="2s")
    finally:
        thread.join(10)
    assert done.is_set()
    assert [r.body["n"] for r in records] == list(range(11))  # the whole file, once


def test_a_file_still_changing_is_left_for_the_next_run(tmp_path: Path, inbox: Path
                                                       ) -> None:
    path = inbox / "busy.jsonl"
    path.write_bytes(b'{"n": 0}\n')
    stop = threading.Event()

    def writer() -> None:
        with path.open("ab") as f:
            n = 0
            while not stop.is_set():
                n += 1
                f.write(orjson.dumps({"n": n}) + b"\n")
                f.flush()
                time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        records = run(tmp_path, stable_for="500ms")  # gives up after twice stable_for
    finally:
        stop.set()
        thread.join(10)
    assert records == []
    assert "busy.jsonl" in names(inbox)
    assert processing_files(tmp_path) == []


def test_ready_done_waits_for_the_marker_and_removes_it(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.csv", b"id\n1\n")
    drop(inbox, "b.csv", b"id\n2\n")
    (inbox / "b.csv.done").write_bytes(b"")
    records = run(tmp_path, ready="done", stable_for="1h")
    assert [r.body for r in records] == [{"id": "2"}]
    assert names(inbox) == ["a.csv", "archive", "error", "processing"]
    (inbox / "a.csv.done").write_bytes(b"")
    records = run(tmp_path, ready="done", stable_for="1h")
    assert [r.body for r in records] == [{"id": "1"}]
    assert names(inbox) == ["archive", "error", "processing"]


# --------------------------------------------------------------------------- follow

def test_follow_picks_up_files_that_arrive_later_until_stopped(tmp_path: Path,
                                                               inbox: Path) -> None:
    async def scenario() -> list[Any]:
        source = make(tmp_path, follow=True)
        await source.open()
        seen: list[Any] = []

        async def consume() -> None:
            async for batch in source.batches():
                seen.extend(r.body for r in batch)
                await source.ack([r.ack for r in batch])

        task = asyncio.create_task(consume())
        for i in range(3):
            drop(inbox, f"f{i}.jsonl", [{"id": i}])
            for _ in range(200):
                if len(seen) > i:
                    break
                await asyncio.sleep(0.02)
        source.stop()
        await asyncio.wait_for(task, 10)
        await source.close()
        return seen

    assert asyncio.run(scenario()) == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert names(inbox / "archive") == ["f0.jsonl", "f1.jsonl", "f2.jsonl"]


def test_progress_counts_files(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])
    drop(inbox, "b.jsonl", [{"id": 2}])

    async def scenario() -> None:
        source = make(tmp_path)
        await drain(source)
        progress = source.progress()
        assert (progress.done, progress.total, progress.unit) == (2, 2, "files")

    asyncio.run(scenario())


# -------------------------------------------------------------------- config, check

def messages(**raw: Any) -> list[str]:
    return [p.message for p in DropFolderConnector.check_config(raw)]


def test_config_problems() -> None:
    assert messages(path="in") == []
    assert messages(path="in", pattern="*.csv", header=False) == [
        "csv with header: false needs columns: to name the fields"]
    assert messages(path="in", format="fixed") == [
        "format fixed needs fields: the list of field specs ({name, start, width, type})"]
    assert messages(path="in", fields=[{"name": "a", "width": 2}]) == [
        "fields describes fixed-width records: set format: fixed"]
    assert messages(path="in", archive_folder="x", error_folder="x") == [
        "processing_folder, archive_folder and error_folder must be different folders"]
    assert messages(path="in", ready="done", done_suffix="") == [
        "ready: done needs a done_suffix such as .done"]
    spec_problems = DropFolderConnector.spec.check({"path": "in", "redy": "done"})
    assert [p.message for p in spec_problems] == ["unknown option 'redy'"]
    assert spec_problems[0].hint == "did you mean 'ready'?"


def test_check(tmp_path: Path, inbox: Path) -> None:
    drop(inbox, "a.jsonl", [{"id": 1}])
    drop(inbox, "b.txt", b"x\n")

    def check(**config: Any) -> tuple[str, str]:
        config.setdefault("path", "inbox")
        runtime = Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".i",
                          redactor=Redactor())
        c = DropFolderConnector("p", DropFolderConnector.spec.parse(config, "t"), runtime)
        result = asyncio.run(c.check())
        return result.status, result.detail

    assert check(pattern="*.jsonl") == ("ok", f"{inbox}: 1 file(s) matching '*.jsonl'")
    assert check(path="nowhere") == ("misconfigured", f"{tmp_path / 'nowhere'} is not a "
                                                      "folder")


# ----------------------------------------------------------------------- in a flow

def test_a_flow_delivers_good_records_and_dead_letters_bad_ones(tmp_path: Path,
                                                                inbox: Path) -> None:
    drop(inbox, "orders-1.csv", f"id;name\n1;{POLISH}\n2\n3;Ola\n".encode("cp1250"))
    drop(inbox, "orders-2.csv", b"id;name\n4;Ewa\n")
    report, hub = run_flow(f"""
        flow: drop
        connections:
          partner:
            type: dropfolder
            path: {inbox}
            pattern: "*.csv"
            delimiter: ";"
            encoding: cp1250
            stable_for: 0
          out: {{type: memory}}
        source: {{connection: partner}}
        steps:
          - deliver: [all]
        sinks:
          all: {{connection: out}}
    """, tmp_path)
    assert report.status == "completed"
    assert hub.channels["out"] == [{"id": "1", "name": POLISH}, {"id": "3", "name": "Ola"},
                                      {"id": "4", "name": "Ewa"}]
    assert report.dead_lettered == 1
    assert report.acked == 4
    assert names(inbox / "archive") == ["orders-2.csv"]
    assert names(inbox / "error") == ["orders-1.csv", "orders-1.csv.errors.json"]
    report = json.loads((inbox / "error/orders-1.csv.errors.json").read_text())
    assert [(e["line"], e["message"]) for e in report["errors"]] == [
        (3, "orders-1.csv:3: expected 2 fields, got 1")]


def test_dry_run_reads_files_in_place_and_moves_nothing(tmp_path: Path) -> None:
    """``integrator run --dry-run`` must leave the input exactly as it was."""
    import asyncio

    from support import compile_flow

    from integrator.engine.runner import Engine, RunOptions

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text('{"n": 1}\n{"n": 2}\n', encoding="utf-8")
    flow = compile_flow(
        "flow: drop\n"
        f"connections:\n  drop: {{type: dropfolder, path: {inbox}, stable_for: 0}}\n"
        "  out: {type: memory}\n"
        "source: {connection: drop}\n"
        "steps: [{deliver: [s]}]\n"
        "sinks: {s: {connection: out}}\n")
    report = asyncio.run(Engine(flow, RunOptions(workdir=tmp_path, dry_run=True)).run())
    assert report.read == 2 and report.samples["s"] == [{"n": 1}, {"n": 2}]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.jsonl"]
