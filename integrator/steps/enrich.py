"""``enrich`` adds data looked up through a connection, with a cache.

```yaml
- enrich:
    connection: products          # a connection whose connector answers lookups
    options: {key: sku}           # the connector's lookup options
    key: line_items[0].sku        # JMESPath: what to look up
    into: product                 # dotted field path that receives the answer
    required: false               # true: a miss fails the message
    default: null                 # what a miss puts into the field
    cache: {size: 10000, ttl: 5m}
```
Lookups are batched: each batch of messages asks the connection once, for the keys the
cache does not hold. Misses are cached too, for the same ttl.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, ClassVar

from integrator.connectors.spec import parse_duration
from integrator.errors import FatalError, IntegratorError, MessageError
from integrator.message import Message
from integrator.steps.base import (
    BatchContext,
    BuildContext,
    Path,
    Step,
    doc_options_schema,
    read_doc,
    write_doc,
)
from integrator.steps.fields import _copy_along, split_path

__all__ = ["EnrichStep", "LookupCache"]

_MISS: Any = object()


class LookupCache:
    """A size-bounded LRU of answers, each valid for ``ttl`` seconds."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, now: float) -> Any:
        entry = self._items.get(key)
        if entry is None:
            return _MISS
        stored, value = entry
        if now - stored > self.ttl:
            del self._items[key]
            return _MISS
        self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any, now: float) -> None:
        if self.size <= 0:
            return
        self._items[key] = (now, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class EnrichStep(Step):
    kind = "enrich"
    summary = "Look data up through a connection (cached) and add it to the document."
    is_async = True
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "description": "Add data looked up through a connection.",
        "properties": {
            **doc_options_schema(produces=False, in_place=True),
            "connection": {"type": "string", "description": "A connection that answers "
                                                           "lookups."},
            "options": {"type": "object", "description": "The connector's lookup options."},
            "key": {"type": "string", "description": "JMESPath giving the key to look up."},
            "into": {"type": "string", "description": "Dotted field path for the answer."},
            "required": {"type": "boolean", "default": False,
                         "description": "Fail the message when nothing is found."},
            "default": {"description": "Value stored when nothing is found."},
            "cache": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "minimum": 0, "default": 10_000},
                    "ttl": {"anyOf": [{"type": "number", "minimum": 0},
                                      {"type": "string",
                                       "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)$"}],
                            "default": "5m"},
                },
                "additionalProperties": False,
            },
        },
        "required": ["connection", "key", "into"],
        "additionalProperties": False,
    }

    def __init__(self, config: dict[str, Any], key: Any, ref: Any) -> None:
        self.on = config.get("on")
        self.key = key
        self.ref = ref
        self.into = split_path(config["into"])
        self.required = bool(config.get("required", False))
        self.default = config.get("default")
        cache = config.get("cache", {})
        self.cache_size = int(cache.get("size", 10_000))
        self.cache_ttl = parse_duration(cache.get("ttl", "5m"))

    @classmethod
    def build(cls, config: Any, path: Path, ctx: BuildContext) -> Step:
        key = ctx.expression(config["key"], (*path, "key"))
        ref = ctx.lookup(config["connection"], config.get("options", {}),
                         (*path, "connection"))
        return cls(dict(config), key, ref)

    async def process_async(self, batch: list[Message], run: BatchContext) -> list[Message]:
        state = run.state(self)
        cache: LookupCache = state.get("cache") or state.setdefault(
            "cache", LookupCache(self.cache_size, self.cache_ttl))
        now = time.monotonic()
        keyed: list[tuple[Message, Hashable]] = []
        wanted: dict[Hashable, None] = {}
        for msg in batch:
            msg.trace.append(self.name)
            try:
                key = self.key.search(read_doc(msg, self.on))
                if isinstance(key, dict | list):
                    raise MessageError(
                        f"enrich key {self.key.source!r} gave {type(key).__name__}; "
                        "a lookup key must be text or a number")
            except MessageError as exc:
                run.fail(msg, self, exc)
                continue
            keyed.append((msg, key))
            if key is not None and cache.get(key, now) is _MISS:
                wanted[key] = None
        failed: dict[Hashable, IntegratorError] = {}
        if wanted:
            try:
                found = await run.lookup(self.ref).get_many(list(wanted))
            except FatalError:
                raise  # a broken lookup (bad query, refused login) stops the run
            except IntegratorError as exc:
                for msg, _ in keyed:
                    run.fail(msg, self, exc)
                return []
            for key in wanted:
                answer = found.get(key)
                if isinstance(answer, IntegratorError):
                    failed[key] = answer  # this key only; not cached, asked again next time
                else:
                    cache.put(key, answer, now)
        out = []
        for msg, key in keyed:
            if key in failed:
                run.fail(msg, self, failed[key])
                continue
            value = cache.get(key, now) if key is not None else None
            if value is _MISS:
                value = None
            if value is None:
                if self.required:
                    run.fail(msg, self, MessageError(
                        f"lookup in {self.ref.connection!r} found nothing for {key!r}",
                        hint="set required: false to continue with `default`"))
                    continue
                value = self.default
            try:
                doc, parent = _copy_along(read_doc(msg, self.on), self.into, create=True)
            except MessageError as exc:
                run.fail(msg, self, exc)
                continue
            parent[self.into[-1]] = value
            write_doc(msg, self.on, doc)
            out.append(msg)
        return out
