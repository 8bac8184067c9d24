"""``split`` makes one message per array item; ``aggregate`` joins messages into one.

```yaml
- split: line_items                       # each item becomes the body of a new message
- split: {path: line_items, as: line}     # keep the body; put the item into var `line`
- aggregate:
    key: customer.email                   # group by (optional: one group)
    count: 50                             # emit a group at 50 messages ...
    within: 30s                           # ... or 30 s after its first message
```
Split messages are children of the original: they share its correlation id, carry
``meta.split = {index, total}``, and the original is acknowledged only when every child
has finished. An aggregated message has body ``{key, count, items}``; the messages in it
are acknowledged when it finishes. Groups still open when the input ends are emitted.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from integrator.errors import MessageError
from integrator.message import Message
from integrator.steps.base import (
    BatchContext,
    BuildContext,
    Path,
    Step,
    doc_options_schema,
    read_doc,
)

__all__ = ["AggregateStep", "SplitStep"]

MAX_SPLIT_ITEMS = 100_000


class SplitStep(Step):
    kind = "split"
    summary = "Turn an array into one message per item, linked to the original."
    schema: ClassVar[dict[str, Any]] = {
        "description": "A JMESPath expression giving an array; each item becomes a message.",
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    **doc_options_schema(produces=True),
                    "path": {"type": "string", "description": "JMESPath giving the array."},
                    "max_items": {"type": "integer", "minimum": 1,
                                  "default": MAX_SPLIT_ITEMS},
                },
                "required": ["path"],
                "additionalProperties": False,
            },
        ],
    }

    def __init__(self, on: str | None, expr: Any, into: str | None, max_items: int) -> None:
        self.on = on
        self.expr = expr
        self.into = into
        self.max_items = max_items

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        if isinstance(config, str):
            return cls(None, ctx.expression(config, path), None, MAX_SPLIT_ITEMS)
        return cls(config.get("on"), ctx.expression(config["path"], (*path, "path")),
                   config.get("as"), int(config.get("max_items", MAX_SPLIT_ITEMS)))

    def process(self, batch: list[Message], run: BatchContext) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            msg.trace.append(self.name)
            try:
                items = self.expr.search(read_doc(msg, self.on))
                if items is None:
                    items = []
                if not isinstance(items, list):
                    raise MessageError(
                        f"split {self.expr.source!r} gave {type(items).__name__}, not an array",
                        hint="point `path` at an array field")
                if len(items) > self.max_items:
                    raise MessageError(
                        f"split {self.expr.source!r} gave {len(items):,} items; "
                        f"max_items is {self.max_items:,}")
            except MessageError as exc:
                run.fail(msg, self, exc)
                continue
            if not items:
                run.filtered(msg, self, "empty-split")
                continue
            total = len(items)
            for i, item in enumerate(items):
                if self.into is None:
                    child = msg.child(item, split={"index": i, "total": total})
                else:
                    child = msg.child(msg.body, split={"index": i, "total": total})
                    child.vars[self.into] = item
                run.spawn(child)
                out.append(child)
        return out


class AggregateStep(Step):
    kind = "aggregate"
    summary = "Group messages by key until a count or a time limit, into one message."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Collect messages into groups; a group is emitted when it reaches "
                       "`count` messages or `within` after its first message, and when "
                       "the input ends.",
        "properties": {
            **doc_options_schema(produces=False),
            "key": {"type": "string", "description": "JMESPath giving the group key; "
                                                    "without it all messages form one group."},
            "count": {"type": "integer", "minimum": 1, "maximum": 100_000},
            "within": {"anyOf": [{"type": "number", "minimum": 0},
                                 {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)$"}],
                       "description": "Maximum time a group stays open, e.g. 30s."},
        },
        "anyOf": [{"required": ["count"]}, {"required": ["within"]}],
        "additionalProperties": False,
    }

    def __init__(self, on: str | None, key: Any, count: int | None, within: float | None):
        self.on = on
        self.key = key
        self.count = count
        self.within = within

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        from integrator.connectors.spec import parse_duration

        key = ctx.expression(config["key"], (*path, "key")) if "key" in config else None
        within = parse_duration(config["within"]) if "within" in config else None
        return cls(config.get("on"), key, config.get("count"), within)

    def _emit(self, key: Any, members: list[Message]) -> Message:
        first = members[0]
        items = [read_doc(m, self.on) for m in members]
        msg = Message({"key": key, "count": len(items), "items": items}, ids=first._ids,
                      keys=dict(first.keys), meta={"aggregate": {"count": len(items)}})
        msg.group = members
        msg.trace = [self.name]
        return msg

    def process(self, batch: list[Message], run: BatchContext) -> list[Message]:
        out: list[Message] = []
        now = time.monotonic()
        groups: dict[Any, tuple[float, list[Message]]] = run.state(self).setdefault("groups", {})
        for msg in batch:
            msg.trace.append(self.name)
            try:
                key = self.key.search(read_doc(msg, self.on)) if self.key is not None else None
                hash(key)
            except MessageError as exc:
                run.fail(msg, self, exc)
                continue
            except TypeError:
                run.fail(msg, self, MessageError(
                    f"aggregate key {self.key.source!r} gave {type(key).__name__}; "
                    "a key must be text, a number, true/false or null"))
                continue
            _, members = groups.setdefault(key, (now, []))
            members.append(msg)
            msg.pending += 1  # released when the aggregated message finishes
            if self.count is not None and len(members) >= self.count:
                del groups[key]
                agg = self._emit(key, members)
                run.spawn(agg)
                out.append(agg)
        return out

    def flush(self, state: dict[str, Any], now: float, final: bool) -> list[Message]:
        groups: dict[Any, tuple[float, list[Message]]] = state.get("groups", {})
        due = [
            key for key, (started, _) in groups.items()
            if final or (self.within is not None and now - started >= self.within)
        ]
        return [self._emit(key, groups.pop(key)[1]) for key in due]
