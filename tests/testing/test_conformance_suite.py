"""The conformance suite catches broken connectors, and lets correct ones pass.

A small connector with switchable flaws (``flaw:`` option) plays the third-party
author: each flaw must make exactly the check that guards against it fail, with a
message that says what went wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Lookup,
    Record,
    Sink,
    Source,
)
from integrator.connectors.spec import Config, ConfigSpec, Option
from integrator.errors import IntegratorError, RejectedError, RetriableError
from integrator.testing import ConnectorConformance, Peer


@dataclass
class ToyStore:
    records: list[dict[str, Any]] = field(default_factory=list)
    written: list[Any] = field(default_factory=list)
    restarted: bool = False
    retriable_answers: int = 0


class ToySource(Source):
    def __init__(self, connector: ToyConnector) -> None:
        self.c = connector
        self.store: ToyStore = connector.runtime.resources["toy"]
        self.flaw = connector.config.flaw
        self.start = 0
        self.acked: set[int] = set()

    async def open(self) -> None:
        self.start = await self.c.state.get("committed", 0)

    async def batches(self) -> AsyncIterator[list[Record]]:
        records = self.store.records[self.start:]
        yield [Record(dict(r), {"n": i}, 0 if self.flaw == "dup-tokens" else i)
               for i, r in enumerate(records, start=self.start)]

    async def ack(self, tokens: Sequence[Any]) -> None:
        if self.flaw == "no-commit":
            return
        self.acked.update(tokens)
        committed = self.start
        while committed in self.acked:
            committed += 1
        await self.c.state.put("committed", committed)


class ToySink(Sink):
    def __init__(self, connector: ToyConnector) -> None:
        self.store: ToyStore = connector.runtime.resources["toy"]
        self.flaw = connector.config.flaw

    async def write_batch(self, deliveries: Sequence[Delivery]
                          ) -> list[IntegratorError | None] | None:
        store = self.store
        if store.restarted and self.flaw == "leaks-driver-errors":
            raise ConnectionResetError("connection reset by peer")
        if store.retriable_answers:
            store.retriable_answers -= 1
            raise RetriableError("toy peer is starting")
        if self.flaw == "rejects-whole-batch" and any("bad" in d.payload for d in deliveries):
            raise RejectedError("a bad payload")
        results: list[IntegratorError | None] = []
        for i, d in enumerate(deliveries):
            if "bad" in d.payload:
                results.append(RejectedError("bad payload"))
                continue
            if not (self.flaw == "lossy" and i == 1):
                store.written.append(d.payload)
            results.append(None)
        return results


class ToyLookup(Lookup):
    def __init__(self, connector: ToyConnector) -> None:
        self.store: ToyStore = connector.runtime.resources["toy"]
        self.flaw = connector.config.flaw

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        index = {r["id"]: r for r in self.store.records}
        if self.flaw == "phantom-keys":
            return {k: index.get(k, {}) for k in keys}
        return {k: index[k] for k in keys if k in index}


class ToyConnector(Connector):
    type_name = "toy"
    summary = "A connector with switchable flaws."
    spec = ConfigSpec((Option("flaw", "string", "Which contract to break.", default=""),))
    lookup_options = ConfigSpec((Option("key", "string", "Key field.", default="id"),))
    actions = {"write": Action("Append.")}
    default_action = "write"
    capabilities = Capabilities(ordering=True)

    async def check(self) -> CheckResult:
        if self.config.flaw == "check-fails":
            return CheckResult("unreachable", "toy peer down")
        return CheckResult("ok", "toy")

    def source(self, options: Config) -> Source:
        return ToySource(self)

    def sink(self, action: str, options: Config) -> Sink:
        return ToySink(self)

    def lookup(self, options: Config) -> Lookup:
        return ToyLookup(self)


class ToyPeer(Peer):
    def __init__(self, flaw: str, retriable_answers: int = 0) -> None:
        self.store = ToyStore(retriable_answers=0)
        self.retriable_after_restart = retriable_answers
        super().__init__({"flaw": flaw}, resources={"toy": self.store},
                         bad_payload={"id": "x", "bad": True})

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.store.records.extend(dict(r) for r in records)

    async def written(self) -> list[Any]:
        return list(self.store.written)

    async def restart(self) -> None:
        self.store.restarted = True
        self.store.retriable_answers = self.retriable_after_restart


def suite(flaw: str = "", retriable_after_restart: int = 0,
          **attributes: Any) -> type[ConnectorConformance]:
    async def start_peer(self: ConnectorConformance, tmp_path: Path) -> Peer:
        return ToyPeer(flaw, retriable_after_restart)

    namespace = {"connector_type": "toy", "connector_class": ToyConnector,
                 "roles": ("source", "sink", "lookup"), "start_peer": start_peer,
                 **attributes}
    return type(f"Toy_{flaw or 'sound'}", (ConnectorConformance,), namespace)


def run(cls: type[ConnectorConformance], test: str, tmp_path: Path) -> None:
    getattr(cls(), test)(tmp_path)


def failure(cls: type[ConnectorConformance], test: str, tmp_path: Path) -> str:
    with pytest.raises(pytest.fail.Exception) as info:
        run(cls, test, tmp_path)
    return str(info.value)


ALL_TESTS = sorted(n for n in dir(ConnectorConformance) if n.startswith("test_"))


# ------------------------------------------------------------------------ sound passes

@pytest.mark.parametrize("test", ALL_TESTS)
def test_a_sound_connector_passes_every_check(test: str, tmp_path: Path) -> None:
    run(suite(), test, tmp_path)


def test_a_retriable_error_after_restart_is_allowed_before_the_last_attempt(
        tmp_path: Path) -> None:
    run(suite(retriable_after_restart=2), "test_sink_reconnects_after_restart", tmp_path)


def test_retriable_errors_on_every_attempt_fail(tmp_path: Path) -> None:
    cls = suite(retriable_after_restart=10, reconnect_attempts=3)
    message = failure(cls, "test_sink_reconnects_after_restart", tmp_path)
    assert "no success in 3 attempts" in message
    assert "RetriableError: toy peer is starting" in message


# ------------------------------------------------------------------- flaws are caught

def test_a_lossy_sink_fails_the_write_check(tmp_path: Path) -> None:
    message = failure(suite("lossy"), "test_sink_writes_batches", tmp_path)
    assert message.startswith("payloads written: expected, in order")
    assert "'rec-2'" in message  # the one dropped from the batch of three


def test_duplicate_ack_tokens_fail_the_read_check(tmp_path: Path) -> None:
    message = failure(suite("dup-tokens"), "test_source_reads_seeded_records", tmp_path)
    assert message.startswith("ack tokens must be distinct")


def test_a_source_that_forgets_acks_fails_the_resume_checks(tmp_path: Path) -> None:
    cls = suite("no-commit")
    message = failure(cls, "test_source_ack_then_reopen_is_not_redelivered", tmp_path)
    assert "only the new records" in message
    got = message.split("\ngot\n", 1)[1]
    assert "'rec-0'" in got and "'rec-4'" in got  # the acknowledged ones came again
    message = failure(cls, "test_source_partial_ack_resumes_after_the_acked",
                      tmp_path / "second")
    assert "the first half" in message


def test_a_driver_exception_after_restart_fails_with_the_translation_rule(
        tmp_path: Path) -> None:
    message = failure(suite("leaks-driver-errors"), "test_sink_reconnects_after_restart",
                      tmp_path)
    assert "ConnectionResetError: connection reset by peer" in message
    assert "must be translated into integrator.errors" in message


def test_rejecting_the_whole_batch_for_one_bad_payload_fails(tmp_path: Path) -> None:
    message = failure(suite("rejects-whole-batch"),
                      "test_sink_results_have_one_entry_per_delivery", tmp_path)
    assert "one bad payload must fail alone" in message


def test_a_lookup_that_answers_unknown_keys_fails(tmp_path: Path) -> None:
    message = failure(suite("phantom-keys"), "test_lookup_finds_seeded_keys", tmp_path)
    assert message.startswith("an unknown key must be absent")


def test_a_failing_check_fails(tmp_path: Path) -> None:
    message = failure(suite("check-fails"), "test_check_is_ok", tmp_path)
    assert message == "check() answered unreachable: toy peer down"


def test_bad_peer_options_fail_the_config_check(tmp_path: Path) -> None:
    class Misspelled(ToyPeer):
        def __init__(self) -> None:
            super().__init__("")
            self.config["flaww"] = "x"

    async def start_peer(self: ConnectorConformance, tmp_path: Path) -> Peer:
        return Misspelled()

    cls = suite(start_peer=start_peer)
    message = failure(cls, "test_config_is_valid", tmp_path)
    assert message.startswith("the connection options have problems: flaww: unknown "
                              "option 'flaww'")


# --------------------------------------------------------------- declaring the class

def test_tests_of_roles_not_exercised_are_not_collected() -> None:
    cls = suite(roles=("sink",))
    assert cls.test_source_reads_seeded_records is None  # type: ignore[comparison-overlap]
    assert cls.test_lookup_finds_seeded_keys is None  # type: ignore[comparison-overlap]
    assert callable(cls.test_sink_writes_batches)
    assert callable(cls.test_check_is_ok)
    # the base class keeps every test for the next subclass
    assert callable(ConnectorConformance.test_source_reads_seeded_records)


def test_not_applicable_skips_with_its_reason(tmp_path: Path) -> None:
    cls = suite("no-commit", not_applicable={
        "test_source_ack_then_reopen_is_not_redelivered": "no state yet"})
    with pytest.raises(pytest.skip.Exception) as info:
        run(cls, "test_source_ack_then_reopen_is_not_redelivered", tmp_path)
    assert str(info.value) == "not applicable to toy: no state yet"


def test_not_replayable_skips_the_redelivery_checks(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        run(suite(replayable=False), "test_source_unacked_records_are_redelivered", tmp_path)
    assert "not replayable" in str(info.value)


def test_a_misspelled_not_applicable_name_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown tests"):
        suite(not_applicable={"test_source_ack_then_reopen": "typo"})


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown roles"):
        suite(roles=("sauce",))


def test_declared_roles_must_be_implemented(tmp_path: Path) -> None:
    class SinkOnly(ToyConnector):
        source = Connector.source  # type: ignore[assignment]

    cls = suite(connector_class=SinkOnly)
    message = failure(cls, "test_declares_its_roles", tmp_path)
    assert message.startswith("roles ['source'] are declared in the test but SinkOnly")
