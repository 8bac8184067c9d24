"""The connector conformance suite: the same contract checks for every connector.

Subclass :class:`ConnectorConformance` in a test module, name the connector type and
the roles to exercise, and start the real peer in ``start_peer``; pytest collects the
inherited ``test_*`` methods. See :mod:`integrator.testing` for a whole example.

Each test runs its own event loop (``asyncio.run``), starts a fresh peer, and bounds
every call to the connector by ``timeout`` seconds. A connection is rebuilt from the
peer's options for every "process" the test imagines (a reopen after a crash is a new
connector instance over the same state file), as the engine would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from integrator.connectors.base import (
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Lookup,
    Record,
    Runtime,
    Sink,
    Source,
)
from integrator.connectors.state import JsonStateStore
from integrator.errors import (
    FatalError,
    IntegratorError,
    MessageError,
    RetriableError,
)
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor
from integrator.testing.peer import Peer

__all__ = ["ConnectorConformance"]

T = TypeVar("T")
ROLES = ("source", "sink", "lookup")
MISSING_KEY = "conformance-no-such-key"
_CONNECTION = "conformance"


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check(condition: bool, message: str) -> None:
    """Fail the test with ``message`` (asserts in a library are not rewritten by pytest
    and vanish under ``python -O``)."""
    if not condition:
        pytest.fail(message, pytrace=False)


class _Harness:
    """Builds roles from the peer's options, and reads and writes with time bounds."""

    def __init__(self, suite: ConnectorConformance, peer: Peer, tmp_path: Path) -> None:
        self.suite = suite
        self.peer = peer
        self.tmp_path = tmp_path
        self.cls = suite.connector()
        self.state_path = tmp_path / ".conformance" / "state.json"
        self.ids = IdFactory()

    # -- building ------------------------------------------------------------------------

    def connector(self) -> Connector:
        """A new connector instance: what a new process would build."""
        cls = self.cls
        config = cls.spec.parse(self.peer.config, f"connection {_CONNECTION!r}")
        runtime = Runtime(flow="conformance", workdir=self.tmp_path,
                          state_dir=self.tmp_path / ".conformance", redactor=Redactor(),
                          resources=self.peer.resources,
                          state=JsonStateStore(self.state_path))
        return cls(_CONNECTION, config, runtime)

    def source(self) -> Source:
        connector = self.connector()
        options = self.cls.source_options.parse(self.peer.source_options, "source options")
        return connector.source(options)

    def action(self) -> str:
        action = self.peer.sink_action or self.cls.default_action
        _check(action is not None and action in self.cls.actions,
               f"sink action {action!r} is not one of the connector's actions "
               f"{sorted(self.cls.actions)} (set Peer.sink_action or default_action)")
        assert action is not None
        return action

    def sink(self) -> Sink:
        action = self.action()
        spec = self.cls.actions[action].options
        options = spec.parse(self.peer.sink_options, f"sink action {action!r}")
        return self.connector().sink(action, options)

    def lookup(self) -> Lookup:
        options = self.cls.lookup_options.parse(self.peer.lookup_options, "lookup options")
        return self.connector().lookup(options)

    # -- calling -------------------------------------------------------------------------

    async def call(self, work: Awaitable[T], what: str) -> T:
        """Await ``work`` within the suite's timeout; name what hung when it did not end."""
        try:
            return await asyncio.wait_for(work, self.suite.timeout)
        except TimeoutError:
            pytest.fail(f"{what} did not finish within {self.suite.timeout}s", pytrace=False)

    @property
    def follow(self) -> bool:
        return bool(self.peer.source_options.get("follow"))

    async def read(self, source: Source, want: int) -> list[Record]:
        """Records from ``source``: to its end, or — a following source — until ``want``
        arrived, then ``stop()`` and what it still yields."""
        out: list[Record] = []
        batches = source.batches()
        iterator: AsyncIterator[list[Record]] = batches.__aiter__()
        stopped = False
        try:
            while True:
                try:
                    batch = await self.call(
                        iterator.__anext__(),
                        f"reading a batch (got {len(out)} of {want} records so far)")
                except StopAsyncIteration:
                    break
                _check(isinstance(batch, list) and all(isinstance(r, Record) for r in batch),
                       f"batches() must yield lists of Record, got {_short(batch)}")
                out.extend(batch)
                if self.follow and not stopped and len(out) >= want:
                    source.stop()
                    stopped = True
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await self.call(close(), "closing the batches() iterator")
        return out

    async def write(self, sink: Sink, payloads: Sequence[Any]
                    ) -> list[IntegratorError | None]:
        """Write one batch; the per-delivery results, checked for shape."""
        deliveries = [Delivery(p, Message(p, self.ids)) for p in payloads]
        results = await self.call(sink.write_batch(deliveries),
                                  f"write_batch of {len(deliveries)} deliveries")
        if results is None:
            return [None] * len(deliveries)
        _check(isinstance(results, list) and len(results) == len(deliveries),
               f"write_batch must return None or a list with one entry per delivery "
               f"({len(deliveries)}), got {_short(results)}")
        for r in results:
            _check(r is None or isinstance(r, IntegratorError),
                   f"each result must be None or an integrator error, got {_short(r)}")
        return list(results)

    # -- comparing -----------------------------------------------------------------------

    def same(self, expected: Sequence[Any], actual: Sequence[Any], *, ordered: bool,
             what: str, allow_duplicates: bool = False) -> None:
        """``actual`` holds exactly ``expected`` (in order when ``ordered``); with
        ``allow_duplicates`` it may hold some of them more than once."""
        matches = self.peer.matches
        if ordered and not allow_duplicates:
            _check(len(actual) == len(expected) and all(
                matches(e, a) for e, a in zip(expected, actual, strict=True)),
                f"{what}: expected, in order,\n  {_short(list(expected), 2000)}\n"
                f"got\n  {_short(list(actual), 2000)}")
            return
        unused = list(actual)
        missing = []
        for e in expected:
            for i, a in enumerate(unused):
                if matches(e, a):
                    del unused[i]
                    break
            else:
                missing.append(e)
        extra = [a for a in unused if not any(matches(e, a) for e in expected)] \
            if allow_duplicates else unused
        _check(not missing and not extra,
               f"{what}: missing {_short(missing, 1000)}; unexpected {_short(extra, 1000)}")


class ConnectorConformance:
    """Base class of a connector's conformance tests; pytest collects its subclasses.

    Class attributes:
        connector_type: the registry name (``"http"``); the class comes from the
            registry — built-ins and installed plugins — unless ``connector_class`` is
            given.
        roles: which of ``"source"``, ``"sink"``, ``"lookup"`` to exercise (default:
            every role the connector implements). Tests of other roles are not
            collected.
        replayable: the source delivers unacknowledged records again after a reopen
            (files, brokers). False skips the redelivery tests.
        not_applicable: test name → reason, for checks that do not apply to this
            connector; those tests are skipped with the reason.
        ordered: whether order must be kept (default: ``capabilities.ordering``).
        record_count: records seeded per test.
        reconnect_attempts: attempts allowed after ``Peer.restart()``; every attempt
            but the last may fail with RetriableError (the engine retries those).
        timeout: seconds any single call may take.

    Override ``start_peer`` (required) and, when the peer needs other shapes,
    ``make_records``.
    """

    connector_type: ClassVar[str] = ""
    connector_class: ClassVar[type[Connector] | None] = None
    roles: ClassVar[tuple[str, ...] | None] = None
    replayable: ClassVar[bool] = True
    not_applicable: ClassVar[Mapping[str, str]] = {}
    ordered: ClassVar[bool | None] = None
    record_count: ClassVar[int] = 4
    reconnect_attempts: ClassVar[int] = 5
    timeout: ClassVar[float] = 20.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tests = [n for n in dir(ConnectorConformance) if n.startswith("test_")]
        unknown = [n for n in cls.not_applicable if n not in tests]
        if unknown:
            raise TypeError(f"{cls.__name__}.not_applicable names unknown tests {unknown}; "
                            f"tests: {', '.join(tests)}")
        if cls.roles is not None:
            bad = [r for r in cls.roles if r not in ROLES]
            if bad:
                raise TypeError(f"{cls.__name__}.roles: unknown roles {bad}; roles: "
                                f"{', '.join(ROLES)}")
            for name in tests:
                role = name.split("_")[1]
                if role in ROLES and role not in cls.roles:
                    setattr(cls, name, None)  # not collected: the role is not exercised

    # -- what a subclass provides --------------------------------------------------------

    async def start_peer(self, tmp_path: Path) -> Peer:
        """Start the real peer for one test and return it; ``Peer.close`` stops it."""
        raise NotImplementedError(f"{type(self).__name__} must define start_peer()")

    def make_records(self, count: int, start: int = 0) -> list[dict[str, Any]]:
        """Records to seed and payloads to write: distinct ids, text beyond ASCII."""
        return [{"id": f"rec-{i}", "n": i, "name": "Zażółć gęślą jaźń",
                 "paid": i % 2 == 0} for i in range(start, start + count)]

    def connector(self) -> type[Connector]:
        """The connector class under test."""
        if self.connector_class is not None:
            return self.connector_class
        from integrator.connectors.registry import Registry

        if not self.connector_type:
            pytest.fail(f"{type(self).__name__} sets no connector_type", pytrace=False)
        return Registry().get(self.connector_type)

    # -- running -------------------------------------------------------------------------

    def _roles(self) -> tuple[str, ...]:
        return self.roles if self.roles is not None else tuple(self.connector().roles())

    def _ordered(self, h: _Harness) -> bool:
        return self.ordered if self.ordered is not None else h.cls.capabilities.ordering

    def _run(self, tmp_path: Path, role: str | None,
             body: Callable[[_Harness], Awaitable[None]], *,
             replay: bool = False) -> None:
        name = "test" + body.__name__
        reason = self.not_applicable.get(name)
        if reason:
            pytest.skip(f"not applicable to {self.connector_type}: {reason}")
        if role is not None and role not in self._roles():
            pytest.skip(f"{self.connector_type}: the {role} role is not exercised")
        if replay and not self.replayable:
            pytest.skip(f"{self.connector_type} is not replayable (replayable = False)")

        async def main() -> None:
            peer = await asyncio.wait_for(self.start_peer(tmp_path), self.timeout)
            _check(isinstance(peer, Peer), f"start_peer must return a Peer, got "
                                           f"{_short(peer)}")
            try:
                await body(_Harness(self, peer, tmp_path))
            finally:
                await asyncio.wait_for(peer.close(), self.timeout)

        asyncio.run(main())

    async def _attempts(self, h: _Harness, what: str,
                        attempt: Callable[[], Awaitable[bool]]) -> None:
        """Run ``attempt`` until it returns True; RetriableError (or False) allowed on
        every attempt but the last; any other error fails at once."""
        last: str = ""
        for n in range(1, self.reconnect_attempts + 1):
            try:
                if await attempt():
                    return
                last = "the expected data did not arrive"
            except RetriableError as exc:
                last = f"RetriableError: {exc}"
            except IntegratorError as exc:
                pytest.fail(f"{what}, attempt {n}: {exc.error_class}: {exc} — after a "
                            "restart only RetriableError is allowed", pytrace=False)
            except Exception as exc:  # a driver's exception leaked through
                pytest.fail(f"{what}, attempt {n}: {type(exc).__name__}: {exc} — drivers' "
                            "exceptions must be translated into integrator.errors",
                            pytrace=False)
            await asyncio.sleep(min(0.2 * n, 1.0))
        pytest.fail(f"{what}: no success in {self.reconnect_attempts} attempts; last: "
                    f"{last}", pytrace=False)

    # -- every connector -----------------------------------------------------------------

    def test_config_is_valid(self, tmp_path: Path) -> None:
        """The peer's options pass the connector's specs, as lint checks them."""
        self._run(tmp_path, None, self._config_is_valid)

    async def _config_is_valid(self, h: _Harness) -> None:
        cls, peer = h.cls, h.peer
        problems = [*cls.spec.check(peer.config), *cls.check_config(peer.config)]
        _check(not problems, "the connection options have problems: " + "; ".join(
            f"{p.key or '(block)'}: {p.message}" for p in problems))
        roles = self._roles()
        if "source" in roles:
            problems = cls.source_options.check(peer.source_options)
            _check(not problems, "source options: " + "; ".join(p.message for p in problems))
        if "sink" in roles:
            action = h.action()
            problems = cls.actions[action].options.check(peer.sink_options)
            _check(not problems, "sink options: " + "; ".join(p.message for p in problems))
        if "lookup" in roles:
            problems = cls.lookup_options.check(peer.lookup_options)
            _check(not problems, "lookup options: " + "; ".join(p.message for p in problems))

    def test_declares_its_roles(self, tmp_path: Path) -> None:
        """The roles exercised are implemented, and the class is fully declared."""
        self._run(tmp_path, None, self._declares_its_roles)

    async def _declares_its_roles(self, h: _Harness) -> None:
        cls = h.cls
        roles = self._roles()
        _check(bool(roles), "no role to exercise: set roles = ('source', ...)")
        missing = [r for r in roles if r not in cls.roles()]
        _check(not missing, f"roles {missing} are declared in the test but "
                            f"{cls.__name__} does not implement them")
        _check(bool(cls.type_name) and bool(cls.summary),
               f"{cls.__name__} needs type_name and summary")
        _check(isinstance(cls.capabilities, Capabilities), "capabilities must be a "
                                                            "Capabilities")
        if "sink" in cls.roles():
            _check(bool(cls.actions), f"{cls.__name__} is a sink without actions")
            _check(cls.default_action is None or cls.default_action in cls.actions,
                   f"default_action {cls.default_action!r} is not an action")

    def test_check_is_ok(self, tmp_path: Path) -> None:
        """``check()`` reaches the running peer and says ok."""
        self._run(tmp_path, None, self._check_is_ok)

    async def _check_is_ok(self, h: _Harness) -> None:
        result = await h.call(h.connector().check(), "check()")
        _check(isinstance(result, CheckResult), f"check() must return a CheckResult, got "
                                                f"{_short(result)}")
        _check(result.ok, f"check() answered {result.status}: {result.detail}")

    # -- sources -------------------------------------------------------------------------

    def test_source_open_close(self, tmp_path: Path) -> None:
        """Open and close, twice; a second close does nothing."""
        self._run(tmp_path, "source", self._source_open_close)

    async def _source_open_close(self, h: _Harness) -> None:
        for _ in range(2):
            source = h.source()
            await h.call(source.open(), "source open()")
            await h.call(source.close(), "source close()")
            await h.call(source.close(), "a second source close()")

    def test_source_reads_seeded_records(self, tmp_path: Path) -> None:
        """Seeded records come out once each, with meta and distinct ack tokens."""
        self._run(tmp_path, "source", self._source_reads_seeded_records)

    async def _source_reads_seeded_records(self, h: _Harness) -> None:
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed()")
        source = h.source()
        await h.call(source.open(), "source open()")
        try:
            got = await h.read(source, len(records))
        finally:
            await h.call(source.close(), "source close()")
        errors = [r.error for r in got if r.error is not None]
        _check(not errors, f"records came with errors: {_short(errors, 1000)}")
        h.same(records, [r.body for r in got], ordered=self._ordered(h),
               what="records read")
        tokens = [repr(r.ack) for r in got]
        _check(all(r.ack is not None for r in got), "every record needs an ack token")
        _check(len(set(tokens)) == len(tokens), f"ack tokens must be distinct: {tokens}")
        for r in got:
            _check(isinstance(r.meta, dict) and all(isinstance(k, str) for k in r.meta),
                   f"meta must be a dict with text keys, got {_short(r.meta)}")
            missing = [k for k in h.peer.meta_keys if k not in r.meta]
            _check(not missing, f"meta {_short(r.meta)} lacks {missing}")

    def test_source_ack_then_reopen_is_not_redelivered(self, tmp_path: Path) -> None:
        """Acknowledged records (acked out of order) are not read again after a reopen;
        records added since are."""
        self._run(tmp_path, "source", self._source_ack_then_reopen_is_not_redelivered)

    async def _source_ack_then_reopen_is_not_redelivered(self, h: _Harness) -> None:
        first = self.make_records(self.record_count)
        await h.call(h.peer.seed(first), "seed()")
        source = h.source()
        await h.call(source.open(), "source open()")
        try:
            got = await h.read(source, len(first))
            h.same(first, [r.body for r in got], ordered=False, what="first read")
            tokens = [r.ack for r in got]
            half = len(tokens) // 2
            await h.call(source.ack(tokens[half:]), "ack() of the second half")
            await h.call(source.ack(tokens[:half]), "ack() of the first half")
        finally:
            await h.call(source.close(), "source close()")
        later = self.make_records(2, start=self.record_count)
        await h.call(h.peer.seed(later), "seed()")
        source = h.source()
        await h.call(source.open(), "source open() after the restart")
        try:
            again = await h.read(source, len(later))
        finally:
            await h.call(source.close(), "source close()")
        h.same(later, [r.body for r in again], ordered=self._ordered(h),
               what="after acknowledging everything and reopening, only the new records")

    def test_source_unacked_records_are_redelivered(self, tmp_path: Path) -> None:
        """Records read but never acknowledged come again after a reopen."""
        self._run(tmp_path, "source", self._source_unacked_records_are_redelivered,
                  replay=True)

    async def _source_unacked_records_are_redelivered(self, h: _Harness) -> None:
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed()")
        source = h.source()
        await h.call(source.open(), "source open()")
        try:
            got = await h.read(source, len(records))
        finally:
            await h.call(source.close(), "source close()")
        h.same(records, [r.body for r in got], ordered=False, what="first read")
        source = h.source()
        await h.call(source.open(), "source open() after the restart")
        try:
            again = await h.read(source, len(records))
        finally:
            await h.call(source.close(), "source close()")
        h.same(records, [r.body for r in again], ordered=False,
               what="unacknowledged records after a reopen (at-least-once)")

    def test_source_partial_ack_resumes_after_the_acked(self, tmp_path: Path) -> None:
        """Acknowledge the first records read: after a reopen exactly the rest come."""
        self._run(tmp_path, "source", self._source_partial_ack_resumes_after_the_acked,
                  replay=True)

    async def _source_partial_ack_resumes_after_the_acked(self, h: _Harness) -> None:
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed()")
        source = h.source()
        await h.call(source.open(), "source open()")
        try:
            got = await h.read(source, len(records))
            half = len(got) // 2
            await h.call(source.ack([r.ack for r in got[:half]]), "ack()")
        finally:
            await h.call(source.close(), "source close()")
        rest = [r.body for r in got[half:]]
        source = h.source()
        await h.call(source.open(), "source open() after the restart")
        try:
            again = await h.read(source, len(rest))
        finally:
            await h.call(source.close(), "source close()")
        h.same(rest, [r.body for r in again], ordered=False,
               what="after acknowledging the first half, a reopen delivers the rest")

    def test_source_reconnects_after_restart(self, tmp_path: Path) -> None:
        """After the peer restarts, reading works again within a few attempts."""
        self._run(tmp_path, "source", self._source_reconnects_after_restart)

    async def _source_reconnects_after_restart(self, h: _Harness) -> None:
        before = h.source()
        await h.call(before.open(), "source open()")
        await h.call(h.peer.restart(), "peer restart()")
        try:
            await h.call(before.close(), "closing a source whose peer restarted")
        except IntegratorError:
            pass  # it may say the connection was lost; it must not leak a driver error
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed() after the restart")

        async def attempt() -> bool:
            source = h.source()
            try:
                await h.call(source.open(), "source open()")
                got = await h.read(source, len(records))
            finally:
                try:
                    await h.call(source.close(), "source close()")
                except IntegratorError:
                    pass
            h.same(records, [r.body for r in got if r.error is None], ordered=False,
                   what="records read after the restart", allow_duplicates=True)
            return True

        await self._attempts(h, "reading after the peer restarted", attempt)

    # -- sinks ---------------------------------------------------------------------------

    def test_sink_open_close(self, tmp_path: Path) -> None:
        """Open and close (twice: the second does nothing); open and abort."""
        self._run(tmp_path, "sink", self._sink_open_close)

    async def _sink_open_close(self, h: _Harness) -> None:
        sink = h.sink()
        await h.call(sink.open(), "sink open()")
        await h.call(sink.close(), "sink close()")
        await h.call(sink.close(), "a second sink close()")
        sink = h.sink()
        await h.call(sink.open(), "sink open()")
        await h.call(sink.abort(), "sink abort()")

    def test_sink_writes_batches(self, tmp_path: Path) -> None:
        """Batches of several sizes; ``written()`` holds every payload once (in order
        when the connector declares ordering)."""
        self._run(tmp_path, "sink", self._sink_writes_batches)

    async def _sink_writes_batches(self, h: _Harness) -> None:
        payloads = self.make_records(6)
        sink = h.sink()
        await h.call(sink.open(), "sink open()")
        try:
            for part in (payloads[:1], payloads[1:4], payloads[4:]):
                results = await h.write(sink, part)
                failed = [(p, r) for p, r in zip(part, results, strict=True) if r]
                _check(not failed, f"deliveries failed: {_short(failed, 1000)}")
        except BaseException:
            await h.call(sink.abort(), "sink abort()")
            raise
        await h.call(sink.close(), "sink close()")
        written = await h.call(h.peer.written(), "peer written()")
        h.same(payloads, written, ordered=self._ordered(h), what="payloads written")

    def test_sink_results_have_one_entry_per_delivery(self, tmp_path: Path) -> None:
        """A payload the peer refuses fails alone, as a permanent MessageError; the
        deliveries around it are written."""
        self._run(tmp_path, "sink", self._sink_results_have_one_entry_per_delivery)

    async def _sink_results_have_one_entry_per_delivery(self, h: _Harness) -> None:
        bad = h.peer.bad_payload
        if bad is None:
            pytest.skip("the peer names no bad_payload")
        good = self.make_records(2)
        sink = h.sink()
        await h.call(sink.open(), "sink open()")
        deliveries = [Delivery(p, Message(p, h.ids)) for p in (good[0], bad, good[1])]
        try:
            results = await h.call(sink.write_batch(deliveries), "write_batch()")
        except IntegratorError as exc:
            await h.call(sink.abort(), "sink abort()")
            pytest.fail(f"write_batch raised {exc.error_class} for the whole batch; one "
                        "bad payload must fail alone (return a list of results)",
                        pytrace=False)
        _check(isinstance(results, list) and len(results) == 3,
               f"expected a list of 3 results, got {_short(results)}")
        assert isinstance(results, list)
        _check(results[0] is None and results[2] is None,
               f"the good deliveries failed: {_short(results)}")
        error = results[1]
        _check(isinstance(error, MessageError),
               f"the bad payload must get a MessageError (RejectedError: permanent), got "
               f"{_short(error)}")
        await h.call(sink.close(), "sink close()")
        written = await h.call(h.peer.written(), "peer written()")
        h.same(good, written, ordered=self._ordered(h), what="payloads written")

    def test_sink_reconnects_after_restart(self, tmp_path: Path) -> None:
        """The same open sink writes again after the peer restarts, within a few
        attempts (RetriableError allowed before that)."""
        self._run(tmp_path, "sink", self._sink_reconnects_after_restart)

    async def _sink_reconnects_after_restart(self, h: _Harness) -> None:
        payloads = self.make_records(4)
        sink = h.sink()
        await h.call(sink.open(), "sink open()")
        results = await h.write(sink, payloads[:2])
        _check(not any(results), f"writing before the restart failed: {_short(results)}")
        await h.call(h.peer.restart(), "peer restart()")
        todo = list(payloads[2:])

        async def attempt() -> bool:
            nonlocal todo
            results = await h.write(sink, todo)
            fatal = [r for r in results if isinstance(r, FatalError | MessageError)]
            if fatal:
                pytest.fail(f"after a restart a write answered {_short(fatal)}; only "
                            "RetriableError is allowed", pytrace=False)
            todo = [p for p, r in zip(todo, results, strict=True) if r is not None]
            return not todo

        try:
            await self._attempts(h, "writing after the peer restarted", attempt)
        except BaseException:
            await h.call(sink.abort(), "sink abort()")
            raise
        await h.call(sink.close(), "sink close()")
        written = await h.call(h.peer.written(), "peer written()")
        h.same(payloads, written, ordered=False, what="payloads written across a restart",
               allow_duplicates=True)

    # -- lookups -------------------------------------------------------------------------

    def test_lookup_finds_seeded_keys(self, tmp_path: Path) -> None:
        """Seeded keys are found with their records; an unknown key is absent."""
        self._run(tmp_path, "lookup", self._lookup_finds_seeded_keys)

    async def _lookup_finds_seeded_keys(self, h: _Harness) -> None:
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed()")
        key = h.peer.lookup_key
        lookup = h.lookup()
        await h.call(lookup.open(), "lookup open()")
        try:
            wanted = [r[key] for r in records[:3]]
            found = await h.call(lookup.get_many([*wanted, MISSING_KEY]), "get_many()")
            _check(isinstance(found, Mapping), f"get_many must return a mapping, got "
                                               f"{_short(found)}")
            for record in records[:3]:
                k = record[key]
                _check(k in found, f"key {k!r} was seeded but not found: {_short(found)}")
                _check(h.peer.matches(record, found[k]),
                       f"key {k!r}: expected {_short(record)}, got {_short(found[k])}")
            _check(MISSING_KEY not in found, "an unknown key must be absent from the "
                                             f"answer, got {_short(found.get(MISSING_KEY))}")
            empty = await h.call(lookup.get_many([]), "get_many([])")
            _check(len(empty) == 0, f"get_many([]) must be empty, got {_short(empty)}")
        finally:
            await h.call(lookup.close(), "lookup close()")

    def test_lookup_reconnects_after_restart(self, tmp_path: Path) -> None:
        """An open lookup answers again after the peer restarts, within a few attempts."""
        self._run(tmp_path, "lookup", self._lookup_reconnects_after_restart)

    async def _lookup_reconnects_after_restart(self, h: _Harness) -> None:
        records = self.make_records(self.record_count)
        await h.call(h.peer.seed(records), "seed()")
        key = h.peer.lookup_key
        lookup = h.lookup()
        await h.call(lookup.open(), "lookup open()")
        try:
            await h.call(h.peer.restart(), "peer restart()")
            k = records[0][key]

            async def attempt() -> bool:
                found = await h.call(lookup.get_many([k]), "get_many()")
                return k in found and h.peer.matches(records[0], found[k])

            await self._attempts(h, "a lookup after the peer restarted", attempt)
        finally:
            try:
                await h.call(lookup.close(), "lookup close()")
            except IntegratorError:
                pass
