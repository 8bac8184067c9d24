"""The ``memory`` connector: in-process channels, a real implementation tests rely on.

Datasheet
    roles       source, sink (action ``write``), lookup
    source      the ``records`` given in the flow, then anything already in the channel
    sink        appends payloads to the channel, in order
    lookup      ``records`` indexed by the lookup option ``key``
    guarantees  acks are recorded per channel (``MemoryHub.acked``) when the engine gives
                them, so tests can prove acknowledgement comes after delivery

Channels live in a :class:`MemoryHub` held by the run's ``Runtime.resources``; a test
passes its own hub to the engine and reads it afterwards. ``reject_when`` (a JMESPath
condition on the payload) makes the sink refuse matching deliveries permanently, and
``delay`` slows every write — both exercise the engine's error and back-pressure paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Lookup,
    Progress,
    Record,
    Sink,
    Source,
)
from integrator.connectors.spec import Config, ConfigSpec, Option
from integrator.errors import IntegratorError, RejectedError
from integrator.mapping.jmespath import compile_expression, is_truthy

__all__ = ["MemoryConnector", "MemoryHub"]

HUB_RESOURCE = "memory"


@dataclass
class MemoryHub:
    """Named channels of payloads, and the ack tokens each source channel received."""

    channels: dict[str, list[Any]] = field(default_factory=dict)
    acked: dict[str, list[Any]] = field(default_factory=dict)

    def channel(self, name: str) -> list[Any]:
        return self.channels.setdefault(name, [])


class _MemorySource(Source):
    def __init__(self, records: list[Any], hub: MemoryHub, channel: str, batch: int) -> None:
        self.records = records
        self.hub = hub
        self.channel = channel
        self.batch = batch
        self._stop = False
        self._done = 0

    async def batches(self) -> AsyncIterator[list[Record]]:
        for start in range(0, len(self.records), self.batch):
            if self._stop:
                return
            chunk = self.records[start:start + self.batch]
            yield [Record(body, {"channel": self.channel, "index": start + i}, start + i)
                   for i, body in enumerate(chunk)]
            self._done = start + len(chunk)
            await asyncio.sleep(0)

    async def ack(self, tokens: Sequence[Any]) -> None:
        self.hub.acked.setdefault(self.channel, []).extend(tokens)

    def stop(self) -> None:
        self._stop = True

    def progress(self) -> Progress:
        return Progress(self._done, len(self.records))


class _MemorySink(Sink):
    def __init__(self, hub: MemoryHub, channel: str, reject: Any, delay: float) -> None:
        self.hub = hub
        self.channel = channel
        self.reject = reject
        self.delay = delay

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        out = self.hub.channel(self.channel)
        if self.reject is None:
            out.extend(d.payload for d in deliveries)
            return None
        results: list[IntegratorError | None] = []
        for d in deliveries:
            if is_truthy(self.reject.search(d.payload)):
                results.append(RejectedError(
                    f"memory sink {self.channel!r} rejected the payload "
                    f"(reject_when {self.reject.source!r})"))
            else:
                out.append(d.payload)
                results.append(None)
        return results


class _MemoryLookup(Lookup):
    def __init__(self, records: list[Any], key: str) -> None:
        self.index = {str(r.get(key)): r for r in records if isinstance(r, dict)}

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        return {k: self.index[str(k)] for k in keys if str(k) in self.index}


class MemoryConnector(Connector):
    type_name = "memory"
    summary = "In-process channels: inline records as a source, payloads collected by sinks."
    spec = ConfigSpec((
        Option("records", "any", "Records to read as a source or to answer lookups from.",
               default=None, examples=([{"id": 1}],)),
        Option("channel", "string", "Channel name shared by sources and sinks in one "
               "process; defaults to the connection name.", default=None),
        Option("batch_size", "integer", "Records per batch when reading.", default=100,
               minimum=1),
    ))
    source_options = ConfigSpec()
    lookup_options = ConfigSpec((
        Option("key", "string", "The record field lookups match.", required=True,
               examples=("sku",)),
    ))
    actions = {
        "write": Action(
            "Append each payload to the channel.",
            ConfigSpec((
                Option("reject_when", "string", "JMESPath condition on the payload: "
                       "matching deliveries are rejected permanently (for tests).",
                       default=None),
                Option("delay", "duration", "Wait this long in every write (for tests).",
                       default=0),
            )),
        ),
    }
    default_action = "write"
    capabilities = Capabilities(batching=True, ordering=True)

    async def check(self) -> CheckResult:
        return CheckResult("ok", f"in-process channel {self.channel_name!r}")

    def _hub(self) -> MemoryHub:
        hub = self.runtime.resources.get(HUB_RESOURCE)
        if hub is None:
            hub = self.runtime.resources[HUB_RESOURCE] = MemoryHub()
        assert isinstance(hub, MemoryHub)
        return hub

    @property
    def channel_name(self) -> str:
        return self.config.channel or self.name

    def _records(self) -> list[Any]:
        records = self.config.records
        if records is None:
            return []
        if not isinstance(records, list):
            from integrator.errors import FatalError

            raise FatalError(f"connection {self.name!r}: records must be a list")
        return records

    def source(self, options: Config) -> Source:
        hub = self._hub()
        records = [*self._records(), *hub.channel(self.channel_name)]
        return _MemorySource(records, hub, self.channel_name, self.config.batch_size)

    def sink(self, action: str, options: Config) -> Sink:
        reject = compile_expression(options.reject_when) if options.reject_when else None
        return _MemorySink(self._hub(), self.channel_name, reject, options.delay or 0.0)

    def lookup(self, options: Config) -> Lookup:
        return _MemoryLookup(self._records(), options.key)
