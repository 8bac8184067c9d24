"""The ``amqp`` connector: RabbitMQ (AMQP 0-9-1) queues as a source, exchanges as a sink.

Datasheet
=========
:roles:    source (consume ``queue``) · sink (action ``publish``)
:driver:   aio-pika (``pip install 'integrator[amqp]'``), imported on first use
:source:   a consumer with manual acknowledgement and ``prefetch`` unacknowledged
           messages at most. ``Source.ack`` — called by the engine once every delivery
           of a message finished (written or dead-lettered) — sends ``basic.ack``;
           nothing else acknowledges. Messages the engine never acknowledged (the run
           failed, stopped or crashed) are requeued by RabbitMQ when the channel closes,
           and delivered again with ``redelivered`` set: at-least-once. RabbitMQ's
           ``consumer_timeout`` (30 minutes by default) closes the channel when one
           message stays unacknowledged longer: the read fails with a RetriableError
           and the message is redelivered.
:sink:     publisher confirms and ``mandatory`` on: ``write_batch`` returns only after
           RabbitMQ confirmed each message (``basic.ack``: routed, and written to disk
           for persistent messages on durable queues). An unroutable message (no queue
           bound for its routing key) comes back as ``basic.return`` and is a
           RejectedError for that delivery only; a ``basic.nack`` is a RetriableError.
           Exchange, routing key, headers and message id are rendered per message.
:topology: ``declare`` creates exchanges, queues (classic or quorum) and bindings when a
           source or sink opens — idempotently; different arguments for an existing
           queue are a FatalError (RabbitMQ's PRECONDITION_FAILED).

Messages in, records out
------------------------
The body is decoded by ``codec`` (json · text · bytes). ``meta`` holds ``queue``,
``exchange``, ``routing_key``, ``message_id`` (the AMQP message id, or
``<queue>#<delivery tag>``), ``redelivered``, ``headers`` (JSON-friendly), and
``content_type`` / ``correlation_id`` / ``timestamp`` when set. A body the codec cannot
decode is a Record with a DecodeError: the engine dead-letters it, then acknowledges it,
so a poison message never loops.

``follow: false`` ends the read when, for ``idle_timeout``, no message arrived and the
engine acknowledged nothing (see :mod:`.common`).

Errors
------
Refused connections, timeouts, a closed channel or connection, ``basic.nack`` →
RetriableError. Refused login, a vhost without permission, ACCESS_REFUSED, a missing
queue or exchange (NOT_FOUND), inequivalent declarations (PRECONDITION_FAILED) →
FatalError — except a missing exchange whose name is a per-message template, which is a
RejectedError for the deliveries that named it.

What it does not do
-------------------
No reconnecting consumer (the engine reopens the source); no transactions (confirms
instead); no content-encoding (gzip) handling; no per-message TTL or priority queues
beyond passing ``expiration``/``priority`` through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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
    DecodeError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
    RetriableError,
)

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractExchange,
        AbstractIncomingMessage,
        AbstractQueue,
    )

    from integrator.message import Message

__all__ = ["AmqpConnector", "AmqpSink", "AmqpSource", "Topology"]

log = logging.getLogger("integrator.connectors.amqp")

EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")
QUEUE_TYPES = ("classic", "quorum")
MAX_NAME = 255  # AMQP short strings: exchange, queue and routing key names
MAX_KNOWN_EXCHANGES = 4096


# --------------------------------------------------------------------------- topology

@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExchangeDecl:
    name: str
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueDecl:
    name: str
    type: str = "classic"
    durable: bool = True
    arguments: dict[str, Any] = field(default_factory=dict)
    bindings: tuple[Binding, ...] = ()

    def all_arguments(self) -> dict[str, Any]:
        args = dict(self.arguments)
        if self.type == "quorum":
            args["x-queue-type"] = "quorum"
        return args


@dataclass(frozen=True)
class Topology:
    """What ``declare`` asks for: exchanges, then queues with their bindings."""

    exchanges: tuple[ExchangeDecl, ...] = ()
    queues: tuple[QueueDecl, ...] = ()

    @property
    def queue_names(self) -> set[str]:
        return {q.name for q in self.queues}

    @property
    def exchange_names(self) -> set[str]:
        return {e.name for e in self.exchanges}

    @classmethod
    def parse(cls, raw: Any) -> tuple[Topology, list[str]]:
        """The topology and every problem found in ``raw`` (a ``declare`` mapping)."""
        problems: list[str] = []
        if raw is None:
            return cls(), problems
        if not isinstance(raw, Mapping):
            return cls(), ["declare must be a mapping with `exchanges` and/or `queues`"]
        for key in raw:
            if key not in ("exchanges", "queues"):
                problems.append(f"declare: unknown key {key!r} (exchanges, queues)")
        exchanges = [e for e in (_exchange(item, i, problems) for i, item in
                                 enumerate(_items(raw, "exchanges", problems))) if e]
        queues = [q for q in (_queue(item, i, problems) for i, item in
                              enumerate(_items(raw, "queues", problems))) if q]
        return cls(tuple(exchanges), tuple(queues)), problems


def _items(raw: Mapping[str, Any], key: str, problems: list[str]) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"declare.{key} must be a list")
        return []
    return value


def _known_keys(item: Mapping[str, Any], allowed: tuple[str, ...], where: str,
                problems: list[str]) -> None:
    for key in item:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} ({', '.join(allowed)})")


def _name(item: Mapping[str, Any], where: str, problems: list[str]) -> str | None:
    name = item.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        problems.append(f"{where}: `name` must be text of 1 to {MAX_NAME} characters")
        return None
    return name


def _flag(item: Mapping[str, Any], key: str, default: bool, where: str,
          problems: list[str]) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}: `{key}` must be true or false")
        return default
    return value


def _arguments(item: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    value = item.get("arguments") or {}
    if not isinstance(value, Mapping):
        problems.append(f"{where}: `arguments` must be a mapping (x-max-length: 1000)")
        return {}
    return dict(value)


def _exchange(item: Any, i: int, problems: list[str]) -> ExchangeDecl | None:
    where = f"declare.exchanges[{i}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be a mapping with `name` and `type`")
        return None
    _known_keys(item, ("name", "type", "durable", "auto_delete", "arguments"), where,
                problems)
    name = _name(item, where, problems)
    kind = item.get("type", "direct")
    if kind not in EXCHANGE_TYPES:
        problems.append(f"{where}: `type` must be one of {', '.join(EXCHANGE_TYPES)}")
        return None
    decl = ExchangeDecl(name or "", kind, _flag(item, "durable", True, where, problems),
                        _flag(item, "auto_delete", False, where, problems),
                        _arguments(item, where, problems))
    return decl if name else None


def _queue(item: Any, i: int, problems: list[str]) -> QueueDecl | None:
    where = f"declare.queues[{i}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be a mapping with `name`")
        return None
    _known_keys(item, ("name", "type", "durable", "arguments", "bind"), where, problems)
    name = _name(item, where, problems)
    kind = item.get("type", "classic")
    if kind not in QUEUE_TYPES:
        problems.append(f"{where}: `type` must be one of {', '.join(QUEUE_TYPES)}")
        return None
    durable = _flag(item, "durable", True, where, problems)
    if kind == "quorum" and not durable:
        problems.append(f"{where}: quorum queues are always durable")
    bindings: list[Binding] = []
    raw_bind = item.get("bind") or []
    if not isinstance(raw_bind, list):
        problems.append(f"{where}: `bind` must be a list of {{exchange, routing_key}}")
        raw_bind = []
    for j, b in enumerate(raw_bind):
        bw = f"{where}.bind[{j}]"
        if not isinstance(b, Mapping) or not isinstance(b.get("exchange"), str):
            problems.append(f"{bw}: needs `exchange` (and usually `routing_key`)")
            continue
        _known_keys(b, ("exchange", "routing_key", "arguments"), bw, problems)
        key = b.get("routing_key", "")
        if not isinstance(key, str):
            problems.append(f"{bw}: `routing_key` must be text")
            continue
        bindings.append(Binding(b["exchange"], key, _arguments(b, bw, problems)))
    decl = QueueDecl(name or "", kind, durable, _arguments(item, where, problems),
                     tuple(bindings))
    return decl if name else None


# --------------------------------------------------------------------------- errors

def _driver_errors() -> Any:
    import aiormq.exceptions

    return aiormq.exceptions


def classify(exc: BaseException, where: str, action: str) -> IntegratorError:
    """The integrator error for a driver exception raised while doing ``action``."""
    if isinstance(exc, IntegratorError):
        return exc
    errors = _driver_errors()
    text = excerpt(exc) or type(exc).__name__
    what = f"{where}: {action}"
    if isinstance(exc, errors.ProbableAuthenticationError | errors.AuthenticationError):
        return FatalError(f"{what}: RabbitMQ refused the login: {text}",
                          hint="check username and password",
                          context={"status": "auth-failed"})
    if isinstance(exc, errors.ChannelAccessRefused | errors.ConnectionNotAllowed):
        return FatalError(f"{what}: access refused: {text}",
                          hint="grant the user configure/write/read permissions on the "
                               "vhost (rabbitmqctl set_permissions)",
                          context={"status": "auth-failed"})
    if isinstance(exc, errors.ChannelNotFoundEntity):
        return FatalError(f"{what}: not found: {text}",
                          hint="create it, or list it under `declare` so the connector "
                               "declares it", context={"status": "misconfigured"})
    if isinstance(exc, errors.ChannelPreconditionFailed):
        return FatalError(f"{what}: RabbitMQ refused the declaration: {text}",
                          hint="an existing queue or exchange has other arguments; make "
                               "`declare` match it or delete it first",
                          context={"status": "misconfigured"})
    if isinstance(exc, errors.ProtocolSyntaxError) and "Connection.Close" in str(exc):
        return FatalError(f"{what}: RabbitMQ closed the connection while opening it "
                          f"(the vhost does not exist or the user may not use it)",
                          hint="check `vhost` and the user's permissions",
                          context={"status": "misconfigured"})
    if isinstance(exc, TimeoutError):
        return RetriableError(f"{what}: timed out", hint="is RabbitMQ overloaded or "
                              "unreachable?", context={"status": "unreachable"})
    if isinstance(exc, errors.AMQPError | OSError | RuntimeError | ConnectionError):
        return RetriableError(f"{what}: {type(exc).__name__}: {text}",
                              hint="RabbitMQ is unreachable or closed the connection; "
                                   "unacknowledged messages are redelivered",
                              context={"status": "unreachable"})
    return RetriableError(f"{what}: {type(exc).__name__}: {text}",
                          context={"status": "unreachable"})


def _plain(value: Any, depth: int = 0) -> Any:
    """AMQP header values as JSON-friendly values (bytes → text, times → ISO 8601)."""
    if depth > 16:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return value


# --------------------------------------------------------------------------- source

class AmqpSource(BrokerSource):
    """Consumes one queue; see the module datasheet for the guarantees."""

    def __init__(self, connector: AmqpConnector, queue: str, options: Config) -> None:
        super().__init__(connector.where, follow=options.follow,
                         idle_timeout=options.idle_timeout, batch_size=options.batch_size)
        self.connector = connector
        self.queue_name = queue
        self.prefetch: int = options.prefetch
        self.codec = connector.codec
        self._conn: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._unacked: dict[int, AbstractIncomingMessage] = {}
        self._generation = 0
        self._closed_by: BaseException | None = None

    async def open(self) -> None:
        self._generation += 1
        self._unacked.clear()
        self._inbox = asyncio.Queue()
        self._closed_by = None
        conn = await self.connector.connect()
        self._conn = conn
        try:
            channel = await conn.channel(publisher_confirms=False)
            self._channel = channel
            await self.connector.declare(channel)
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.get_queue(self.queue_name, ensure=True)
            self._queue = queue
            channel.close_callbacks.add(self._on_close)
            self._tag = await queue.consume(self._on_message, no_ack=False)
        except BaseException as exc:
            await self._shut()
            raise classify(exc, self.where, f"consuming queue {self.queue_name!r}") from None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    def _on_close(self, *args: Any) -> None:
        exc = next((a for a in args if isinstance(a, BaseException)), None)
        self._closed_by = exc or ConnectionError("channel closed")
        self._inbox.put_nowait(None)  # wakes a waiting _receive

    def _broken(self) -> RetriableError:
        exc = self._closed_by or ConnectionError("channel closed")
        error = classify(exc, self.where, f"consuming queue {self.queue_name!r}")
        if isinstance(error, RetriableError):
            return error
        return RetriableError(error.message, hint=error.hint)

    async def _receive(self, limit: int, wait: float) -> list[Record]:
        inbox = self._inbox
        if self._closed_by is not None:
            raise self._broken()
        messages: list[AbstractIncomingMessage] = []
        if inbox.empty():
            try:
                first = await asyncio.wait_for(inbox.get(), wait) if wait > 0 else None
            except TimeoutError:
                first = None
            if first is None:
                if self._closed_by is not None:
                    raise self._broken()
                return []
            messages.append(first)
        while len(messages) < limit and not inbox.empty():
            item = inbox.get_nowait()
            if item is None:
                break
            messages.append(item)
        return [self._record(m) for m in messages]

    def _record(self, m: AbstractIncomingMessage) -> Record:
        tag = m.delivery_tag or 0
        self._unacked[tag] = m
        token = (self._generation, tag)
        message_id = m.message_id or f"{self.queue_name}#{tag}"
        meta: dict[str, Any] = {
            "queue": self.queue_name,
            "exchange": m.exchange,
            "routing_key": m.routing_key,
            "message_id": message_id,
            "redelivered": bool(m.redelivered),
            "headers": _plain(dict(m.headers or {})),
        }
        if m.content_type:
            meta["content_type"] = m.content_type
        if m.correlation_id:
            meta["correlation_id"] = m.correlation_id
        if m.timestamp:
            meta["timestamp"] = _plain(m.timestamp)
        body = m.body
        try:
            value = self.codec.decode(
                body, f"{self.where}: queue {self.queue_name!r} message {message_id}",
                {"queue": self.queue_name, "message_id": message_id})
        except DecodeError as exc:
            return self.codec.bad_record(exc, body, meta, token)
        return Record(value, meta, token)

    async def ack(self, tokens: Sequence[Any]) -> None:
        """``basic.ack`` for each token of this connection; the engine calls it only
        once a message's every delivery finished."""
        self._touch()
        for tag in tokens_of(tokens, self._generation):
            message = self._unacked.pop(tag, None)
            if message is None:
                continue
            try:
                await message.ack()
            except BaseException as exc:
                raise classify(exc, self.where, f"acknowledging on {self.queue_name!r}") \
                    from None

    async def close(self) -> None:
        """Close the channel: RabbitMQ requeues every message not acknowledged."""
        await self._shut()

    async def _shut(self) -> None:
        conn, self._conn = self._conn, None
        self._channel = None
        self._queue = None
        self._unacked.clear()
        if conn is not None and not conn.is_closed:
            try:
                await conn.close()
            except Exception as exc:  # closing a broken connection: nothing to save
                log.debug("%s: closing the connection: %s", self.where, exc)


# --------------------------------------------------------------------------- sink

@dataclass
class _Prepared:
    index: int
    exchange: str
    routing_key: str
    message: Any  # aio_pika.Message


class AmqpSink(Sink):
    """Publishes with confirms; see the module datasheet for the guarantees."""

    def __init__(self, connector: AmqpConnector, options: Config) -> None:
        self.connector = connector
        self.where = connector.where
        config = connector.config
        name = f"{connector.name}.publish"
        exchange = options.exchange if options.exchange is not None else config.exchange
        routing_key = (options.routing_key if options.routing_key is not None
                       else config.routing_key)
        if routing_key is None:
            raise FatalError(f"{self.where}: publishing needs a routing_key",
                             hint="set routing_key on the connection or the sink "
                                  "(\"\" for fanout exchanges)")
        self.exchange = TextField(exchange or "", f"{name}.exchange")
        self.routing_key = TextField(routing_key, f"{name}.routing_key")
        self.headers = HeaderFields(options.headers, f"{name}.headers")
        self.message_id = TextField.of(options.message_id, f"{name}.message_id")
        self.correlation_id = TextField.of(options.correlation_id,
                                           f"{name}.correlation_id")
        self.persistent: bool = options.persistent
        self.mandatory: bool = options.mandatory
        self.priority: int | None = options.priority
        self.expiration: float | None = options.expiration
        self.timeout: float = options.publish_timeout
        self.codec = connector.codec
        self._conn: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._known: set[str] = set(connector.topology.exchange_names) | {""}
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        await self._connect()
        if not self.exchange.templated:
            name = self.exchange.constant or ""
            if name not in self._known and not await self._exists(name):
                await self._shut()
                raise FatalError(f"{self.where}: exchange {name!r} does not exist",
                                 hint="create it, or list it under declare.exchanges",
                                 context={"status": "misconfigured"})

    async def _connect(self) -> AbstractChannel:
        """The open publishing channel, or a new connection when it broke. Locked:
        sink workers (``concurrency`` > 1) share this sink."""
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._lock:
            channel = self._channel
            if channel is not None and not channel.is_closed:
                return channel
            return await self._reconnect()

    async def _reconnect(self) -> AbstractChannel:
        await self._shut()
        conn = await self.connector.connect()
        self._conn = conn
        try:
            channel = await conn.channel(publisher_confirms=True, on_return_raises=True)
            await self.connector.declare(channel)
        except BaseException as exc:
            await self._shut()
            raise classify(exc, self.where, "opening a publishing channel") from None
        self._channel = channel
        self._exchanges = {}
        return channel

    async def _exists(self, name: str) -> bool:
        """Passive declare on a channel of its own (NOT_FOUND closes that channel)."""
        if name in self._known:
            return True
        assert self._conn is not None
        errors = _driver_errors()
        try:
            probe = await self._conn.channel(publisher_confirms=False)
        except BaseException as exc:
            raise classify(exc, self.where, f"checking exchange {name!r}") from None
        try:
            await probe.declare_exchange(name, passive=True)
        except errors.ChannelNotFoundEntity:
            return False
        except BaseException as exc:
            raise classify(exc, self.where, f"checking exchange {name!r}") from None
        finally:
            if not probe.is_closed:
                await probe.close()
        if len(self._known) >= MAX_KNOWN_EXCHANGES:
            self._known = set(self.connector.topology.exchange_names) | {""}
        self._known.add(name)
        return True

    def _prepare(self, index: int, delivery: Delivery, aio_pika: Any) -> _Prepared:
        msg: Message = delivery.message
        try:
            exchange = self.exchange.render(delivery)
        except MessageError as exc:
            raise render_error(exc, "exchange") from None
        try:
            routing_key = self.routing_key.render(delivery)
        except MessageError as exc:
            raise render_error(exc, "routing_key") from None
        for label, value in (("exchange", exchange), ("routing key", routing_key)):
            if len(value.encode("utf-8")) > MAX_NAME:
                raise RejectedError(f"{self.where}: the {label} {excerpt(value, 80)!r} is "
                                    f"longer than {MAX_NAME} bytes")
        body = self.codec.encode(delivery.payload)
        headers = self.headers.render(delivery) if self.headers else None
        message_id = self.message_id.render(delivery) if self.message_id else msg.id
        correlation = (self.correlation_id.render(delivery) if self.correlation_id
                       else msg.correlation)
        message = aio_pika.Message(
            body,
            headers=headers,
            content_type=self.codec.content_type,
            delivery_mode=(aio_pika.DeliveryMode.PERSISTENT if self.persistent
                           else aio_pika.DeliveryMode.NOT_PERSISTENT),
            message_id=message_id,
            correlation_id=correlation,
            priority=self.priority,
            expiration=self.expiration,
            timestamp=dt.datetime.now(dt.UTC),
        )
        return _Prepared(index, exchange, routing_key, message)

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        aio_pika = load_driver("aio_pika", "amqp", self.where)
        channel = await self._connect()
        results: list[IntegratorError | None] = [None] * len(deliveries)
        jobs: list[_Prepared] = []
        for i, delivery in enumerate(deliveries):
            try:
                jobs.append(self._prepare(i, delivery, aio_pika))
            except MessageError as exc:
                results[i] = exc
        missing: set[str] = set()
        for name in {job.exchange for job in jobs} - self._known:
            if not await self._exists(name):
                missing.add(name)
        ready: list[_Prepared] = []
        for job in jobs:
            if job.exchange in missing:
                results[job.index] = RejectedError(
                    f"{self.where}: exchange {job.exchange!r} does not exist",
                    hint="the exchange name comes from the message; create the exchange "
                         "or fix the data", context={"exchange": job.exchange})
            else:
                ready.append(job)
        outcomes = await asyncio.gather(*(self._publish(channel, job) for job in ready),
                                        return_exceptions=True)
        for job, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, FatalError):
                raise outcome
            if isinstance(outcome, IntegratorError):
                results[job.index] = outcome
            elif isinstance(outcome, BaseException):
                error = classify(outcome, self.where,
                                 f"publishing to {job.exchange or '(default)'!r}")
                if isinstance(error, FatalError):
                    raise error
                results[job.index] = error
        if all(r is None for r in results):
            return None
        return results

    async def _publish(self, channel: AbstractChannel, job: _Prepared) -> None:
        errors = _driver_errors()
        exchange = self._exchanges.get(job.exchange)
        if exchange is None:
            if job.exchange == "":
                exchange = channel.default_exchange
            else:
                exchange = await channel.get_exchange(job.exchange, ensure=False)
            if len(self._exchanges) < MAX_KNOWN_EXCHANGES:
                self._exchanges[job.exchange] = exchange
        target = f"exchange {job.exchange or '(default)'!r} routing key {job.routing_key!r}"
        try:
            await exchange.publish(job.message, job.routing_key, mandatory=self.mandatory,
                                   timeout=self.timeout)
        except errors.PublishError as exc:
            text = excerpt(getattr(exc.frame, "reply_text", "") or exc)
            raise RejectedError(
                f"{self.where}: RabbitMQ returned the message as unroutable ({text}): "
                f"{target}",
                hint="no queue is bound for this routing key; bind one (declare.queues"
                     "[].bind) or fix the routing key",
                context={"exchange": job.exchange, "routing_key": job.routing_key},
            ) from None
        except errors.DeliveryError as exc:
            raise RetriableError(
                f"{self.where}: RabbitMQ refused the message (basic.nack): {target}: "
                f"{excerpt(exc)}",
                hint="the queue may be full (x-overflow reject-publish) or the broker "
                     "low on resources",
            ) from None
        except TimeoutError:
            raise RetriableError(
                f"{self.where}: no confirm within {self.timeout:g}s: {target}",
                hint="the message may have been published; a retry can duplicate it",
            ) from None

    async def close(self) -> None:
        await self._shut()

    async def _shut(self) -> None:
        conn, self._conn = self._conn, None
        self._channel = None
        if conn is not None and not conn.is_closed:
            try:
                await conn.close()
            except Exception as exc:
                log.debug("%s: closing the connection: %s", self.where, exc)


# --------------------------------------------------------------------------- connector

_CONNECTION_OPTIONS = (
    Option("host", "string", "RabbitMQ host name or address.", default="127.0.0.1",
           examples=("rabbitmq.internal",)),
    Option("port", "integer", "AMQP port (5671 for TLS).", default=5672, minimum=1,
           maximum=65535, examples=(5671,)),
    Option("vhost", "string", "The virtual host.", default="/", examples=("erp",)),
    Option("username", "string", "User name.", default="guest", examples=("integrator",)),
    Option("password", "string", "Password.", default="guest", secret=True,
           examples=("${secret:RABBITMQ_PASSWORD}",)),
    Option("tls", "boolean", "Connect with TLS (amqps).", default=False, examples=(True,)),
    Option("connect_timeout", "duration", "How long connecting may take.", default="10s",
           examples=("5s",)),
    Option("heartbeat", "duration", "AMQP heartbeat interval (0 turns heartbeats off).",
           default="60s", examples=("30s",)),
    Option("queue", "string", "The queue a source consumes; `integrator check` verifies "
           "it exists (unless it is declared).", default=None, examples=("orders.in",)),
    Option("exchange", "template", "The exchange sinks publish to (\"\" is the default "
           "exchange, which routes by queue name); may use {{ ... }}.", default="",
           examples=("orders", "events.{{ market }}")),
    Option("routing_key", "template", "The routing key sinks publish with; may use "
           "{{ ... }}.", default=None, examples=("order.{{ market }}.created",)),
    Option("declare", "mapping",
           "Exchanges, queues and bindings to declare when a source or sink opens: "
           "`exchanges: [{name, type, durable, auto_delete, arguments}]`, "
           "`queues: [{name, type: classic|quorum, durable, arguments, "
           "bind: [{exchange, routing_key, arguments}]}]`.",
           default=None,
           examples=({"exchanges": [{"name": "orders", "type": "topic"}],
                      "queues": [{"name": "orders.pl", "type": "quorum",
                                  "bind": [{"exchange": "orders",
                                            "routing_key": "PL.#"}]}]},)),
    *codec_options(),
)


class AmqpConnector(Connector):
    """RabbitMQ through AMQP 0-9-1 (aio-pika)."""

    type_name = "amqp"
    summary = ("RabbitMQ: consume a queue with manual acks, publish with confirms and "
               "mandatory routing.")
    spec = ConfigSpec(_CONNECTION_OPTIONS)
    source_options = ConfigSpec((
        Option("prefetch", "integer", "The most unacknowledged messages RabbitMQ sends "
               "this consumer (basic.qos).", default=200, minimum=1, maximum=65535,
               examples=(1000,)),
        *source_options(),
    ))
    actions = {
        "publish": Action(
            "Publish each payload to an exchange with a routing key, waiting for the "
            "broker's confirm.",
            ConfigSpec((
                Option("exchange", "template", "Overrides the connection's exchange.",
                       default=None, examples=("orders",)),
                Option("routing_key", "template", "Overrides the connection's routing key.",
                       default=None, examples=("{{ market }}.order",)),
                Option("headers", "mapping", "Message headers; text values may use "
                       "{{ ... }}.", default=None,
                       examples=({"x-market": "{{ market }}", "x-source": "shop"},)),
                Option("message_id", "template", "The AMQP message id (default: the "
                       "integrator message id).", default=None,
                       examples=("order-{{ id }}",)),
                Option("correlation_id", "template", "The AMQP correlation id (default: "
                       "the message's correlation id).", default=None,
                       examples=("{{ meta.correlation_id }}",)),
                Option("persistent", "boolean", "Delivery mode 2: durable queues keep the "
                       "message across broker restarts.", default=True,
                       examples=(False,)),
                Option("mandatory", "boolean", "Unroutable messages come back and are "
                       "rejected (false: RabbitMQ drops them silently).", default=True,
                       examples=(False,)),
                Option("priority", "integer", "Message priority (priority queues).",
                       default=None, minimum=0, maximum=255, examples=(5,)),
                Option("expiration", "duration", "Per-message TTL.", default=None,
                       examples=("1h",)),
                Option("publish_timeout", "duration", "How long to wait for the "
                       "broker's confirm.", default="30s", examples=("10s",)),
            )),
        ),
    }
    default_action = "publish"
    capabilities = Capabilities(batching=True, ordering=True)
    examples = (
        "connections:\n  rabbit:\n    type: amqp\n    host: rabbitmq.internal\n"
        "    username: integrator\n    password: ${secret:RABBITMQ_PASSWORD}\n"
        "    queue: orders.in\n",
        "connections:\n  events:\n    type: amqp\n    exchange: events\n"
        "    routing_key: \"order.{{ market }}\"\n    declare:\n      exchanges:\n"
        "        - {name: events, type: topic}\n      queues:\n"
        "        - name: orders.pl\n          type: quorum\n"
        "          bind: [{exchange: events, routing_key: order.PL}]\n",
    )

    def __init__(self, name: str, config: Config, runtime: Any) -> None:
        super().__init__(name, config, runtime)
        self.where = f"connection {name!r} (amqp)"
        self.topology, problems = Topology.parse(config.declare)
        if problems:
            raise FatalError(f"{self.where}: {problems[0]}",
                             hint=f"{len(problems)} problem(s) in `declare`")
        self.codec = BodyCodec(config.codec, config.max_message_size)

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        _, problems = Topology.parse(raw.get("declare"))
        return [OptionProblem("declare", p) for p in problems]

    async def connect(self) -> AbstractConnection:
        """A new connection; RetriableError when unreachable, FatalError when refused."""
        aio_pika = load_driver("aio_pika", "amqp", self.where)
        c = self.config
        timeout = float(c.connect_timeout)
        try:
            conn: AbstractConnection = await asyncio.wait_for(
                aio_pika.connect(
                    host=c.host, port=c.port, login=c.username,
                    password=reveal(c.password) or "", virtualhost=c.vhost, ssl=c.tls,
                    timeout=timeout, heartbeat=int(c.heartbeat),
                    client_properties={"connection_name":
                                       f"integrator {self.runtime.flow}/{self.name} "
                                       f"(pid {os.getpid()})"},
                ),
                timeout + 1,
            )
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"connecting to {c.host}:{c.port}") from None
        return conn

    async def declare(self, channel: AbstractChannel) -> None:
        """Declare the configured topology (idempotent)."""
        topology = self.topology
        try:
            for e in topology.exchanges:
                await channel.declare_exchange(e.name, e.type, durable=e.durable,
                                               auto_delete=e.auto_delete,
                                               arguments=e.arguments or None)
            for q in topology.queues:
                queue = await channel.declare_queue(q.name, durable=q.durable or
                                                    q.type == "quorum",
                                                    arguments=q.all_arguments() or None)
                for b in q.bindings:
                    await queue.bind(b.exchange, b.routing_key,
                                     arguments=b.arguments or None)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "declaring the topology") from None

    async def check(self) -> CheckResult:
        started = time.monotonic()
        c = self.config
        try:
            conn = await self.connect()
        except IntegratorError as exc:
            status = exc.context.get("status", "unreachable")
            return CheckResult(status, exc.message, time.monotonic() - started)
        details = [f"connected to {c.host}:{c.port} vhost {c.vhost!r} as {c.username!r}"]
        status = "ok"
        errors = _driver_errors()
        try:
            probes: list[tuple[str, str]] = []
            if c.queue and c.queue not in self.topology.queue_names:
                probes.append(("queue", c.queue))
            exchange = c.exchange or ""
            if exchange and "{" not in exchange and exchange not in \
                    self.topology.exchange_names:
                probes.append(("exchange", exchange))
            for kind, name in probes:
                channel = await conn.channel(publisher_confirms=False)
                try:
                    if kind == "queue":
                        q = await channel.declare_queue(name, passive=True)
                        count = q.declaration_result.message_count
                        details.append(f"queue {name!r} holds {count} ready message(s)")
                    else:
                        await channel.declare_exchange(name, passive=True)
                        details.append(f"exchange {name!r} exists")
                except errors.ChannelNotFoundEntity:
                    status = "misconfigured"
                    details.append(f"{kind} {name!r} does not exist")
                except errors.ChannelAccessRefused:
                    status = "auth-failed"
                    details.append(f"no access to {kind} {name!r}")
                finally:
                    if not channel.is_closed:
                        await channel.close()
            if self.topology.exchanges or self.topology.queues:
                details.append(f"declares {len(self.topology.exchanges)} exchange(s) and "
                               f"{len(self.topology.queues)} queue(s) on open")
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = classify(exc, self.where, "checking")
            status = error.context.get("status", "unreachable")
            details.append(error.message)
        finally:
            if not conn.is_closed:
                await conn.close()
        return CheckResult(status, "; ".join(details), time.monotonic() - started)

    def source(self, options: Config) -> AmqpSource:
        if not self.config.queue:
            raise FatalError(f"{self.where}: a source needs `queue`",
                             hint="set queue: <name> on the connection")
        return AmqpSource(self, self.config.queue, options)

    def sink(self, action: str, options: Config) -> AmqpSink:
        if action != "publish":
            raise FatalError(f"{self.where}: unknown action {action!r}",
                             hint="the amqp connector has one action: publish")
        return AmqpSink(self, options)
