"""What a template sees: the names available inside ``{{ ... }}``.

A template renders against one *document*: for a step, the document it reads (the body,
or the var named by ``on``); for a sink option (a path, a URL, a topic), the payload that
sink sends. Its fields are top-level names (``{{ market }}``), and five reserved names
are always there and win over document fields of the same name:

============  ==========================================================
``body``      the message body
``vars``      named documents produced by earlier steps (``as:``)
``keys``      the flow's business keys for this message
``meta``      source metadata (file, line, headers ...)
``message``   ``{id, correlation_id, parent_id}``
============  ==========================================================

The context is a lazy read-only mapping: nothing is copied per message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from integrator.message import Message

__all__ = ["RESERVED_NAMES", "TemplateContext"]

RESERVED_NAMES = frozenset({"body", "vars", "keys", "meta", "message"})


class TemplateContext(Mapping[str, Any]):
    """Read-only view of ``document`` fields plus the reserved names for ``msg``."""

    __slots__ = ("_doc", "_msg")

    def __init__(self, msg: Message, document: Any) -> None:
        self._msg = msg
        self._doc = document if isinstance(document, dict) else {}

    def __getitem__(self, name: str) -> Any:
        if name in RESERVED_NAMES:
            msg = self._msg
            if name == "body":
                return msg.body
            if name == "vars":
                return msg.vars
            if name == "keys":
                return msg.keys
            if name == "meta":
                return msg.meta
            return {
                "id": msg.id,
                "correlation_id": msg.correlation,
                "parent_id": msg.parent.id if msg.parent is not None else None,
            }
        return self._doc[name]

    def __contains__(self, name: object) -> bool:
        return name in RESERVED_NAMES or name in self._doc

    def __iter__(self) -> Iterator[str]:
        yield from RESERVED_NAMES
        for key in self._doc:
            if key not in RESERVED_NAMES:
                yield key

    def __len__(self) -> int:
        return len(RESERVED_NAMES) + sum(1 for k in self._doc if k not in RESERVED_NAMES)
