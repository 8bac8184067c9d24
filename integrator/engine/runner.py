"""The engine: runs one compiled flow from its source to its sinks.

::

    source ──batches──▶ intake ──▶ executor (steps) ──deliveries──▶ queue per sink
       ▲                  │ back-pressure: waits while max_in_flight      │ workers
       │                  ▼                                               ▼
       └──── ack ◀── acker ◀── message done ◀── every delivery written or dead-lettered

* **Late acknowledgement.** A message is *done* when its processing ended and every
  delivery (and every message split from it) finished — written, filtered, skipped or
  dead-lettered. Only then does its source token reach ``Source.ack``.
* **Bounded.** At most ``max_in_flight`` source messages are between read and done;
  reading waits above that, so memory stays flat on endless input.
* **Per-sink concurrency.** Each sink has ``concurrency`` workers taking batches of up to
  ``batch_size`` deliveries.
* **Graceful stop.** ``stop()`` (SIGINT/SIGTERM) stops reading; what was read is drained
  and delivered, the report says ``stopped``.
* **Errors.** A failing message goes where its step's policy says (dead letter, skip,
  fail the run); an error record with flow, step, message id and business keys is
  logged and kept in the report. A FatalError stops the run; sinks are then aborted so
  partial output is never presented as complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integrator.compiler.graph import CompiledFlow, LookupRef, SinkPlan
from integrator.connectors.base import Connector, Delivery, Lookup, Runtime, Sink, Source
from integrator.connectors.spec import Config
from integrator.connectors.state import JsonStateStore
from integrator.delivery.deadletters import DeadLetter, DeadLetterStore, JsonlDeadLetters
from integrator.engine.executor import Executor
from integrator.engine.report import ErrorRecord, RunReport, SinkStats
from integrator.errors import ExpressionError, FatalError, IntegratorError, MessageError
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor
from integrator.steps.base import Step

__all__ = ["Engine", "RunObserver", "RunOptions"]

log = logging.getLogger("integrator.engine")

SOURCE_STEP = "source"
MAX_SAMPLES = 3


@dataclass
class RunOptions:
    """How to run: ``limit`` messages at most; ``dry_run`` writes nothing and acks
    nothing; ``input`` replaces the flow's source with a file."""

    limit: int | None = None
    dry_run: bool = False
    input: Path | None = None
    workdir: Path = field(default_factory=Path.cwd)
    state_dir: Path | None = None
    max_in_flight: int | None = None
    batch_size: int | None = None


class RunObserver:
    """Hooks for watching a run message by message (``integrator test`` uses them).

    Every method is called synchronously from the engine loop and must be quick; the
    default does nothing. ``written`` and ``sink_failed`` come after the sink answered;
    ``finished`` when a source message is done (its ``trace`` lists the steps it took).
    """

    def written(self, sink: str, delivery: Delivery) -> None:
        return None

    def sink_failed(self, sink: str, delivery: Delivery, error: IntegratorError) -> None:
        return None

    def failed(self, msg: Message, step: str, policy: str, error: IntegratorError) -> None:
        return None

    def filtered(self, msg: Message, reason: str) -> None:
        return None

    def finished(self, msg: Message) -> None:
        return None


class _SinkState:
    __slots__ = ("plan", "queue", "sink", "stats", "workers")

    def __init__(self, plan: SinkPlan, sink: Sink) -> None:
        self.plan = plan
        self.sink = sink
        self.queue: asyncio.Queue[list[Delivery] | None] = asyncio.Queue()
        self.stats = SinkStats(plan.name)
        self.workers: list[asyncio.Task[None]] = []


class _DrySink(Sink):
    """Counts and samples deliveries instead of writing them (``--dry-run``)."""

    def __init__(self, samples: list[Any]) -> None:
        self.samples = samples

    async def write_batch(self, deliveries: Sequence[Delivery]) -> None:
        room = MAX_SAMPLES - len(self.samples)
        if room > 0:
            self.samples.extend(d.payload for d in deliveries[:room])


class Engine:
    """One run of one compiled flow. Create, ``await run()``, read the report."""

    def __init__(self, flow: CompiledFlow, options: RunOptions | None = None, *,
                 redactor: Redactor | None = None,
                 resources: dict[str, Any] | None = None,
                 dead_letters: DeadLetterStore | None = None,
                 observer: RunObserver | None = None) -> None:
        self.flow = flow
        self.observer = observer
        self.options = options or RunOptions()
        self.redactor = redactor or Redactor()
        state_dir = self.options.state_dir or self.options.workdir / ".integrator"
        self.runtime = Runtime(flow=flow.name, workdir=self.options.workdir,
                               state_dir=state_dir, redactor=self.redactor,
                               resources=resources if resources is not None else {},
                               state=JsonStateStore(state_dir / flow.name / "state.json"),
                               dry_run=self.options.dry_run)
        self.report = RunReport(flow=flow.name, dry_run=self.options.dry_run)
        self.dead_letters = dead_letters or JsonlDeadLetters(
            state_dir / flow.name / "dead-letters.jsonl", self.redactor)
        self.max_in_flight = self.options.max_in_flight or flow.model.settings.max_in_flight
        self.batch_size = self.options.batch_size or flow.model.settings.batch_size
        self.ids = IdFactory()
        self.executor = Executor(flow, self)
        self.source: Source | None = None
        self.sinks: dict[str, _SinkState] = {}
        self._lookups: dict[str, Lookup] = {}
        self._connectors: dict[str, Connector] = {}
        self._step_states: dict[int, dict[str, Any]] = {}
        self._outbox: dict[str, list[Delivery]] = {}
        self._letters: list[DeadLetter] = []
        self._acks: list[Any] = []
        self._ack_event = asyncio.Event()
        self._acks_closing = False
        self._inflight = 0
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._stopping = False
        self._fatal: IntegratorError | None = None
        self._keys = flow.keys
        self._holding_steps = [s for s in flow.steps if type(s).flush is not Step.flush]

    # -- public ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop reading; drain what was read. Safe to call from a signal handler."""
        if not self._stopping:
            self._stopping = True
            if self.source is not None:
                self.source.stop()
            self._room.set()

    @property
    def in_flight(self) -> int:
        return self._inflight

    async def run(self) -> RunReport:
        started = time.perf_counter()
        report = self.report
        opened = False
        try:
            await self._open()
            opened = True
            await self._process()
        except IntegratorError as exc:
            # FatalError, or a RetriableError from the source (peer gone mid-run): the run
            # ends here; what was read and delivered is acknowledged, the rest is not.
            self._fatal = self._fatal or exc
        finally:
            report.seconds = time.perf_counter() - started
            await self._close(opened)
            report.seconds = time.perf_counter() - started
        if self._fatal is not None:
            report.status = "failed"
            report.fatal = self.redactor(str(self._fatal))
        elif self._stopping:
            report.status = "stopped"
        else:
            report.status = "completed"
        return report

    # -- opening and closing -----------------------------------------------------------

    def _connector(self, name: str) -> Connector:
        conn = self._connectors.get(name)
        if conn is None:
            plan = self.flow.connections[name]
            conn = plan.connector(name, plan.config, self.runtime)
            self._connectors[name] = conn
        return conn

    def _make_source(self) -> Source:
        if self.options.input is not None:
            from integrator.connectors.registry import default_registry

            cls = default_registry().get("file")
            config = cls.spec.parse({"path": str(self.options.input)}, "--input")
            return cls("input", config, self.runtime).source(Config({}))
        return self._connector(self.flow.source_connection).source(self.flow.source_options)

    async def _open(self) -> None:
        self.source = self._make_source()
        for name, plan in self.flow.sinks.items():
            if self.options.dry_run:
                sink: Sink = _DrySink(self.report.samples.setdefault(name, []))
            else:
                sink = self._connector(plan.connection).sink(plan.action, plan.options)
            self.sinks[name] = _SinkState(plan, sink)
            self.report.sinks[name] = self.sinks[name].stats
        for ref in self.flow.lookups:
            self._lookups[ref.ref_id] = self._connector(ref.connection).lookup(ref.options)
        if not self.options.dry_run:
            self.report.dead_letter_path = self.dead_letters.location
        await self.source.open()
        for state in self.sinks.values():
            await state.sink.open()
        for lookup in self._lookups.values():
            await lookup.open()

    async def _close(self, opened: bool) -> None:
        failed = self._fatal is not None
        for state in self.sinks.values():
            for task in state.workers:
                task.cancel()
            await self._quietly(state.sink.abort() if failed or not opened
                                else state.sink.close(), f"sink {state.plan.name!r}")
        for lookup in self._lookups.values():
            await self._quietly(lookup.close(), "lookup")
        if self.source is not None:
            await self._quietly(self.source.close(), "source")
        await self._quietly(self._flush_letters(), "dead letters")
        await self._quietly(self.dead_letters.close(), "dead letters")

    async def _quietly(self, work: Any, what: str) -> None:
        try:
            await work
        except IntegratorError as exc:
            log.error("closing %s failed: %s", what, self.redactor(str(exc)))
            self._fatal = self._fatal or exc

    # -- the main loop -----------------------------------------------------------------

    async def _process(self) -> None:
        for name, state in self.sinks.items():
            state.workers = [
                asyncio.create_task(self._sink_worker(state), name=f"sink:{name}:{i}")
                for i in range(state.plan.concurrency)
            ]
        acker = asyncio.create_task(self._acker(), name="acker")
        ticker = asyncio.create_task(self._ticker(), name="ticker") if any(
            getattr(s, "within", None) for s in self._holding_steps) else None
        try:
            await self._intake()
            if self._fatal is None:
                await self.executor.flush(time.monotonic(), final=True)
                self._flush_outbox()
            await self._flush_letters()
            while self._inflight > 0 and not self._workers_dead():
                self._idle.clear()
                await self._wait_idle()
            for state in self.sinks.values():
                for _ in state.workers:
                    state.queue.put_nowait(None)
            for state in self.sinks.values():
                await asyncio.gather(*state.workers)
        finally:
            if ticker is not None:
                ticker.cancel()
            self._acks_closing = True
            self._ack_event.set()
            await acker  # it sends what is left, then ends: no ack is cut off midway

    async def _wait_idle(self) -> None:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=0.5)
        except TimeoutError:
            await self._flush_letters()

    def _workers_dead(self) -> bool:
        return any(t.done() for s in self.sinks.values() for t in s.workers)

    async def _intake(self) -> None:
        assert self.source is not None
        limit = self.options.limit
        report = self.report
        keys = self._keys
        ids = self.ids
        read = 0
        async for records in self.source.batches():
            if self._stopping:
                break
            if limit is not None and read + len(records) > limit:
                records = records[: limit - read]  # noqa: PLW2901 - the same batch, cut
            while self._inflight >= self.max_in_flight and not self._stopping:
                self._room.clear()
                await self._room.wait()
            batch: list[Message] = []
            for rec in records:
                msg = Message(rec.body, ids, rec.meta, rec.ack)
                msg.pending = 1
                self._inflight += 1
                if rec.error is not None:
                    msg.trace.append(SOURCE_STEP)
                    self.fail(msg, SOURCE_STEP, self.flow.model.settings.on_error, rec.error)
                    self.release(msg)
                    continue
                if keys:
                    msg.keys = self._business_keys(rec.body)
                batch.append(msg)
            read += len(records)
            report.read = read
            await self.executor.run(batch, 0)
            self._flush_outbox()
            if self._letters:
                await self._flush_letters()
            if limit is not None and read >= limit:
                break
            await asyncio.sleep(0)  # let sink workers and the acker run between batches

    def _business_keys(self, body: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expr in self._keys:
            try:
                out[name] = expr.search(body)
            except ExpressionError:
                out[name] = None
        return out

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            await self.executor.flush(time.monotonic(), final=False)
            self._flush_outbox()

    # -- what steps call -----------------------------------------------------------------

    def step_state(self, step: Step) -> dict[str, Any]:
        state = self._step_states.get(step.index)
        if state is None:
            state = self._step_states[step.index] = {}
        return state

    def lookup(self, ref: LookupRef) -> Lookup:
        return self._lookups[ref.ref_id]

    def deliver(self, msg: Message, sinks: Iterable[str]) -> None:
        for name in sinks:
            plan = self.flow.sinks[name]
            body = plan.body
            if body == "body":
                payload = msg.body
            elif body in msg.vars:
                payload = msg.vars[body]
            else:
                self.fail(msg, f"sink:{name}", plan.on_error, MessageError(
                    f"sink {name!r} sends {body!r}, but no step stored it on this message",
                    hint="the route this message took skipped the step with that `as`"))
                continue
            msg.pending += 1
            box = self._outbox.get(name)
            if box is None:
                self._outbox[name] = [Delivery(payload, msg)]
            else:
                box.append(Delivery(payload, msg))

    def filtered(self, msg: Message, reason: str) -> None:
        if reason == "unrouted":
            self.report.unrouted += 1
        else:
            self.report.filtered += 1
        if self.observer is not None:
            self.observer.filtered(msg, reason)

    def fail(self, msg: Message, step: str, policy: str, error: IntegratorError) -> None:
        report = self.report
        record = ErrorRecord(
            flow=self.flow.name, step=step, message_id=msg.id,
            correlation_id=msg.correlation, keys=dict(msg.keys),
            error_class=error.error_class, error=self.redactor(error.message),
            hint=error.hint, policy=policy,
            context=self.redactor.scrub(dict(error.context)), meta=dict(msg.meta),
        )
        report.record(record)
        log.warning("%s: %s", step, record.error,
                    extra={"integrator": self.redactor.scrub(record.as_dict())})
        if self.observer is not None:
            self.observer.failed(msg, step, policy, error)
        if policy == "skip":
            report.skipped += 1
            return
        if policy == "fail":
            report.failed += 1
            root = msg
            while root.parent is not None:
                root = root.parent
            root.ack = None  # never acknowledge it: after a fix, the source delivers it again
            self._fatal = self._fatal or FatalError(
                f"step {step!r} failed for message {msg.id} {msg.keys or ''}: "
                f"{error.message} (on_error: fail stops the run)")
            self.stop()
            return
        report.dead_lettered += 1
        if not self.options.dry_run:
            self._letters.append(DeadLetter(record, msg.origin, msg.body, msg.attempts,
                                            self.flow.version))

    def release(self, msg: Message) -> None:
        """Drop one pending hold on ``msg``; at zero it is done."""
        msg.pending -= 1
        if msg.pending > 0:
            return
        group = msg.group
        if group is not None:
            for member in group:
                self.release(member)
            return
        parent = msg.parent
        if parent is not None:
            self.release(parent)
            return
        self.report.completed += 1
        if self.observer is not None:
            self.observer.finished(msg)
        if msg.ack is not None and not self.options.dry_run:
            self._acks.append(msg.ack)
            self._ack_event.set()
        self._inflight -= 1
        if self._inflight < self.max_in_flight:
            self._room.set()
        if self._inflight == 0:
            self._idle.set()

    # -- sinks, dead letters, acks -------------------------------------------------------

    def _flush_outbox(self) -> None:
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, {}
        for name, deliveries in outbox.items():
            state = self.sinks[name]
            state.stats.delivered_in += len(deliveries)
            size = state.plan.batch_size
            for start in range(0, len(deliveries), size):
                state.queue.put_nowait(deliveries[start:start + size])

    async def _sink_worker(self, state: _SinkState) -> None:
        queue = state.queue
        plan = state.plan
        stats = state.stats
        while True:
            chunk = await queue.get()
            if chunk is None:
                return
            while len(chunk) < plan.batch_size and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    queue.put_nowait(None)
                    break
                chunk.extend(more)
            results = await self._write(state, chunk)
            release = self.release
            observer = self.observer
            if results is None:
                stats.written += len(chunk)
                for d in chunk:
                    if observer is not None:
                        observer.written(plan.name, d)
                    release(d.message)
            else:
                for d, result in zip(chunk, results, strict=True):
                    if result is None:
                        stats.written += 1
                        if observer is not None:
                            observer.written(plan.name, d)
                    else:
                        if observer is not None:
                            observer.sink_failed(plan.name, d, result)
                        stats.failed += 1
                        policy = plan.on_error
                        if policy == "dead-letter":
                            stats.dead_lettered += 1
                        elif policy == "skip":
                            stats.skipped += 1
                        self.fail(d.message, f"sink:{plan.name}", policy, result)
                    release(d.message)
            if self._letters:
                await self._flush_letters()

    async def _write(self, state: _SinkState,
                     chunk: list[Delivery]) -> Sequence[IntegratorError | None] | None:
        try:
            results = await state.sink.write_batch(chunk)
        except FatalError as exc:
            self._fatal = self._fatal or exc
            self.stop()
            return [exc] * len(chunk)
        except IntegratorError as exc:
            return [exc] * len(chunk)
        except Exception as exc:
            err = MessageError(f"{type(exc).__name__} in sink {state.plan.name!r}: {exc}",
                               hint="this is a bug in the connector; please report it")
            return [err] * len(chunk)
        if results is not None and len(results) != len(chunk):
            err = MessageError(f"sink {state.plan.name!r} answered {len(results)} results "
                               f"for {len(chunk)} deliveries")
            return [err] * len(chunk)
        return results

    async def _flush_letters(self) -> None:
        if not self._letters:
            return
        letters, self._letters = self._letters, []
        await self.dead_letters.put(letters)

    async def _acker(self) -> None:
        while True:
            await self._ack_event.wait()
            self._ack_event.clear()
            await self._flush_acks()
            if self._acks_closing and not self._acks:
                return

    async def _flush_acks(self) -> None:
        if not self._acks or self.source is None:
            return
        tokens, self._acks = self._acks, []
        try:
            await self.source.ack(tokens)
        except IntegratorError as exc:
            log.error("acknowledging %d messages failed: %s", len(tokens),
                      self.redactor(str(exc)))
            self._fatal = self._fatal or exc
            return
        self.report.acked += len(tokens)
