"""The envelope that travels through a flow.

A message carries the document being processed (``body``), named documents that steps
produced beside it (``vars``: ``map: {as: erp_order}`` stores its result there), the
flow's business keys, source metadata, and a trace of the steps it passed.

Message ids are cheap: a random per-run prefix plus a sequence number, formatted only
when somebody asks. A uuid4 per message would cost more than mapping the message.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import Any

__all__ = ["IdFactory", "Message"]


class IdFactory:
    """Makes run-unique message ids: ``<8 hex chars of randomness>-<sequence>``."""

    __slots__ = ("next", "prefix")

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or secrets.token_hex(4)
        self.next: Callable[[], int] = itertools.count(1).__next__
        """The next sequence number (the counter's own method: no Python frame)."""


class Message:
    """One unit of work.

    Attributes:
        seq: sequence number within the run (the id is derived from it).
        body: the current document (usually a dict).
        origin: the body as it entered (steps copy on write, so it stays intact; dead
            letters record it).
        vars: named documents produced by steps with ``as:``.
        keys: business keys (``{"order": 4711}``) computed when the message entered.
        meta: source metadata (file and line, headers, topic, ...).
        parent: the message this one was split from, or ``None``.
        attempts: delivery attempts so far (the durable-delivery layer counts them).
        trace: names of the steps this message passed, in order.
        ack: the source's acknowledgement token, or ``None`` for derived messages.
        pending: deliveries and children still outstanding; the message is done at 0.
        group: for a message made by ``aggregate``, the messages it was made of; they
            finish when it finishes.
    """

    __slots__ = (
        "_ids",
        "ack",
        "attempts",
        "body",
        "correlation_id",
        "group",
        "keys",
        "meta",
        "origin",
        "parent",
        "pending",
        "seq",
        "trace",
        "vars",
    )

    def __init__(
        self,
        body: Any,
        ids: IdFactory,
        meta: dict[str, Any] | None = None,
        ack: Any = None,
        *,
        keys: dict[str, Any] | None = None,
        parent: Message | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self._ids = ids
        self.seq = ids.next()
        self.body = body
        self.origin = body
        self.vars: dict[str, Any] = {}
        self.keys: dict[str, Any] = keys if keys is not None else {}
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self.parent = parent
        self.ack = ack
        self.correlation_id = correlation_id
        self.attempts = 0
        self.trace: list[str] = []
        self.pending = 0
        self.group: list[Message] | None = None

    @property
    def id(self) -> str:
        return f"{self._ids.prefix}-{self.seq}"

    @property
    def correlation(self) -> str:
        """The id shared by a message and everything split or derived from it."""
        if self.correlation_id is not None:
            return self.correlation_id
        root = self
        while root.parent is not None:
            root = root.parent
        return root.correlation_id or root.id

    def child(self, body: Any, **meta: Any) -> Message:
        """A message derived from this one (split); it inherits keys and vars."""
        msg = Message(
            body,
            ids=self._ids,
            keys=dict(self.keys),
            meta={**self.meta, **meta},
            parent=self,
            correlation_id=self.correlation,
        )
        msg.vars = dict(self.vars)
        msg.trace = list(self.trace)
        return msg

    def document(self, name: str | None) -> Any:
        """The body (``name`` is None or ``"body"``) or a named var."""
        if name is None or name == "body":
            return self.body
        return self.vars[name]

    def describe(self) -> dict[str, Any]:
        """Identity fields for logs and error records."""
        out: dict[str, Any] = {"message_id": self.id, "correlation_id": self.correlation}
        if self.keys:
            out["keys"] = dict(self.keys)
        if self.parent is not None:
            out["parent_id"] = self.parent.id
        return out

    def __repr__(self) -> str:
        return f"<Message {self.id} keys={self.keys!r}>"
