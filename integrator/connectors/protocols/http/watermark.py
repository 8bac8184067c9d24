"""Watermarks: poll only what changed, and remember how far we got — on ack only.

A poll asks for records whose ``field`` is at least the watermark (``param`` in the
query, e.g. ``updated_at_min``). Two ways to advance, by what the API promises:

* **unsorted** (default): records of a poll may come in any order, so the *stored*
  watermark advances to a poll's highest value only when that poll was complete (every
  page read) and every record it produced was acknowledged, after every earlier poll
  settled. A poll that failed halfway settles once its records are acked but does not
  move the watermark: its unread pages are read again.
* **sorted** (``sorted: true``; the API returns records in ascending ``field`` order,
  e.g. Shopify ``order: updated_at asc``): the watermark advances record by record, to
  the value of the last record of the acknowledged prefix (in read order), as the file
  source commits positions.

The next poll of the same process asks from the highest value of the last complete poll.
APIs treat the parameter as "greater or equal", so boundary records come back; the
hashes of records already delivered at the boundary value are kept (in memory and in the
state) and those records are skipped. A changed record has a new hash and comes again.

The state value (key ``watermark``) is ``{"value": <highest acked>, "seen": [hashes]}``.
A restart reads from the stored value: whatever was read but not acknowledged is read
again (at least once, never lost). Ack tokens are ``(poll, n)`` pairs, distinct per
record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from integrator.errors import ExpressionSyntaxError, FatalError
from integrator.mapping.jmespath import Expression, compile_expression

if TYPE_CHECKING:
    from integrator.connectors.state import StateStore

__all__ = ["Watermark", "WatermarkSettings", "order_key", "watermark_problems"]

STATE_KEY = "watermark"
MAX_SEEN = 10_000
_FIELDS = frozenset({"field", "param", "initial", "sorted"})


def order_key(value: Any) -> tuple[int, Any]:
    """How watermark values compare: numbers as numbers, ISO 8601 times as instants
    (naive ones taken as UTC), other text as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return (2, value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (1, when.timestamp())
    return (3, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _fingerprint(body: Any) -> str:
    try:
        data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        data = repr(body).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def watermark_problems(raw: Any) -> list[str]:
    if not isinstance(raw, Mapping):
        return ["watermark must be a mapping with field and param"]
    out = [f"watermark needs {name}" for name in ("field", "param") if name not in raw]
    for name in raw:
        if name not in _FIELDS:
            out.append(f"watermark has no field {name!r}; fields: field, param, initial, "
                       "sorted")
    if isinstance(raw.get("field"), str):
        try:
            compile_expression(raw["field"])
        except ExpressionSyntaxError as exc:
            out.append(f"watermark.field: {exc.message}")
    elif "field" in raw:
        out.append("watermark.field must be a JMESPath text")
    if "param" in raw and not isinstance(raw["param"], str):
        out.append("watermark.param must be text")
    initial = raw.get("initial")
    if initial is not None and (isinstance(initial, bool)
                                or not isinstance(initial, str | int | float)):
        out.append("watermark.initial must be text or a number")
    if "sorted" in raw and not isinstance(raw["sorted"], bool):
        out.append("watermark.sorted must be true or false")
    return out


@dataclass(frozen=True)
class WatermarkSettings:
    field: Expression
    param: str
    initial: Any = None
    sorted: bool = False

    @classmethod
    def build(cls, raw: Mapping[str, Any], where: str) -> WatermarkSettings:
        problems = watermark_problems(raw)
        if problems:
            raise FatalError(f"{where}: {problems[0]}")
        return cls(compile_expression(raw["field"]), raw["param"], raw.get("initial"),
                   bool(raw.get("sorted")))


@dataclass(eq=False)
class Poll:
    """One poll: its query value, what it read, what is still unacknowledged."""

    seq: int
    since: Any
    pending: int = 0
    complete: bool = False
    failed: bool = False
    high: Any = None
    boundary: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Entry:
    """One record of a sorted watermark, in read order."""

    value: Any
    digest: str
    acked: bool = False


class Watermark:
    """Tracks polls and acknowledgements; saves the watermark when it may advance."""

    def __init__(self, settings: WatermarkSettings, state: StateStore) -> None:
        self.settings = settings
        self.state = state
        self.committed: Any = None
        self.committed_seen: set[str] = set()
        self.read_high: Any = None
        self.read_seen: set[str] = set()
        self._polls: dict[int, Poll] = {}
        self._next_seq = 0
        self._n = 0
        self._entries: dict[int, _Entry] = {}  # sorted: unacked prefix onwards, in order

    async def load(self) -> None:
        stored = await self.state.get(STATE_KEY)
        if isinstance(stored, dict) and stored.get("value") is not None:
            self.committed = stored["value"]
            self.committed_seen = {s for s in stored.get("seen") or () if isinstance(s, str)}
        else:
            self.committed = self.settings.initial
        self.read_high = self.committed
        self.read_seen = set(self.committed_seen)

    def begin(self) -> Poll:
        """A new poll, asking from the highest value of the complete polls so far."""
        poll = Poll(self._next_seq, self.read_high)
        self._polls[poll.seq] = poll
        self._next_seq += 1
        return poll

    def query(self, poll: Poll) -> dict[str, str]:
        if poll.since is None:
            return {}
        value = poll.since
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        return {self.settings.param: text}

    def admit(self, poll: Poll, body: Any) -> tuple[int, int] | None:
        """The ack token ``(poll, n)`` for a record, or None when it was delivered
        before (at the boundary value)."""
        value = self.settings.field.search(body) if isinstance(body, dict) else None
        if isinstance(value, dict | list | bool):
            value = None
        digest = _fingerprint(body)
        if (value is not None and poll.since is not None and digest in self.read_seen
                and order_key(value) == order_key(poll.since)):
            return None
        poll.pending += 1
        n = self._n
        self._n += 1
        if self.settings.sorted:
            self._entries[n] = _Entry(value, digest)
        if value is not None:
            if poll.high is None or order_key(value) > order_key(poll.high):
                poll.high = value
                poll.boundary = {digest}
            elif order_key(value) == order_key(poll.high) and len(poll.boundary) < MAX_SEEN:
                poll.boundary.add(digest)
        return (poll.seq, n)

    async def finish(self, poll: Poll, *, complete: bool) -> None:
        """The poll ended: ``complete`` when every page was read."""
        poll.complete = True
        poll.failed = not complete
        if complete and poll.high is not None:
            self.read_high, self.read_seen = _merge(self.read_high, self.read_seen,
                                                    poll.high, poll.boundary)
        await self._advance()

    async def ack(self, tokens: Sequence[Any]) -> None:
        for token in tokens:
            if not (isinstance(token, tuple) and len(token) == 2):
                continue
            poll = self._polls.get(token[0])
            if poll is not None:
                poll.pending -= 1
            entry = self._entries.get(token[1])
            if entry is not None:
                entry.acked = True
        await self._advance()

    async def _advance(self) -> None:
        before = (self.committed, len(self.committed_seen))
        if self.settings.sorted:
            while self._entries:
                n = next(iter(self._entries))
                entry = self._entries[n]
                if not entry.acked:
                    break
                del self._entries[n]
                if entry.value is not None:
                    self.committed, self.committed_seen = _merge(
                        self.committed, self.committed_seen, entry.value, {entry.digest})
        while self._polls:
            head = self._polls[min(self._polls)]
            if not head.complete or head.pending > 0:
                break
            del self._polls[head.seq]
            if head.failed or head.high is None or self.settings.sorted:
                continue
            self.committed, self.committed_seen = _merge(
                self.committed, self.committed_seen, head.high, head.boundary)
        if before != (self.committed, len(self.committed_seen)):
            seen = sorted(self.committed_seen)[:MAX_SEEN]
            await self.state.put(STATE_KEY, {"value": self.committed, "seen": seen})


def _merge(value: Any, seen: set[str], high: Any, boundary: set[str]
           ) -> tuple[Any, set[str]]:
    """The larger of two (value, boundary hashes); equal values join their hashes."""
    if value is None or order_key(high) > order_key(value):
        return high, set(boundary)
    if order_key(high) == order_key(value):
        return value, seen | boundary
    return value, seen
