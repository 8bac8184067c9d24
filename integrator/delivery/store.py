"""The store: where a run keeps what must survive a crash.

::

    source ─▶ journal (messages: pending) ─ack─▶ source
                  │ steps
                  ▼
              deliveries (queued) ──write──▶ sink
                  │ done: ledger (idempotency keys)   │ permanent / exhausted
                  ▼                                    ▼
              message finished (removed)          dead letters (replayable)

Every method is one transaction: when it returns, what it wrote is durable (or the call
raised and nothing of it was written). Callers batch: one call per batch of messages or
deliveries is the group commit that keeps a durable run fast.

The interface is deliberately small so that the embedded SQLite store, the in-memory
store of the tests and a shared PostgreSQL store for several machines can stand behind
the same engine. Payloads are opaque ``bytes`` to the store (the engine encodes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuditEntry",
    "DeadLetterFilter",
    "DeadLetterRow",
    "DeliveryOutcome",
    "DeliveryRow",
    "JournalEntry",
    "SagaRow",
    "Store",
    "StoreStatus",
]


@dataclass
class JournalEntry:
    """A message as it came from the source (or from a replay).

    ``id`` is unique across runs and machines (the engine makes it). ``step`` is where
    processing starts: 0 for new messages, the failed step for a replay. ``vars`` are the
    named documents a replayed message carried at that step.
    """

    id: str
    flow: str
    body: bytes
    meta: bytes = b"{}"
    keys: bytes = b"{}"
    vars: bytes = b"{}"
    step: int = 0
    correlation_id: str | None = None
    received_at: float = 0.0


@dataclass
class DeliveryRow:
    """One payload for one sink, queued until written, dead-lettered or skipped.

    ``key`` orders deliveries (same key → in order); ``idempotency_key`` is what the
    ledger and the target dedupe on. ``history`` lists earlier attempts as dicts
    ``{"at", "error_class", "error", "status"}``.
    """

    id: int | None
    flow: str
    message_id: str
    sink: str
    payload: bytes
    idempotency_key: str | None = None
    key: str | None = None
    attempts: int = 0
    next_at: float = 0.0
    first_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeliveryOutcome:
    """What happened to one delivery: ``done``, ``retry`` (at ``next_at``), ``dead``.

    ``letter`` accompanies ``dead``; ``ledger`` says whether a ``done`` delivery's
    idempotency key goes into the ledger (not when it was skipped as already applied).
    """

    delivery_id: int
    status: str
    next_at: float = 0.0
    attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    letter: DeadLetterRow | None = None


@dataclass
class DeadLetterRow:
    """A failed message or delivery, with everything needed to fix and replay it."""

    id: int | None
    flow: str
    flow_version: str
    step: str
    step_index: int | None
    sink: str | None
    message_id: str
    correlation_id: str | None
    keys: dict[str, Any]
    error_class: str
    error: str
    hint: str | None
    context: dict[str, Any]
    original: bytes
    payload: bytes
    vars: bytes
    meta: dict[str, Any]
    attempts: list[dict[str, Any]]
    created_at: float
    replayed_at: float | None = None
    replays: int = 0
    status: str = "dead"  # dead | replaying | replayed | purged


@dataclass
class DeadLetterFilter:
    flow: str | None = None
    step: str | None = None
    error_class: str | None = None
    since: float | None = None
    until: float | None = None
    keys: dict[str, str] = field(default_factory=dict)
    status: str | None = "dead"
    ids: Sequence[int] = ()
    limit: int | None = None


@dataclass
class SagaRow:
    """Progress of one transaction block for one message (see the saga step)."""

    id: str
    flow: str
    message_id: str
    step: str
    state: str  # forward | compensating | done | compensated
    position: int
    applied: list[dict[str, Any]]
    updated_at: float


@dataclass
class AuditEntry:
    at: float
    who: str
    action: str
    detail: dict[str, Any]


@dataclass
class StoreStatus:
    """Counts per flow and sink for ``integrator status``."""

    flows: dict[str, dict[str, Any]]


class Store:
    """The durable store; see the module docstring. Every method is one transaction."""

    location: str = ""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # -- journal and deliveries ----------------------------------------------------------

    async def journal(self, entries: Sequence[JournalEntry]) -> None:
        """Record new messages (pending). Durable on return: the source may be acked."""
        raise NotImplementedError

    async def route(self, flow: str, finished: Sequence[str],
                    deliveries: Sequence[DeliveryRow],
                    letters: Sequence[DeadLetterRow] = ()) -> list[int]:
        """After the steps ran: queue ``deliveries`` (returns their ids, in order), store
        ``letters`` (messages that failed in a step), and mark the messages listed in
        ``finished`` as processed. A processed message with no queued delivery left is
        removed; otherwise it is removed when its last delivery settles."""
        raise NotImplementedError

    async def settle(self, flow: str, outcomes: Sequence[DeliveryOutcome],
                     ledger: Iterable[tuple[str, str, str]] = ()) -> list[str]:
        """Apply delivery outcomes; add ``(sink, idempotency_key, message_id)`` rows to the
        ledger. Returns the ids of messages that are now finished (nothing left queued)."""
        raise NotImplementedError

    async def pending(self, flow: str, limit: int | None = None) -> list[JournalEntry]:
        """Journaled messages the steps have not processed yet (after a crash)."""
        raise NotImplementedError

    async def queued(self, flow: str, sink: str | None = None,
                     limit: int | None = None) -> list[DeliveryRow]:
        """Deliveries still queued, oldest first (after a crash, and for status)."""
        raise NotImplementedError

    async def applied(self, flow: str, sink: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` the ledger holds for ``sink``: their writes already happened."""
        raise NotImplementedError

    # -- dead letters ------------------------------------------------------------------

    async def dead_letters(self, where: DeadLetterFilter) -> list[DeadLetterRow]:
        raise NotImplementedError

    async def claim_dead_letters(self, ids: Sequence[int], who: str) -> list[DeadLetterRow]:
        """Atomically move dead letters from ``dead`` to ``replaying``: of two concurrent
        replays, each letter goes to exactly one. Returns the ones claimed."""
        raise NotImplementedError

    async def finish_replay(self, ids: Sequence[int], replayed: bool) -> None:
        """``replayed`` True: the letters are done (``replayed``); False: back to ``dead``."""
        raise NotImplementedError

    async def purge_dead_letters(self, where: DeadLetterFilter) -> int:
        raise NotImplementedError

    # -- connector state, sagas, audit, status -------------------------------------------

    async def get_state(self, key: str) -> Any:
        raise NotImplementedError

    async def put_state(self, key: str, value: Any) -> None:
        raise NotImplementedError

    async def save_saga(self, saga: SagaRow) -> None:
        raise NotImplementedError

    async def open_sagas(self, flow: str) -> list[SagaRow]:
        raise NotImplementedError

    async def audit(self, entry: AuditEntry) -> None:
        raise NotImplementedError

    async def audit_log(self, since: float | None = None,
                        limit: int | None = None) -> list[AuditEntry]:
        raise NotImplementedError

    async def status(self) -> StoreStatus:
        raise NotImplementedError
