"""The ``nats`` connector: NATS JetStream streams as a source and a sink.

Datasheet
=========
:roles:    source (a durable pull consumer of ``stream``) · sink (action ``publish``)
:driver:   nats-py (``pip install 'integrator[nats]'``), imported on first use
:source:   fetches up to ``batch_size`` messages per pull from the durable consumer
           ``durable`` (created on first use with explicit acks, ``ack_wait``,
           ``max_deliver``, ``max_ack_pending``, ``filter_subject``; an existing consumer
           is used as it is). ``Source.ack`` — called by the engine once every delivery
           of a message finished — sends ``+ACK`` for each message and flushes the
           connection (PING/PONG), so the acks reached the server before it returns.
           Nothing else acknowledges. While a message is out, the source sends
           ``+WPI`` (work in progress) every ``ack_wait``/3, so a slow sink does not make
           the server redeliver it mid-run. When the source closes, every message it
           handed out and the engine did not acknowledge (the run failed or stopped) is
           given back with ``-NAK`` and a delay of ``nak_delay``; a crashed process gives
           nothing back, and the server redelivers after ``ack_wait``. After
           ``max_deliver`` deliveries the server stops redelivering a message.
           At-least-once.
:sink:     publishes each payload to its rendered ``subject`` and waits for JetStream's
           PubAck (the message is stored in the stream). With ``idempotency_key``, the
           rendered key is sent as ``Nats-Msg-Id``: the stream drops a second message with
           the same id within its ``duplicate_window`` — a retried publish is stored once.
:stream:   ``create_stream: true`` creates ``stream`` with ``subjects`` when a source or
           sink opens and it does not exist; an existing stream is never changed.

Messages in, records out
------------------------
``meta``: ``subject``, ``stream``, ``sequence`` (stream sequence), ``num_delivered``,
``redelivered``, ``message_id`` (``Nats-Msg-Id`` or ``<stream>:<sequence>``),
``headers``, ``timestamp``. An undecodable body is a Record with a DecodeError (the
engine dead-letters, then acknowledges it).

Errors
------
No servers, timeouts, a closed connection, JetStream 5xx/503 → RetriableError. An
authorization violation, a missing stream (and no ``create_stream``), JetStream not
enabled → FatalError. A subject no stream listens on (“no responders”), and a 4xx answer
to one publish → RejectedError for that delivery.

What it does not do
-------------------
The engine has no negative-acknowledgement hook yet: a message whose processing failed
is dead-lettered and acknowledged by the engine, so ``-NAK`` is only sent at close for
messages that were never finished. No push consumers, no key-value or object store, no
ordered consumers, no nkeys/JWT credentials files (user/password and token only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
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
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext


__all__ = ["NatsConnector", "NatsSink", "NatsSource"]

log = logging.getLogger("integrator.connectors.nats")

MSG_ID = "Nats-Msg-Id"
EXPECTED_STREAM = "Nats-Expected-Stream"
MAX_SUBJECT = 1024
#: JetStream error codes that mean "the stream is full": try again later
_FULL_CODES = {10077, 10078, 10047}


# --------------------------------------------------------------------------- errors

def classify(exc: BaseException, where: str, action: str,
             last_error: BaseException | None = None) -> IntegratorError:
    """The integrator error for a nats-py exception raised while doing ``action``."""
    if isinstance(exc, IntegratorError):
        return exc
    import nats.errors
    import nats.js.errors

    what = f"{where}: {action}"
    text = excerpt(exc) or type(exc).__name__
    cause = last_error if isinstance(exc, nats.errors.NoServersError) else exc
    auth_text = "authorization violation"
    if (isinstance(cause, nats.errors.AuthorizationError)
            or auth_text in str(cause).lower()
            or isinstance(exc, nats.errors.AuthorizationError)):
        return FatalError(f"{what}: the NATS server refused the credentials",
                          hint="check user/password or token",
                          context={"status": "auth-failed"})
    if "permissions violation" in text.lower():
        return FatalError(f"{what}: permission denied: {text}",
                          hint="allow this user to publish/subscribe the subjects",
                          context={"status": "auth-failed"})
    if isinstance(exc, nats.js.errors.APIError):
        code = exc.code or 0
        desc = excerpt(exc.description or text)
        if code == 503 or code >= 500 or exc.err_code in _FULL_CODES:
            return RetriableError(f"{what}: JetStream answered {code}: {desc}",
                                  context={"status": "unreachable"})
        if code == 404 or isinstance(exc, nats.js.errors.NotFoundError):
            return FatalError(f"{what}: not found: {desc}",
                              hint="create the stream (or set create_stream: true)",
                              context={"status": "misconfigured"})
        return FatalError(f"{what}: JetStream refused: {code} {desc}",
                          hint="check the stream and consumer options",
                          context={"status": "misconfigured"})
    if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
        return FatalError(f"{what}: JetStream did not answer (no responders)",
                          hint="is JetStream enabled on the server (nats-server -js)?",
                          context={"status": "misconfigured"})
    if isinstance(exc, TimeoutError | nats.errors.TimeoutError):
        return RetriableError(f"{what}: timed out", context={"status": "unreachable"})
    if isinstance(exc, nats.errors.Error | OSError | ConnectionError):
        reason = excerpt(cause) if cause is not None else text
        return RetriableError(f"{what}: {type(exc).__name__}: {reason}",
                              hint="the NATS server is unreachable or closed the "
                                   "connection; unacknowledged messages are redelivered",
                              context={"status": "unreachable"})
    return RetriableError(f"{what}: {type(exc).__name__}: {text}",
                          context={"status": "unreachable"})


# --------------------------------------------------------------------------- source

class NatsSource(BrokerSource):
    """A durable pull consumer; see the module datasheet for the guarantees."""

    def __init__(self, connector: NatsConnector, options: Config) -> None:
        super().__init__(connector.where, follow=options.follow,
                         idle_timeout=options.idle_timeout, batch_size=options.batch_size)
        self.connector = connector
        self.stream: str = connector.config.stream
        self.durable: str = options.durable
        self.options = options
        self.codec = connector.codec
        self.nak_delay: float = options.nak_delay
        self._nc: NatsClient | None = None
        self._sub: Any = None
        self._out: dict[int, Msg] = {}
        self._generation = 0

    async def open(self) -> None:
        self._generation += 1
        self._out = {}
        nc, js = await self.connector.connect()  # FatalError naming the extra, first
        self._nc = nc
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        o = self.options
        action = f"opening durable consumer {self.durable!r} on stream {self.stream!r}"
        try:
            await self.connector.ensure_stream(js)
            try:
                await js.consumer_info(self.stream, self.durable)
            except Exception as exc:
                import nats.js.errors

                if not isinstance(exc, nats.js.errors.NotFoundError):
                    raise
                config = ConsumerConfig(
                    durable_name=self.durable, name=self.durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=(DeliverPolicy.NEW if o.deliver_policy == "new"
                                    else DeliverPolicy.ALL),
                    ack_wait=o.ack_wait, max_deliver=o.max_deliver,
                    max_ack_pending=o.max_ack_pending, filter_subject=o.filter_subject,
                )
                await js.add_consumer(self.stream, config=config)
            self._sub = await js.pull_subscribe_bind(durable=self.durable,
                                                     stream=self.stream)
        except BaseException as exc:
            await self._shut()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, action, self.connector.last_error) from None
        self._start_keepalive(max(o.ack_wait / 3, 0.05))

    async def _receive(self, limit: int, wait: float) -> list[Record]:
        import nats.errors

        sub = self._sub
        if sub is None or self._nc is None or self._nc.is_closed:
            raise RetriableError(f"{self.where}: the connection to NATS is closed",
                                 hint="unacknowledged messages are redelivered")
        try:
            msgs = await sub.fetch(limit, timeout=max(wait, 0.05))
        except (nats.errors.TimeoutError, TimeoutError):
            return []  # nothing came within ``wait``
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"fetching from {self.durable!r}",
                           self.connector.last_error) from None
        return [self._record(m) for m in msgs]

    def _record(self, m: Msg) -> Record:
        md = m.metadata
        seq = md.sequence.stream
        self._out[seq] = m
        token = (self._generation, seq)
        headers = dict(m.headers or {})
        message_id = headers.get(MSG_ID) or f"{md.stream}:{seq}"
        meta: dict[str, Any] = {
            "subject": m.subject,
            "stream": md.stream,
            "sequence": seq,
            "num_delivered": md.num_delivered,
            "redelivered": md.num_delivered > 1,
            "message_id": message_id,
            "headers": headers,
        }
        if md.timestamp is not None:
            meta["timestamp"] = md.timestamp.isoformat()
        data = bytes(m.data)
        try:
            body = self.codec.decode(
                data, f"{self.where}: stream {md.stream!r} message {message_id}",
                {"stream": md.stream, "sequence": seq, "subject": m.subject})
        except DecodeError as exc:
            return self.codec.bad_record(exc, data, meta, token)
        return Record(body, meta, token)

    async def ack(self, tokens: Sequence[Any]) -> None:
        """``+ACK`` every message of ``tokens``, then flush: the server has the acks."""
        self._touch()
        msgs = [m for m in (self._out.pop(seq, None)
                            for seq in tokens_of(tokens, self._generation)) if m]
        if not msgs:
            return
        nc = self._nc
        try:
            for m in msgs:
                await m.ack()
            if nc is not None:
                await nc.flush(timeout=10)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"acknowledging on {self.durable!r}",
                           self.connector.last_error) from None

    async def _keepalive(self) -> None:
        """``+WPI`` for every message still out, so ``ack_wait`` does not expire."""
        msgs = list(self._out.values())
        if not msgs or self._nc is None or self._nc.is_closed:
            return
        try:
            for m in msgs:
                await m.in_progress()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "extending ack_wait",
                           self.connector.last_error) from None

    async def close(self) -> None:
        """Give back what was not acknowledged (``-NAK`` after ``nak_delay``), close."""
        self._stop_keepalive()
        out, self._out = list(self._out.values()), {}
        nc = self._nc
        if out and nc is not None and not nc.is_closed:
            try:
                for m in out:
                    await m.nak(delay=self.nak_delay or None)
                await nc.flush(timeout=5)
            except Exception as exc:  # they come back after ack_wait anyway
                log.info("%s: could not give %d message(s) back: %s", self.where,
                         len(out), exc)
        await self._shut()

    async def _shut(self) -> None:
        self._stop_keepalive()
        nc, self._nc = self._nc, None
        self._sub = None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as exc:
                log.debug("%s: closing the connection: %s", self.where, exc)


# --------------------------------------------------------------------------- sink

class NatsSink(Sink):
    """Publishes with JetStream PubAcks; see the module datasheet."""

    def __init__(self, connector: NatsConnector, options: Config) -> None:
        self.connector = connector
        self.where = connector.where
        name = f"{connector.name}.publish"
        self.subject = TextField(options.subject, f"{name}.subject")
        self.headers = HeaderFields(options.headers, f"{name}.headers")
        self.idempotency_key = TextField.of(options.idempotency_key,
                                            f"{name}.idempotency_key")
        self.expect_stream: str | None = (connector.config.stream if options.expect_stream
                                          else None)
        self.timeout: float = options.publish_timeout
        self.codec = connector.codec
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        nc, js = await self.connector.connect()
        self._nc, self._js = nc, js
        import nats.js.errors

        subject = self.subject.constant
        try:
            await self.connector.ensure_stream(js)
            if subject:
                await js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            await self.close()
            raise FatalError(f"{self.where}: no stream stores subject {subject!r}",
                             hint="add the subject to a stream's subjects (or set "
                                  "create_stream and subjects)",
                             context={"status": "misconfigured"}) from None
        except BaseException as exc:
            await self.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"opening the sink for {subject!r}",
                           self.connector.last_error) from None

    def _prepare(self, delivery: Delivery) -> tuple[str, bytes, dict[str, str] | None]:
        try:
            subject = self.subject.render(delivery)
        except MessageError as exc:
            raise render_error(exc, "subject") from None
        if (not subject or len(subject) > MAX_SUBJECT or any(c in subject for c in " \t\r\n")
                or "*" in subject.split(".") or ">" in subject.split(".")
                or "" in subject.split(".")):
            raise RejectedError(f"{self.where}: {excerpt(subject, 80)!r} is not a subject "
                                f"one can publish to",
                                hint="subjects are dot-separated tokens without spaces or "
                                     "wildcards")
        body = self.codec.encode(delivery.payload)
        headers: dict[str, str] = {}
        if self.headers:
            headers = {k: "" if v is None else str(v)
                       for k, v in self.headers.render(delivery).items()}
        if self.idempotency_key is not None:
            try:
                headers[MSG_ID] = self.idempotency_key.render(delivery)
            except MessageError as exc:
                raise render_error(exc, "idempotency_key") from None
        if self.expect_stream:
            headers[EXPECTED_STREAM] = self.expect_stream
        return subject, body, headers or None

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        import nats.js.errors

        js = self._js
        if js is None or self._nc is None or self._nc.is_closed:
            async with self._lock:  # sink workers share this sink
                if self._js is None or self._nc is None or self._nc.is_closed:
                    await self.close()
                    await self.open()
            js = self._js
            assert js is not None
        results: list[IntegratorError | None] = [None] * len(deliveries)
        futures: list[tuple[int, str, asyncio.Future[Any]]] = []
        for i, delivery in enumerate(deliveries):
            try:
                subject, body, headers = self._prepare(delivery)
            except MessageError as exc:
                results[i] = exc
                continue
            try:
                future = await js.publish_async(subject, body, headers=headers,
                                                wait_stall=self.timeout)
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise classify(exc, self.where, f"publishing to {subject!r}",
                               self.connector.last_error) from None
            futures.append((i, subject, future))
        if futures:
            _, pending = await asyncio.wait([f for _, _, f in futures],
                                            timeout=self.timeout)
            for f in pending:
                f.cancel()
        for i, subject, future in futures:
            if future.cancelled():
                results[i] = RetriableError(
                    f"{self.where}: no PubAck within {self.timeout:g}s for {subject!r}",
                    hint="it may have been stored; with idempotency_key a retry is "
                         "stored once")
                continue
            failure = future.exception()
            if failure is None:
                continue
            if isinstance(failure, nats.js.errors.NoStreamResponseError):
                results[i] = RejectedError(
                    f"{self.where}: no stream stores subject {subject!r}",
                    hint="the subject comes from the message; add it to a stream's "
                         "subjects or fix the data", context={"subject": subject})
                continue
            if isinstance(failure, nats.js.errors.APIError) and failure.code == 400 \
                    and failure.err_code not in _FULL_CODES:
                if failure.err_code == 10060:  # expected stream does not match
                    raise FatalError(
                        f"{self.where}: subject {subject!r} is stored by another stream "
                        f"than {self.expect_stream!r}",
                        hint="fix the subject or the stream's subjects")
                results[i] = RejectedError(
                    f"{self.where}: JetStream refused the message for {subject!r}: "
                    f"{excerpt(failure.description or failure)}",
                    context={"subject": subject})
                continue
            error = classify(failure, self.where, f"publishing to {subject!r}",
                             self.connector.last_error)
            if isinstance(error, FatalError):
                raise error
            results[i] = error
        if all(r is None for r in results):
            return None
        return results

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as exc:
                log.debug("%s: closing the connection: %s", self.where, exc)


# --------------------------------------------------------------------------- connector

_CONNECTION_OPTIONS = (
    Option("servers", "list", "NATS server URLs (nats:// or tls://).",
           default=["nats://127.0.0.1:4222"], examples=(["nats://nats-1:4222"],)),
    Option("user", "string", "User name (with password).", default=None,
           examples=("integrator",)),
    Option("password", "string", "Password.", default=None, secret=True,
           examples=("${secret:NATS_PASSWORD}",)),
    Option("token", "string", "Authentication token (instead of user/password).",
           default=None, secret=True, examples=("${secret:NATS_TOKEN}",)),
    Option("connect_timeout", "duration", "How long connecting may take.", default="5s",
           examples=("2s",)),
    Option("stream", "string", "The JetStream stream a source consumes (and whose "
           "existence `integrator check` verifies).", default=None,
           examples=("ORDERS",)),
    Option("create_stream", "boolean", "Create `stream` with `subjects` when it does not "
           "exist (an existing stream is never changed).", default=False,
           examples=(True,)),
    Option("subjects", "list", "Subjects of a stream created by create_stream.",
           default=None, examples=(["orders.>"],)),
    Option("storage", "enum", "Storage of a created stream.", choices=("file", "memory"),
           default="file", examples=("memory",)),
    Option("max_age", "duration", "Oldest message a created stream keeps (0: no limit).",
           default=0, examples=("7d",)),
    Option("duplicate_window", "duration", "How long a created stream remembers "
           "Nats-Msg-Id values for deduplication.", default="2m", examples=("1h",)),
    *codec_options(),
)


class NatsConnector(Connector):
    """NATS JetStream through nats-py."""

    type_name = "nats"
    summary = ("NATS JetStream: a durable pull consumer acked after delivery; publishes "
               "wait for the PubAck, deduplicated by Nats-Msg-Id.")
    spec = ConfigSpec(_CONNECTION_OPTIONS)
    source_options = ConfigSpec((
        Option("durable", "string", "The durable consumer's name; it keeps the position "
               "between runs.", required=True, examples=("integrator-orders",)),
        Option("filter_subject", "string", "Only messages of this subject (wildcards "
               "allowed), when the consumer is created.", default=None,
               examples=("orders.pl.>",)),
        Option("deliver_policy", "enum", "Where a new consumer starts: `all` messages in "
               "the stream, or only `new` ones.", choices=("all", "new"), default="all",
               examples=("new",)),
        Option("ack_wait", "duration", "How long the server waits for an ack before it "
               "redelivers (the source extends it while the engine works).",
               default="30s", examples=("1m",)),
        Option("max_deliver", "integer", "How often a message is delivered at most "
               "(-1: no limit).", default=-1, minimum=-1, examples=(5,)),
        Option("max_ack_pending", "integer", "The most unacknowledged messages out at "
               "once.", default=1000, minimum=1, examples=(10_000,)),
        Option("nak_delay", "duration", "When the source closes, messages not "
               "acknowledged are redelivered after this delay.", default="1s",
               examples=("30s",)),
        *source_options(),
    ))
    actions = {
        "publish": Action(
            "Publish each payload to a subject and wait for JetStream's PubAck.",
            ConfigSpec((
                Option("subject", "template", "The subject; may use {{ ... }}.",
                       required=True, examples=("orders.{{ market | lower }}.created",)),
                Option("headers", "mapping", "NATS headers; text values may use "
                       "{{ ... }}.", default=None,
                       examples=({"X-Market": "{{ market }}"},)),
                Option("idempotency_key", "template", "Sent as Nats-Msg-Id: the stream "
                       "stores a message with the same id once within its "
                       "duplicate_window.", default=None, examples=("order-{{ id }}",)),
                Option("expect_stream", "boolean", "Refuse to store in any stream but "
                       "the connection's `stream` (Nats-Expected-Stream).",
                       default=False, examples=(True,)),
                Option("publish_timeout", "duration", "How long to wait for PubAcks.",
                       default="10s", examples=("30s",)),
            )),
        ),
    }
    default_action = "publish"
    capabilities = Capabilities(batching=True, idempotency_keys=True, ordering=True)
    examples = (
        "connections:\n  bus:\n    type: nats\n    servers: [nats://nats:4222]\n"
        "    stream: ORDERS\n    create_stream: true\n    subjects: [\"orders.>\"]\n",
    )

    def __init__(self, name: str, config: Config, runtime: Any) -> None:
        super().__init__(name, config, runtime)
        self.where = f"connection {name!r} (nats)"
        self.codec = BodyCodec(config.codec, config.max_message_size)
        self.last_error: BaseException | None = None

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        problems = []
        if raw.get("create_stream") and not raw.get("stream"):
            problems.append(OptionProblem("create_stream", "create_stream needs `stream`"))
        if raw.get("create_stream") and not raw.get("subjects"):
            problems.append(OptionProblem("create_stream", "create_stream needs `subjects`",
                                          "e.g. subjects: [\"orders.>\"]"))
        if raw.get("password") is not None and raw.get("user") is None:
            problems.append(OptionProblem("password", "password needs `user`"))
        return problems

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = exc
        log.debug("%s: %s", self.where, exc)

    async def connect(self) -> tuple[NatsClient, JetStreamContext]:
        """A connection and its JetStream context; Retriable/FatalError when it fails."""
        nats = load_driver("nats", "nats", self.where)
        c = self.config
        timeout = float(c.connect_timeout)
        self.last_error = None
        kwargs: dict[str, Any] = {}
        if c.user is not None:
            kwargs["user"] = c.user
            kwargs["password"] = reveal(c.password)
        if c.token is not None:
            kwargs["token"] = reveal(c.token)
        try:
            nc: NatsClient = await asyncio.wait_for(nats.connect(
                servers=list(c.servers), connect_timeout=timeout, allow_reconnect=False,
                max_reconnect_attempts=1, reconnect_time_wait=0.1,
                error_cb=self._on_error, name=f"integrator {self.runtime.flow}/{self.name}",
                **kwargs), timeout * 2 + 1)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"connecting to {', '.join(c.servers)}",
                           self.last_error) from None
        return nc, nc.jetstream(timeout=max(timeout, 5.0))

    async def ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream when configured to and missing; FatalError when missing."""
        import nats.js.errors
        from nats.js.api import StorageType, StreamConfig

        c = self.config
        if not c.stream:
            return
        try:
            await js.stream_info(c.stream)
            return
        except nats.js.errors.NotFoundError:
            if not c.create_stream:
                raise FatalError(f"{self.where}: stream {c.stream!r} does not exist",
                                 hint="create it, or set create_stream: true with subjects",
                                 context={"status": "misconfigured"}) from None
        if not c.subjects:
            raise FatalError(f"{self.where}: create_stream needs `subjects`")
        await js.add_stream(StreamConfig(
            name=c.stream, subjects=list(c.subjects),
            storage=StorageType.MEMORY if c.storage == "memory" else StorageType.FILE,
            max_age=c.max_age or None, duplicate_window=c.duplicate_window))

    async def check(self) -> CheckResult:
        started = time.monotonic()
        try:
            nc, js = await self.connect()
        except IntegratorError as exc:
            return CheckResult(exc.context.get("status", "unreachable"), exc.message,
                               time.monotonic() - started)
        url = nc.connected_url
        status, detail = "ok", f"connected to {url.netloc if url else '?'}"
        try:
            stream = self.config.stream
            if stream:
                import nats.js.errors

                try:
                    info = await js.stream_info(stream)
                    detail += f"; stream {stream!r} holds {info.state.messages} message(s)"
                except nats.js.errors.NotFoundError:
                    if self.config.create_stream:
                        detail += f"; stream {stream!r} is created on first use"
                    else:
                        status = "misconfigured"
                        detail += f"; stream {stream!r} does not exist"
            else:
                await js.account_info()
                detail += "; JetStream is enabled"
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = classify(exc, self.where, "checking", self.last_error)
            status = error.context.get("status", "unreachable")
            detail += f"; {error.message}"
        finally:
            await nc.close()
        return CheckResult(status, detail, time.monotonic() - started)

    def source(self, options: Config) -> NatsSource:
        if not self.config.stream:
            raise FatalError(f"{self.where}: a source needs `stream`",
                             hint="set stream: <name> on the connection")
        return NatsSource(self, options)

    def sink(self, action: str, options: Config) -> NatsSink:
        if action != "publish":
            raise FatalError(f"{self.where}: unknown action {action!r}",
                             hint="the nats connector has one action: publish")
        if options.expect_stream and not self.config.stream:
            raise FatalError(f"{self.where}: expect_stream needs the connection's `stream`")
        return NatsSink(self, options)
