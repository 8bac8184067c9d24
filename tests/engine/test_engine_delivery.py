"""The engine's promises: late ack, bounded in-flight, per-sink concurrency, stop, errors.

The connectors here are small real implementations of the contracts (not mocks): they
record what the engine did to them, so the test can check the order of events.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from integrator.compiler import check_text
from integrator.connectors.base import Action, Connector, Delivery, Record, Sink, Source
from integrator.connectors.builtin.memory import MemoryHub
from integrator.connectors.registry import Registry
from integrator.connectors.spec import Config, ConfigSpec, Option
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.runner import Engine, RunOptions
from integrator.errors import DecodeError
from integrator.flow.loader import LoadOptions


class Journal:
    """Shared record of events, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.written: set[int] = set()


class CountingSource(Source):
    def __init__(self, journal: Journal, total: int | None, batch: int, bad: set[int]):
        self.journal, self.total, self.batch, self.bad = journal, total, batch, bad
        self._stop = False

    async def batches(self) -> AsyncIterator[list[Record]]:  # type: ignore[override]
        n = 0
        while not self._stop and (self.total is None or n < self.total):
            size = self.batch if self.total is None else min(self.batch, self.total - n)
            out = []
            for i in range(n, n + size):
                if i in self.bad:
                    out.append(Record(None, {"line": i + 1}, i, DecodeError(
                        f"line {i + 1}: invalid JSON", context={"line": i + 1})))
                else:
                    out.append(Record({"n": i}, {"line": i + 1}, i))
            n += size
            yield out
            await asyncio.sleep(0)

    async def ack(self, tokens: Sequence[Any]) -> None:
        for t in tokens:
            self.journal.events.append(("ack", t))

    def stop(self) -> None:
        self._stop = True


class SlowSink(Sink):
    def __init__(self, journal: Journal, delay: float) -> None:
        self.journal, self.delay = journal, delay

    async def write_batch(self, deliveries: Sequence[Delivery]) -> None:
        j = self.journal
        j.active += 1
        j.max_active = max(j.max_active, j.active)
        await asyncio.sleep(self.delay)
        j.active -= 1
        for d in deliveries:
            j.written.add(d.payload["n"])
            j.events.append(("write", d.payload["n"]))


class ProbeConnector(Connector):
    type_name = "probe"
    summary = "Test probe."
    spec = ConfigSpec((
        Option("total", "integer", "records", default=None),
        Option("batch", "integer", "batch", default=10),
        Option("delay", "number", "sink delay", default=0.0),
        Option("bad", "any", "indexes that fail to decode", default=[]),
    ))
    actions = {"write": Action("write")}

    def source(self, options: Config) -> Source:
        return CountingSource(self.runtime.resources["journal"], self.config.total,
                              self.config.batch, {int(b) for b in self.config.bad})

    def sink(self, action: str, options: Config) -> Sink:
        return SlowSink(self.runtime.resources["journal"], self.config.delay)


def make_engine(yaml_text: str, tmp_path: Path, **options: Any) -> tuple[Engine, Journal,
                                                                         MemoryDeadLetters]:
    registry = Registry(load_entry_points=False)
    registry.register(ProbeConnector)
    compiled, diag = check_text(textwrap.dedent(yaml_text), "t.yaml",
                                options=LoadOptions(env={}), registry=registry)
    assert compiled is not None, diag.problems
    journal = Journal()
    dead = MemoryDeadLetters()
    engine = Engine(compiled, RunOptions(workdir=tmp_path, **options),
                    resources={"journal": journal, "memory": MemoryHub()}, dead_letters=dead)
    return engine, journal, dead


FLOW = """\
flow: probe
connections:
  src: {{type: probe, total: {total}, batch: {batch}, bad: {bad}}}
  out: {{type: probe, delay: {delay}}}
settings: {{max_in_flight: {max_in_flight}}}
source: {{connection: src}}
steps:
  - deliver: [a]
sinks:
  a: {{connection: out, concurrency: {concurrency}, batch_size: {sink_batch}}}
"""


def probe_flow(total: Any = 100, batch: int = 10, delay: float = 0.0, bad: str = "[]",
               max_in_flight: int = 1000, concurrency: int = 1, sink_batch: int = 500) -> str:
    return FLOW.format(total="null" if total is None else total, batch=batch, delay=delay,
                       bad=bad, max_in_flight=max_in_flight, concurrency=concurrency,
                       sink_batch=sink_batch)


def test_ack_comes_only_after_the_write(tmp_path: Path) -> None:
    engine, journal, _ = make_engine(probe_flow(total=200, delay=0.002), tmp_path)
    report = asyncio.run(engine.run())
    assert report.ok and report.acked == 200
    written: set[int] = set()
    for kind, n in journal.events:
        if kind == "write":
            written.add(n)
        else:
            assert n in written, f"message {n} acked before it was written"
    assert written == set(range(200))


def test_in_flight_is_bounded_on_endless_input(tmp_path: Path) -> None:
    engine, journal, _ = make_engine(
        probe_flow(total=None, batch=50, delay=0.001, max_in_flight=300), tmp_path)
    peak = 0

    async def main() -> Any:
        nonlocal peak
        task = asyncio.create_task(engine.run())
        while engine.report.read < 5_000:
            peak = max(peak, engine.in_flight)
            await asyncio.sleep(0)
        engine.stop()
        return await task

    report = asyncio.run(main())
    assert report.status == "stopped"
    assert 0 < peak <= 300 + 50  # the bound, plus at most one batch being taken in
    assert report.read == report.acked == len(journal.written)  # drained, nothing lost


def test_per_sink_concurrency(tmp_path: Path) -> None:
    engine, journal, _ = make_engine(
        probe_flow(total=400, batch=50, delay=0.01, concurrency=4, sink_batch=25), tmp_path)
    report = asyncio.run(engine.run())
    assert report.ok
    assert journal.max_active == 4
    engine, journal, _ = make_engine(
        probe_flow(total=200, batch=50, delay=0.005, concurrency=1, sink_batch=25), tmp_path)
    asyncio.run(engine.run())
    assert journal.max_active == 1


def test_source_decode_errors_are_dead_lettered_and_the_run_goes_on(tmp_path: Path) -> None:
    engine, journal, dead = make_engine(probe_flow(total=30, bad="[3, 17]"), tmp_path)
    report = asyncio.run(engine.run())
    assert report.read == 30 and report.dead_lettered == 2 and report.acked == 30
    assert len(journal.written) == 28
    assert [d["meta"]["line"] for d in dead.letters] == [4, 18]
    assert all(d["step"] == "source" and d["error_class"] == "DecodeError"
               for d in dead.letters)
    assert report.status == "completed" and not report.ok


def test_limit_reads_at_most_n(tmp_path: Path) -> None:
    engine, journal, _ = make_engine(probe_flow(total=100, batch=30), tmp_path, limit=45)
    report = asyncio.run(engine.run())
    assert report.read == 45 and len(journal.written) == 45


def test_dry_run_writes_and_acks_nothing(tmp_path: Path) -> None:
    engine, journal, dead = make_engine(probe_flow(total=20, bad="[2]"), tmp_path,
                                        dry_run=True)
    report = asyncio.run(engine.run())
    assert journal.written == set() and report.acked == 0
    assert report.samples["a"] == [{"n": 0}, {"n": 1}, {"n": 3}]
    assert dead.letters == [] and report.dead_lettered == 1


def test_a_compiled_flow_runs_twice_with_fresh_state(tmp_path: Path) -> None:
    engine, journal, _ = make_engine(probe_flow(total=10), tmp_path)
    first = asyncio.run(engine.run())
    again = Engine(engine.flow, RunOptions(workdir=tmp_path),
                   resources={"journal": journal, "memory": MemoryHub()})
    second = asyncio.run(again.run())
    assert first.read == second.read == 10
