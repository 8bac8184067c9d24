"""The ``redis-streams`` connector: Redis Streams read by a consumer group, written by XADD.

Datasheet
=========
:roles:    source (consumer group ``group`` on ``stream``) · sink (action ``add``)
:driver:   redis-py asyncio (``pip install 'integrator[redis]'``), imported on first use;
           its own retries are turned off (the engine decides).
:source:   ``XREADGROUP`` as consumer ``consumer``; the group is created on first use
           (``XGROUP CREATE … MKSTREAM`` at ``start_id``). ``Source.ack`` — called by the
           engine once every delivery of a message finished — sends ``XACK``; nothing
           else acknowledges. An entry stays in the group's pending list (PEL) until then,
           so nothing is lost when a worker dies:

           1. at open, the consumer first reads **its own** pending entries (``XREADGROUP
              … 0``): what it had read and not acknowledged before a restart;
           2. every ``claim_idle``/2 it takes over entries other consumers left pending
              for longer than ``claim_idle`` (``XAUTOCLAIM``): a dead worker's messages;
           3. then it reads new entries (``>``).

           While an entry is out, the source resets its idle time every ``claim_idle``/3
           (``XCLAIM … JUSTID`` to itself), so a slow sink does not let another worker
           claim it mid-run. At-least-once: an entry is processed again only when a
           worker died (or was slower than ``claim_idle`` without reaching Redis).
           Pending entries that were trimmed away (``MAXLEN``) before being processed
           cannot be read any more; they are acknowledged and logged as a warning.
:sink:     one pipelined ``XADD`` per batch (``MAXLEN ~ max_length`` when set); the entry
           holds the encoded body in ``body_field`` plus the rendered ``fields``.
           ``write_batch`` returns when Redis answered every XADD.

Messages in, records out
------------------------
``meta``: ``stream``, ``id`` and ``message_id`` (the entry id), ``fields`` (the entry's
other fields, as text), ``delivery`` (``new``, ``pending`` — own PEL after a restart —
or ``claimed`` from another consumer). An entry without ``body_field``, or whose body
the codec cannot decode, is a Record with a DecodeError (dead-lettered, then
acknowledged). With ``body_field: "*"`` the body is the whole entry (field → text) and the
sink writes a flat object's keys as fields.

Errors
------
Refused connections, timeouts, LOADING, OOM, READONLY → RetriableError. Refused
credentials, NOPERM, NOGROUP (when ``create_group`` is false), a key holding another type
(WRONGTYPE) → FatalError, except WRONGTYPE for a per-message templated stream key: a
RejectedError for that delivery.

What it does not do
-------------------
No poison-message counter (a message that crashes a worker is claimed again forever —
the engine dead-letters bad messages, so only crashes repeat); no cluster mode; no
XDEL after acknowledgement (trim with ``max_length``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Record,
    Sink,
)
from integrator.connectors.protocols.brokers.common import (
    BodyCodec,
    BrokerSource,
    HeaderFields,
    TextField,
    codec_options,
    excerpt,
    load_driver,
    render_error,
    reveal,
    source_options,
    tokens_of,
)
from integrator.connectors.spec import Config, ConfigSpec, Option, OptionProblem
from integrator.errors import (
    ConversionError,
    DecodeError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
    RetriableError,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis


__all__ = ["RedisStreamsConnector", "RedisStreamsSink", "RedisStreamsSource"]

log = logging.getLogger("integrator.connectors.redis")

WHOLE_ENTRY = "*"
MAX_KEY = 1024


# --------------------------------------------------------------------------- errors

def classify(exc: BaseException, where: str, action: str) -> IntegratorError:
    """The integrator error for a redis-py exception raised while doing ``action``."""
    if isinstance(exc, IntegratorError):
        return exc
    import redis.exceptions as rex

    what = f"{where}: {action}"
    text = excerpt(exc) or type(exc).__name__
    upper = text.upper()
    if isinstance(exc, rex.AuthenticationError | rex.AuthenticationWrongNumberOfArgsError) \
            or upper.startswith(("NOAUTH", "WRONGPASS")):
        return FatalError(f"{what}: Redis refused the credentials: {text}",
                          hint="check username and password",
                          context={"status": "auth-failed"})
    if isinstance(exc, rex.NoPermissionError) or upper.startswith("NOPERM"):
        return FatalError(f"{what}: permission denied: {text}",
                          hint="allow the ACL user the stream commands and the keys",
                          context={"status": "auth-failed"})
    if isinstance(exc, rex.BusyLoadingError) or upper.startswith(("LOADING", "OOM",
                                                                  "READONLY", "TRYAGAIN",
                                                                  "MASTERDOWN")):
        return RetriableError(f"{what}: Redis is not accepting this now: {text}",
                              context={"status": "unreachable"})
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError | OSError | TimeoutError):
        return RetriableError(f"{what}: {type(exc).__name__}: {text}",
                              hint="Redis is unreachable; pending entries stay pending "
                                   "and are read again",
                              context={"status": "unreachable"})
    if upper.startswith("NOGROUP"):
        return FatalError(f"{what}: {text}",
                          hint="create the group, or set create_group: true",
                          context={"status": "misconfigured"})
    if upper.startswith("WRONGTYPE"):
        return FatalError(f"{what}: the key holds something other than a stream: {text}",
                          hint="use another stream key", context={"status": "misconfigured"})
    return FatalError(f"{what}: Redis answered: {text}", context={"status": "misconfigured"})


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _entries(answer: Any) -> list[Any]:
    """The entries of a one-stream XREADGROUP answer (RESP2 list or RESP3 map)."""
    if not answer:
        return []
    if isinstance(answer, Mapping):
        return list(next(iter(answer.values())) or [])
    return list(answer[0][1])


def _field_value(value: Any) -> bytes | str:
    """A payload value as a stream field: text as is, anything else as JSON."""
    if isinstance(value, str | bytes):
        return value
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ConversionError(f"a field value cannot be written as JSON: {exc}") from None


# --------------------------------------------------------------------------- source

class RedisStreamsSource(BrokerSource):
    """A consumer of one group; see the module datasheet for the guarantees."""

    def __init__(self, connector: RedisStreamsConnector, stream: str,
                 options: Config) -> None:
        super().__init__(connector.where, follow=options.follow,
                         idle_timeout=options.idle_timeout, batch_size=options.batch_size)
        self.connector = connector
        self.stream = stream
        self.group: str = options.group
        self.consumer: str = options.consumer or default_consumer(connector)
        self.start_id: str = options.start_id
        self.create_group: bool = options.create_group
        self.claim_idle: float = options.claim_idle
        self.codec = connector.codec
        self.body_field: str = connector.config.body_field
        self._redis: Redis | None = None
        self._out: set[bytes] = set()
        self._history: bytes | None = b"0"  # own PEL cursor; None when read
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        self._generation = 0

    async def open(self) -> None:
        self._generation += 1
        self._out = set()
        self._history = b"0"
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        r = self.connector.client()
        self._redis = r
        try:
            await r.ping()
            if self.create_group:
                try:
                    await r.xgroup_create(self.stream, self.group, id=self.start_id,
                                          mkstream=True)
                except Exception as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
            else:
                groups = await r.xinfo_groups(self.stream)
                if not any(_text(g.get("name")) == self.group for g in groups):
                    raise FatalError(f"{self.where}: stream {self.stream!r} has no group "
                                     f"{self.group!r}",
                                     hint="create it (XGROUP CREATE) or set create_group: "
                                          "true", context={"status": "misconfigured"})
        except BaseException as exc:
            await self._shut()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"opening group {self.group!r} on "
                           f"{self.stream!r}") from None
        self._start_keepalive(max(self.claim_idle / 3, 0.05))

    def _client(self) -> Redis:
        if self._redis is None:
            raise RetriableError(f"{self.where}: the source is closed")
        return self._redis

    async def _receive(self, limit: int, wait: float) -> list[Record]:
        try:
            if self._history is not None:
                records = await self._read_own_pending(limit)
                if records:
                    return records
            if time.monotonic() >= self._next_claim:
                records = await self._claim(limit)
                if records:
                    return records
            return await self._read_new(limit, wait)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"reading group {self.group!r} on "
                           f"{self.stream!r}") from None

    async def _read_own_pending(self, limit: int) -> list[Record]:
        """This consumer's pending entries from before (a restart), oldest first."""
        assert self._history is not None
        answer: Any = await self._client().xreadgroup(
            self.group, self.consumer, {self.stream: self._history}, count=limit)
        entries = _entries(answer)
        if not entries:
            self._history = None
            return []
        self._history = entries[-1][0]
        return await self._records(entries, "pending")

    async def _claim(self, limit: int) -> list[Record]:
        """Entries other consumers left pending longer than claim_idle (XAUTOCLAIM)."""
        answer: Any = await self._client().xautoclaim(
            self.stream, self.group, self.consumer, int(self.claim_idle * 1000),
            start_id=self._claim_cursor, count=limit)
        cursor, entries = answer[0], answer[1]
        deleted = answer[2] if len(answer) > 2 else []
        if deleted:
            log.warning("%s: %d pending entr(y/ies) of %r were trimmed before anyone "
                        "processed them: %s", self.where, len(deleted), self.stream,
                        ", ".join(_text(d) for d in deleted[:10]))
        self._claim_cursor = cursor
        if cursor in (b"0-0", "0-0"):
            self._next_claim = time.monotonic() + max(self.claim_idle / 2, 0.05)
        fresh = [e for e in entries if e[0] not in self._out]
        return await self._records(fresh, "claimed")

    async def _read_new(self, limit: int, wait: float) -> list[Record]:
        block = int(wait * 1000)
        answer: Any = await self._client().xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=limit,
            block=block if block > 0 else None)
        entries = _entries(answer)
        return await self._records(entries, "new")

    async def _records(self, entries: list[Any], delivery: str) -> list[Record]:
        out: list[Record] = []
        gone: list[bytes] = []
        for entry_id, fields in entries:
            if fields is None:  # pending, but trimmed from the stream meanwhile
                gone.append(entry_id)
                continue
            out.append(self._record(entry_id, fields, delivery))
        if gone:
            log.warning("%s: %d pending entr(y/ies) of %r were trimmed before they were "
                        "processed: %s", self.where, len(gone), self.stream,
                        ", ".join(_text(g) for g in gone[:10]))
            await self._client().xack(self.stream, self.group, *gone)
        return out

    def _record(self, entry_id: bytes, fields: Mapping[bytes, bytes],
                delivery: str) -> Record:
        self._out.add(entry_id)
        token = (self._generation, entry_id)
        text_id = _text(entry_id)
        body_field = self.body_field
        meta: dict[str, Any] = {"stream": self.stream, "id": text_id,
                                "message_id": text_id, "delivery": delivery}
        where = f"{self.where}: stream {self.stream!r} entry {text_id}"
        context = {"stream": self.stream, "id": text_id}
        if body_field == WHOLE_ENTRY:
            meta["fields"] = {}
            return Record({_text(k): _text(v) for k, v in fields.items()}, meta, token)
        meta["fields"] = {_text(k): _text(v) for k, v in fields.items()
                          if _text(k) != body_field}
        raw = fields.get(body_field.encode())
        if raw is None:
            error = DecodeError(f"{where}: the entry has no field {body_field!r} "
                                f"(fields: {', '.join(meta['fields']) or 'none'})",
                                hint="set body_field to the field that holds the body, or "
                                     "\"*\" to read the whole entry", context=context)
            return Record(None, meta, token, error)
        try:
            body = self.codec.decode(bytes(raw), where, context)
        except DecodeError as exc:
            return self.codec.bad_record(exc, bytes(raw), meta, token)
        return Record(body, meta, token)

    async def ack(self, tokens: Sequence[Any]) -> None:
        """``XACK`` the entries of ``tokens``; called once their deliveries finished."""
        self._touch()
        ids = [i for i in tokens_of(tokens, self._generation) if i in self._out]
        if not ids:
            return
        try:
            await self._client().xack(self.stream, self.group, *ids)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"acknowledging on {self.stream!r}") from None
        self._out.difference_update(ids)

    async def _keepalive(self) -> None:
        """Reset the idle time of entries still out (XCLAIM to ourselves, JUSTID)."""
        ids: list[Any] = list(self._out)
        r = self._redis
        if not ids or r is None:
            return
        try:
            for start in range(0, len(ids), 500):
                await r.xclaim(self.stream, self.group, self.consumer, 0,
                               ids[start:start + 500], justid=True)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "extending claims") from None

    async def close(self) -> None:
        """Close; entries not acknowledged stay pending for this consumer (read again
        at the next open) or for another one to claim after ``claim_idle``."""
        await self._shut()

    async def _shut(self) -> None:
        self._stop_keepalive()
        r, self._redis = self._redis, None
        self._out = set()
        if r is not None:
            try:
                await r.aclose()
            except Exception as exc:
                log.debug("%s: closing the connection: %s", self.where, exc)


def default_consumer(connector: Connector) -> str:
    """``<host>-<flow>-<connection>``: stable across restarts of the same worker."""
    return f"{socket.gethostname()}-{connector.runtime.flow}-{connector.name}"


# --------------------------------------------------------------------------- sink

class RedisStreamsSink(Sink):
    """Pipelined XADD; see the module datasheet."""

    def __init__(self, connector: RedisStreamsConnector, options: Config) -> None:
        self.connector = connector
        self.where = connector.where
        name = f"{connector.name}.add"
        stream = options.stream if options.stream is not None else connector.config.stream
        if not stream:
            raise FatalError(f"{self.where}: adding needs a stream",
                             hint="set stream on the connection or the sink")
        self.stream = TextField(stream, f"{name}.stream")
        self.fields = HeaderFields(options.fields, f"{name}.fields")
        self.body_field: str = connector.config.body_field
        if any(key == self.body_field for key, _ in self.fields.fields):
            raise FatalError(f"{self.where}: fields cannot contain the body field "
                             f"{self.body_field!r}")
        self.max_length: int | None = options.max_length
        self.approximate: bool = options.approximate
        self.codec = connector.codec
        self._redis: Redis | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        r = self.connector.client()
        self._redis = r
        try:
            await r.ping()
            key = self.stream.constant
            if key:
                kind = _text(await r.type(key))
                if kind not in ("none", "stream"):
                    raise FatalError(f"{self.where}: key {key!r} holds a {kind}, not a "
                                     f"stream", hint="use another stream key",
                                     context={"status": "misconfigured"})
        except BaseException as exc:
            await self.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "opening") from None

    def _prepare(self, delivery: Delivery) -> tuple[str, dict[Any, Any]]:
        try:
            key = self.stream.render(delivery)
        except MessageError as exc:
            raise render_error(exc, "stream") from None
        if not key or len(key) > MAX_KEY:
            raise RejectedError(f"{self.where}: {excerpt(key, 80)!r} is not a usable "
                                f"stream key")
        payload = delivery.payload
        if self.body_field == WHOLE_ENTRY:
            if not isinstance(payload, dict) or not payload:
                raise ConversionError(
                    "body_field \"*\" writes an object's keys as fields, but the payload "
                    "is not a non-empty object", hint="map the payload to an object")
            entry: dict[Any, Any] = {str(k): _field_value(v) for k, v in payload.items()}
            size = sum(len(v) for v in entry.values())
            if size > self.codec.max_size:
                raise RejectedError(f"the entry has {size} bytes, more than "
                                    f"max_message_size ({self.codec.max_size})")
        else:
            entry = {self.body_field: self.codec.encode(payload)}
        if self.fields:
            for k, v in self.fields.render(delivery).items():
                entry[k] = "" if v is None else _field_value(v)
        return key, entry

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        r = self._redis
        if r is None:
            async with self._lock:  # sink workers share this sink
                if self._redis is None:
                    await self.open()
            r = self._redis
            assert r is not None
        results: list[IntegratorError | None] = [None] * len(deliveries)
        jobs: list[tuple[int, str]] = []
        pipe = r.pipeline(transaction=False)
        for i, delivery in enumerate(deliveries):
            try:
                key, entry = self._prepare(delivery)
            except MessageError as exc:
                results[i] = exc
                continue
            pipe.xadd(key, entry, maxlen=self.max_length, approximate=self.approximate)
            jobs.append((i, key))
        if jobs:
            try:
                answers = await pipe.execute(raise_on_error=False)
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise classify(exc, self.where, f"adding {len(jobs)} entries") from None
            for (i, key), answer in zip(jobs, answers, strict=True):
                if not isinstance(answer, BaseException):
                    continue
                error = classify(answer, self.where, f"XADD to {key!r}")
                if isinstance(error, FatalError) and self.stream.templated \
                        and "WRONGTYPE" in str(answer):
                    error = RejectedError(error.message, hint="the key comes from the "
                                          "message; fix the data or the stream template",
                                          context={"stream": key})
                if isinstance(error, FatalError):
                    raise error
                results[i] = error
        if all(x is None for x in results):
            return None
        return results

    async def close(self) -> None:
        r, self._redis = self._redis, None
        if r is not None:
            try:
                await r.aclose()
            except Exception as exc:
                log.debug("%s: closing the connection: %s", self.where, exc)


# --------------------------------------------------------------------------- connector

_CONNECTION_OPTIONS = (
    Option("host", "string", "Redis host name or address.", default="127.0.0.1",
           examples=("redis.internal",)),
    Option("port", "integer", "Redis port.", default=6379, minimum=1, maximum=65535,
           examples=(6380,)),
    Option("db", "integer", "Database number.", default=0, minimum=0, examples=(2,)),
    Option("username", "string", "ACL user name (Redis 6+).", default=None,
           examples=("integrator",)),
    Option("password", "string", "Password.", default=None, secret=True,
           examples=("${secret:REDIS_PASSWORD}",)),
    Option("tls", "boolean", "Connect with TLS.", default=False, examples=(True,)),
    Option("connect_timeout", "duration", "How long connecting and each command may "
           "take (blocking reads add their own wait).", default="5s", examples=("2s",)),
    Option("stream", "template", "The stream key: the source reads it (no template "
           "there); sinks add to it and may use {{ ... }}.", default=None,
           examples=("orders", "events:{{ market }}")),
    Option("body_field", "string", "The entry field holding the encoded body; \"*\" "
           "reads and writes the whole entry as an object of text fields.",
           default="body", examples=("payload", "*")),
    *codec_options(),
)


class RedisStreamsConnector(Connector):
    """Redis Streams through redis-py's asyncio client."""

    type_name = "redis-streams"
    summary = ("Redis Streams: a consumer group acked after delivery, reclaiming dead "
               "workers' entries; XADD with MAXLEN.")
    spec = ConfigSpec(_CONNECTION_OPTIONS)
    source_options = ConfigSpec((
        Option("group", "string", "The consumer group; it keeps the position between "
               "runs.", required=True, examples=("integrator",)),
        Option("consumer", "string", "This worker's name in the group; keep it stable "
               "so a restart reads its own pending entries first (default "
               "<host>-<flow>-<connection>).", default=None, examples=("worker-1",)),
        Option("create_group", "boolean", "Create the group (and the stream) when "
               "missing.", default=True, examples=(False,)),
        Option("start_id", "string", "Where a created group starts: `0` the whole "
               "stream, `$` only entries added later.", default="0", examples=("$",)),
        Option("claim_idle", "duration", "Take over entries another consumer left "
               "pending this long (a dead worker's).", default="60s", examples=("5m",)),
        *source_options(),
    ))
    actions = {
        "add": Action(
            "Append each payload as a stream entry (XADD).",
            ConfigSpec((
                Option("stream", "template", "Overrides the connection's stream key.",
                       default=None, examples=("orders:{{ market }}",)),
                Option("fields", "mapping", "More entry fields; text values may use "
                       "{{ ... }}.", default=None,
                       examples=({"market": "{{ market }}", "source": "shop"},)),
                Option("max_length", "integer", "Trim the stream to about this many "
                       "entries (MAXLEN).", default=None, minimum=1,
                       examples=(1_000_000,)),
                Option("approximate", "boolean", "Trim with `~` (efficient, keeps a few "
                       "more) rather than exactly.", default=True, examples=(False,)),
            )),
        ),
    }
    default_action = "add"
    capabilities = Capabilities(batching=True, ordering=True)
    examples = (
        "connections:\n  events:\n    type: redis-streams\n    host: redis.internal\n"
        "    stream: orders\n",
    )

    def __init__(self, name: str, config: Config, runtime: Any) -> None:
        super().__init__(name, config, runtime)
        self.where = f"connection {name!r} (redis-streams)"
        self.codec = BodyCodec(config.codec, config.max_message_size)

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        body = raw.get("body_field")
        if isinstance(body, str) and not body:
            return [OptionProblem("body_field", "body_field cannot be empty",
                                  "use \"*\" for the whole entry")]
        return []

    def client(self) -> Redis:
        """A client (connects on first command) without redis-py's own retries."""
        load_driver("redis", "redis", self.where)
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        c = self.config
        timeout = float(c.connect_timeout)
        return Redis(
            host=c.host, port=c.port, db=c.db, username=c.username,
            password=reveal(c.password), ssl=c.tls, socket_connect_timeout=timeout,
            socket_timeout=timeout + 30.0,  # above the longest blocking read
            retry=Retry(NoBackoff(), 0),
            client_name=f"integrator-{os.getpid()}-{self.name}",
        )

    async def check(self) -> CheckResult:
        started = time.monotonic()
        c = self.config
        try:
            r = self.client()
        except FatalError as exc:
            return CheckResult("misconfigured", exc.message, time.monotonic() - started)
        status = "ok"
        detail = f"connected to {c.host}:{c.port} db {c.db}"
        try:
            await r.ping()
            key = c.stream
            if key and "{{" not in key and "{%" not in key:
                kind = _text(await r.type(key))
                if kind == "none":
                    detail += f"; stream {key!r} does not exist yet (a source with " \
                              f"create_group creates it)"
                elif kind == "stream":
                    length = await r.xlen(key)
                    groups = await r.xinfo_groups(key)
                    detail += f"; stream {key!r} holds {length} entr(y/ies), " \
                              f"{len(groups)} group(s)"
                else:
                    status = "misconfigured"
                    detail += f"; key {key!r} holds a {kind}, not a stream"
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = classify(exc, self.where, "checking")
            status = error.context.get("status", "unreachable")
            detail = error.message
        finally:
            await r.aclose()
        return CheckResult(status, detail, time.monotonic() - started)

    def source(self, options: Config) -> RedisStreamsSource:
        stream = self.config.stream
        if not stream or "{{" in stream or "{%" in stream:
            raise FatalError(f"{self.where}: a source needs a fixed `stream` key",
                             hint="templates are for sinks")
        return RedisStreamsSource(self, stream, options)

    def sink(self, action: str, options: Config) -> RedisStreamsSink:
        if action != "add":
            raise FatalError(f"{self.where}: unknown action {action!r}",
                             hint="the redis-streams connector has one action: add")
        return RedisStreamsSink(self, options)
