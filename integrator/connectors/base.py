"""Connector contracts: what a connector is, and what the engine does with each answer.

A **connector** is a class for one protocol or product (``file``, ``memory``, ``http``
...). A flow's ``connections:`` block makes instances of it, one per named connection,
each with its parsed :class:`~integrator.connectors.spec.Config`. A connector plays one or
more **roles**, each a small object it hands out:

* :class:`Source` — produces :class:`Record` batches and takes acknowledgements.
* :class:`Sink` — writes batches of :class:`Delivery` for one declared action.
* :class:`Lookup` — answers key lookups for ``enrich`` steps.

Errors: every method below raises only errors from :mod:`integrator.errors`. Drivers'
exceptions are translated here, at the boundary. A connector never retries on its own;
the engine decides what happens next, as each method's docstring says.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from integrator.connectors.spec import Config, ConfigSpec, OptionProblem
from integrator.connectors.state import MemoryStateStore, StateStore
from integrator.errors import IntegratorError

if TYPE_CHECKING:
    from integrator.message import Message
    from integrator.security.secrets import Redactor

__all__ = [
    "Action",
    "Capabilities",
    "CheckResult",
    "Connector",
    "Delivery",
    "Lookup",
    "Progress",
    "Record",
    "Runtime",
    "Sink",
    "Source",
]


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do, declared once; lint and the engine read it."""

    batching: bool = False
    idempotency_keys: bool = False
    upsert: bool = False
    ordering: bool = False
    max_concurrency: int | None = None  # None: the sink's ``concurrency`` option decides


@dataclass(frozen=True)
class Action:
    """A sink action (``write``, ``upsert``, ``create_order`` ...) and its options.

    ``max_batch`` caps how many deliveries one ``write_batch`` call gets: an action that
    sends one request per delivery says 1, so the sink's ``concurrency`` workers each
    take one delivery and the requests really run in parallel.
    """

    description: str
    options: ConfigSpec = field(default_factory=ConfigSpec)
    max_batch: int | None = None


@dataclass
class Runtime:
    """What a connector may use from the run around it.

    ``workdir`` is where relative paths resolve; ``state_dir`` is a gitignored folder for
    files the connector keeps between runs; ``state`` stores small JSON values
    (watermarks, cursors) durably — each connector sees it scoped to its connection as
    ``Connector.state``; ``resources`` holds shared in-process objects (the memory
    connector's channels live there, not in a module global).
    """

    flow: str
    workdir: Path
    state_dir: Path
    redactor: Redactor
    resources: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("integrator"))
    state: StateStore = field(default_factory=MemoryStateStore)
    dry_run: bool = False
    """A dry run writes nothing and acknowledges nothing: sources must not change the
    world either (no claiming, moving or deleting of input)."""


@dataclass(frozen=True)
class CheckResult:
    """What ``integrator check`` reports for one connection.

    ``status``: ``ok`` (reachable and, where it applies, authenticated), ``unreachable``
    (network, DNS, refused, timeout), ``auth-failed`` (credentials refused),
    ``misconfigured`` (the peer answered, but not as configured: missing file, unknown
    table, wrong WSDL), ``skipped`` (nothing to check). ``detail`` says what was tried.
    """

    status: str
    detail: str = ""
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


@dataclass(slots=True)
class Record:
    """One item read from a source.

    ``body`` is the decoded document; ``meta`` says where it came from (file and line,
    headers, topic); ``ack`` is whatever the source needs to acknowledge it later.
    A record that could not be decoded carries ``error`` (a MessageError with its place)
    and ``body`` None: the engine sends it down the error path and the run goes on.
    """

    body: Any
    meta: dict[str, Any] = field(default_factory=dict)
    ack: Any = None
    error: IntegratorError | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a finite source has come, in its own unit (records or bytes)."""

    done: int
    total: int | None
    unit: str = "records"


@dataclass(slots=True)
class Delivery:
    """One payload for one sink, and the message it belongs to."""

    payload: Any
    message: Message


class Source:
    """Produces records in batches.

    Lifecycle: ``open`` → iterate ``batches`` → ``ack`` many times → ``close``.

    Contract:
        ``open`` may raise FatalError (cannot start: missing file, auth refused) — the run
        stops — or RetriableError (peer down) — the engine waits and tries again.
        ``batches`` yields lists of :class:`Record`; a finite source ends the iteration at
        end of input. A single bad record is a Record with ``error`` set, not an exception.
        ``ack`` is called with the ``ack`` tokens of records whose every delivery has
        finished (written or dead-lettered) — never earlier. Tokens may arrive out of
        order. A source that can replay (files, brokers) commits only what is acked.
        ``stop`` asks the source to end ``batches`` soon (graceful shutdown); it must not
        block.
    """

    finite: ClassVar[bool] = True

    async def open(self) -> None:
        return None

    def batches(self) -> AsyncIterator[list[Record]]:
        raise NotImplementedError

    async def ack(self, tokens: Sequence[Any]) -> None:
        return None

    def stop(self) -> None:
        return None

    def progress(self) -> Progress | None:
        return None

    async def close(self) -> None:
        return None


class Sink:
    """Writes deliveries for one action of one connection.

    Contract:
        ``write_batch`` receives deliveries in the order the engine produced them. It
        returns None when all succeeded, or a list with one entry per delivery: None for
        success or the error for that delivery (RejectedError: permanent, the message is
        dead-lettered; RetriableError: temporary). Raising instead means the whole batch
        failed with that error. FatalError stops the run.
        ``close`` flushes and releases; after it returns, everything written is durable
        and complete (a file sink renames its temporary file into place here).
        ``abort`` is called instead of ``close`` when the run failed: release resources
        but do not present partial output as complete.
    """

    async def open(self) -> None:
        return None

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def abort(self) -> None:
        await self.close()


class Lookup:
    """Answers lookups for ``enrich`` steps.

    ``get_many`` returns a mapping with an entry for every key found; missing keys are
    simply absent. A key whose lookup failed on its own (one country's service down, one
    record refused) may map to the IntegratorError instead: only the messages with that
    key fail. Raises RetriableError when the backing system is unreachable altogether.
    """

    async def open(self) -> None:
        return None

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class Connector:
    """Base class of every connector type.

    Subclasses set the class attributes below and override the role factories they
    support. The constructor must not do I/O; connecting happens in the roles' ``open``.
    """

    type_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    spec: ClassVar[ConfigSpec] = ConfigSpec()
    source_options: ClassVar[ConfigSpec] = ConfigSpec()
    lookup_options: ClassVar[ConfigSpec] = ConfigSpec()
    actions: ClassVar[Mapping[str, Action]] = {}
    default_action: ClassVar[str | None] = None
    capabilities: ClassVar[Capabilities] = Capabilities()
    examples: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, config: Config, runtime: Runtime) -> None:
        self.name = name
        self.config = config
        self.runtime = runtime
        self.state = runtime.state.scoped(name)

    async def check(self) -> CheckResult:
        """Connect and verify access (authentication included) without moving data.

        Called by ``integrator check``; must not raise for an unreachable peer or
        refused credentials — it reports them. Bounded in time by the caller.
        """
        return CheckResult("skipped", f"{self.type_name} has no check")

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        """Problems that involve several options at once (lint calls it after the spec
        accepted each option on its own). ``OptionProblem.key`` names the option to point
        at, or None for the whole block."""
        return []

    @classmethod
    def check_role_options(cls, role: str, raw: Mapping[str, Any],
                           action: str | None = None) -> list[OptionProblem]:
        """Like :meth:`check_config`, for a source's, a lookup's or a sink action's
        options (``role`` is ``source``, ``lookup`` or ``sink``; ``action`` names the sink
        action). ``raw`` holds only what the flow gave; the connection's config is
        ``cls.check_config``'s business."""
        return []

    @classmethod
    def roles(cls) -> list[str]:
        out = []
        if cls.source is not Connector.source:
            out.append("source")
        if cls.sink is not Connector.sink:
            out.append("sink")
        if cls.lookup is not Connector.lookup:
            out.append("lookup")
        return out

    def source(self, options: Config) -> Source:
        """A Source for this connection; ``options`` follow ``source_options``."""
        raise NotImplementedError(f"connector {self.type_name!r} cannot be a source")

    def sink(self, action: str, options: Config) -> Sink:
        """A Sink for ``action``; ``options`` follow that action's options spec."""
        raise NotImplementedError(f"connector {self.type_name!r} cannot be a sink")

    def lookup(self, options: Config) -> Lookup:
        """A Lookup for enrich steps; ``options`` follow ``lookup_options``."""
        raise NotImplementedError(f"connector {self.type_name!r} cannot answer lookups")
