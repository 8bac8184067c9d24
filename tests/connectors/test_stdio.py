"""stdin and stdout: the same decoding as files, through real streams and a real pipe."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from integrator.connectors.base import Delivery, Record, Runtime
from integrator.connectors.builtin.stdio import (
    StdinConnector,
    StdinSource,
    StdoutConnector,
    StdoutSink,
)
from integrator.errors import DecodeError, FatalError, RejectedError
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor

POLISH = "Zażółć gęślą jaźń"
IDS = IdFactory("test")


def runtime(tmp_path: Path) -> Runtime:
    return Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                   redactor=Redactor())


def stdin_source(tmp_path: Path, source_options: dict[str, Any] | None = None,
                 **config: Any) -> StdinSource:
    connector = StdinConnector("input", StdinConnector.spec.parse(config, "t"),
                               runtime(tmp_path))
    return connector.source(StdinConnector.source_options.parse(source_options or {}, "t"))


def stdout_sink(tmp_path: Path, **config: Any) -> StdoutSink:
    connector = StdoutConnector("out", StdoutConnector.spec.parse(config, "t"),
                                runtime(tmp_path))
    return connector.sink("write", StdoutConnector.actions["write"].options.parse({}, "t"))


@pytest.fixture
def feed_stdin(monkeypatch: pytest.MonkeyPatch) -> Any:
    def feed(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    return feed


async def drain(source: StdinSource) -> list[list[Record]]:
    await source.open()
    try:
        return [batch async for batch in source.batches()]
    finally:
        await source.close()


def read_stdin(source: StdinSource) -> list[Record]:
    return [r for b in asyncio.run(drain(source)) for r in b]


def test_stdin_jsonl_default_format_with_errors(tmp_path: Path, feed_stdin: Any) -> None:
    feed_stdin(b'{"id": 1}\n[1]\n{"id": \n\n{"id": 4, "n": "' + POLISH.encode() + b'"}\n')
    records = read_stdin(stdin_source(tmp_path))
    assert [r.body for r in records if r.error is None] == [{"id": 1}, {"id": 4, "n": POLISH}]
    assert [r.meta for r in records] == [{"file": "<stdin>", "line": n} for n in (1, 2, 3, 5)]
    bad = [r.error for r in records if r.error is not None]
    assert all(isinstance(e, DecodeError) for e in bad)
    assert [e.message.split(":")[1] for e in bad if e is not None] == ["2", "3"]
    assert "expected a JSON object, got an array" in str(bad[0])


def test_stdin_text_lines(tmp_path: Path, feed_stdin: Any) -> None:
    feed_stdin(b"alpha\r\n\n" + POLISH.encode() + b"\n")
    records = read_stdin(stdin_source(tmp_path, format="text"))
    assert [r.body for r in records] == [{"line": "alpha"}, {"line": ""}, {"line": POLISH}]


def test_stdin_csv_cp1250_with_a_bad_row(tmp_path: Path, feed_stdin: Any) -> None:
    feed_stdin(f"id;nazwa\n1;{POLISH}\n2;a;b\n3;ok\n".encode("cp1250"))
    records = read_stdin(stdin_source(tmp_path, format="csv", delimiter=";",
                                      encoding="cp1250"))
    assert [r.body for r in records] == [{"id": "1", "nazwa": POLISH}, None,
                                        {"id": "3", "nazwa": "ok"}]
    assert records[1].error is not None
    assert str(records[1].error).startswith("<stdin>:3: expected 2 fields, got 3")


def test_stdin_json_and_xml_documents(tmp_path: Path, feed_stdin: Any) -> None:
    feed_stdin(b'[{"id": 1}, {"id": 2}]')
    assert [r.body for r in read_stdin(stdin_source(tmp_path, format="json"))] == [
        {"id": 1}, {"id": 2}]
    feed_stdin(b"<Orders><Order><n>1</n></Order><Order><n>2</n></Order></Orders>")
    records = read_stdin(stdin_source(tmp_path, format="xml", record_path="Orders/Order"))
    assert [r.body for r in records] == [{"n": "1"}, {"n": "2"}]


def test_stdin_batches_and_acks(tmp_path: Path, feed_stdin: Any) -> None:
    feed_stdin(b"".join(b'{"id": %d}\n' % i for i in range(25)))

    async def run() -> list[int]:
        source = stdin_source(tmp_path, {"batch_size": 10})
        await source.open()
        sizes = []
        async for batch in source.batches():
            sizes.append(len(batch))
            await source.ack([r.ack for r in batch])
        assert source.acked == 25
        assert source.progress().done == 25 and source.progress().total is None
        await source.close()
        return sizes

    assert asyncio.run(run()) == [10, 10, 5]


def test_stdin_stop_returns_while_the_thread_waits_for_input(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb", buffering=0)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(reader)))
    writer = os.fdopen(write_fd, "wb", buffering=0)

    async def run() -> tuple[list[Any], float]:
        source = stdin_source(tmp_path)
        await source.open()
        got: list[Any] = []

        async def consume() -> None:
            async for batch in source.batches():
                got.extend(r.body for r in batch)

        task = asyncio.create_task(consume())
        writer.write(b'{"id": 1}\n')  # arrives although the pipe stays open
        for _ in range(200):
            await asyncio.sleep(0.01)
            if got:
                break
        started = time.monotonic()
        source.stop()
        await asyncio.wait_for(task, 2)
        await source.close()
        return got, time.monotonic() - started

    try:
        got, took = asyncio.run(run())
    finally:
        writer.close()
        reader.close()
    assert got == [{"id": 1}]
    assert took < 1


def test_stdin_missing_is_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(FatalError, match="no standard input"):
        read_stdin(stdin_source(tmp_path))


def deliveries(*payloads: Any) -> list[Delivery]:
    return [Delivery(p, Message({}, ids=IDS)) for p in payloads]


def run_stdout(monkeypatch: pytest.MonkeyPatch, sink: StdoutSink, *payloads: Any) -> tuple[
        bytes, Any]:
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))

    async def run() -> Any:
        await sink.open()
        result = await sink.write_batch(deliveries(*payloads))
        await sink.close()
        return result

    result = asyncio.run(run())
    return buffer.getvalue(), result


def test_stdout_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, result = run_stdout(monkeypatch, stdout_sink(tmp_path), {"id": 1, "n": POLISH},
                             {"id": {1}}, {"id": 3})
    assert out == b'{"id":1,"n":"' + POLISH.encode() + b'"}\n{"id":3}\n'
    assert result[0] is None and result[2] is None and "cannot encode as JSON" in str(result[1])


def test_stdout_json_pretty_and_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, result = run_stdout(monkeypatch, stdout_sink(tmp_path, format="json-pretty"),
                             {"a": [1]})
    assert out == b'{\n  "a": [\n    1\n  ]\n}\n' and result is None
    out, result = run_stdout(monkeypatch, stdout_sink(tmp_path, format="text"), POLISH, 5)
    assert out == POLISH.encode() + b"\n"
    assert isinstance(result[1], RejectedError)


def test_pipeline_through_real_stdin_and_stdout(tmp_path: Path) -> None:
    """A child process reads a real pipe with the stdin source and writes with stdout."""
    script = textwrap.dedent("""
        import asyncio, sys
        from pathlib import Path
        from integrator.connectors.base import Delivery, Runtime
        from integrator.connectors.builtin.stdio import StdinConnector, StdoutConnector
        from integrator.message import IdFactory, Message
        from integrator.security.secrets import Redactor

        async def main():
            rt = Runtime(flow="t", workdir=Path("."), state_dir=Path("."), redactor=Redactor())
            src = StdinConnector("i", StdinConnector.spec.parse({"format": "csv",
                                 "delimiter": ";", "encoding": "cp1250"}, "t"), rt).source(
                                 StdinConnector.source_options.parse({}, "t"))
            sink = StdoutConnector("o", StdoutConnector.spec.parse({}, "t"), rt).sink(
                "write", StdoutConnector.actions["write"].options.parse({}, "t"))
            ids = IdFactory()
            await src.open()
            await sink.open()
            async for batch in src.batches():
                payloads = [{"line": r.meta["line"], "row": r.body,
                             "error": r.error and r.error.message} for r in batch]
                await sink.write_batch([Delivery(p, Message(p, ids=ids)) for p in payloads])
                await src.ack([r.ack for r in batch])
            await sink.close()
            await src.close()

        asyncio.run(main())
    """)
    data = f"id;nazwa\n1;{POLISH}\n2\n3;Łódź\n".encode("cp1250")
    done = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    lines = [orjson.loads(x) for x in done.stdout.splitlines()]
    assert lines == [
        {"line": 2, "row": {"id": "1", "nazwa": POLISH}, "error": None},
        {"line": 3, "row": None, "error": "<stdin>:3: expected 2 fields, got 1"},
        {"line": 4, "row": {"id": "3", "nazwa": "Łódź"}, "error": None},
    ]


def test_stdout_broken_pipe_is_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # nobody reads: writing raises BrokenPipeError
    wrapper = io.TextIOWrapper(os.fdopen(write_fd, "wb"))
    monkeypatch.setattr(sys, "stdout", wrapper)
    sink = stdout_sink(tmp_path)

    async def run() -> None:
        await sink.open()
        await sink.write_batch(deliveries({"id": 1}))
        await sink.close()

    with pytest.raises(FatalError, match="broken pipe"):
        asyncio.run(run())
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):  # the unread bytes cannot be flushed
        wrapper.close()
    assert wrapper.closed
