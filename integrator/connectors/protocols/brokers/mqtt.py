"""The ``mqtt`` connector: MQTT 3.1.1 / 5 topics as a source and a sink (QoS 1).

Datasheet
=========
:roles:    source (subscribe ``topics``) · sink (action ``publish``)
:driver:   aiomqtt over paho-mqtt (``pip install 'integrator[mqtt]'``), imported on first
           use
:source:   connects with a fixed ``client_id`` and a persistent session
           (``clean_session: false``; MQTT 5: ``clean_start: false`` and
           ``session_expiry``) and subscribes each topic filter with QoS 1. paho's
           *manual acknowledgement* is on: receiving a message does **not** send PUBACK.
           ``Source.ack`` — called by the engine once every delivery of a message
           finished — releases PUBACKs **in the order the messages arrived** (MQTT
           3.1.1 §4.6 asks for PUBACKs in receive order), so an acknowledged message
           whose predecessor is still in the engine waits for it.
:sink:     publishes each payload with QoS 1 to its rendered ``topic`` and waits for the
           broker's PUBACK. MQTT 5 ``headers`` become user properties.

The exact guarantee (source)
----------------------------
* A message is PUBACKed only after the engine acknowledged it (and every message
  received before it). Until then the broker keeps it in the session as *in flight*.
  ``ack`` returns once the broker processed the PUBACKs: it follows them with an
  UNSUBSCRIBE of an unused filter and waits for the UNSUBACK (packets of one
  connection are handled in order), so a quick reconnect cannot overtake them.
* When the connection closes or the process dies, the broker resends every in-flight
  message (DUP) at the next connect with the same ``client_id``: at-least-once for
  messages that reached the session.
* Only messages published while the session exists are kept: the session is created by
  the first connect, so start the source once (``follow: true`` or one run) before
  producers rely on it. Messages arriving while no consumer is connected are queued by
  the broker up to its limit (Mosquitto ``max_queued_messages``, default 1000 —
  beyond it, the broker drops them; raise it). ``session_expiry`` (MQTT 5) or the
  broker's ``persistent_client_expiration`` ends an abandoned session and its queue.
* Two processes with the same ``client_id`` take the session from each other: give each
  worker its own id. Topic filters are per session, not shared (no ``$share`` groups).
* The broker's in-flight window (Mosquitto ``max_inflight_messages``, default 20) bounds
  how many unacknowledged messages the source holds.
* Retained messages are sent again at each subscribe (MQTT rule); ``meta.retain`` marks
  them.
* QoS 0 messages (published with QoS 0) have no acknowledgement: delivered at most once.

Messages in, records out
------------------------
``meta``: ``topic``, ``qos``, ``retain``, ``message_id`` (``<topic>#<packet id>``;
packet ids are reused), ``headers`` (MQTT 5 user properties) and ``content_type``
(MQTT 5). An undecodable body is a Record with a DecodeError (dead-lettered, then
acknowledged).

Errors
------
Refused connections, timeouts, server unavailable or busy → RetriableError; bad
username or password, not authorized (also a refused subscription), invalid client id
→ FatalError. An invalid topic for one message → RejectedError for that delivery.
MQTT 5 PUBACK reason codes (e.g. quota exceeded) are not visible through aiomqtt:
a PUBACK counts as accepted.

What it does not do
-------------------
No QoS 2, no shared subscriptions, no will messages, no websockets transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    pass

__all__ = ["MqttConnector", "MqttSink", "MqttSource"]

log = logging.getLogger("integrator.connectors.mqtt")

MAX_TOPIC = 65535
#: A topic filter nobody subscribes to: unsubscribing from it is a round trip that
#: proves the broker processed the PUBACKs sent before it
ACK_BARRIER = "integrator/ack-barrier"
#: CONNACK codes: MQTT 3.1.1 return codes and MQTT 5 reason codes
_AUTH_CODES = {4, 5, 134, 135}
_MISCONFIGURED_CODES = {1, 2, 132, 133, 140}


# --------------------------------------------------------------------------- errors

def _code(exc: BaseException) -> int | None:
    rc = getattr(exc, "rc", None)
    if rc is None:
        return None
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


def classify(exc: BaseException, where: str, action: str) -> IntegratorError:
    """The integrator error for an aiomqtt/paho exception raised while doing ``action``."""
    if isinstance(exc, IntegratorError):
        return exc
    what = f"{where}: {action}"
    text = excerpt(exc) or type(exc).__name__
    code = _code(exc)
    if code in _AUTH_CODES:
        return FatalError(f"{what}: the broker refused the connection: {text}",
                          hint="check username, password and the broker's ACL",
                          context={"status": "auth-failed"})
    if code in _MISCONFIGURED_CODES:
        return FatalError(f"{what}: the broker refused the connection: {text}",
                          hint="check client_id and protocol",
                          context={"status": "misconfigured"})
    return RetriableError(f"{what}: {type(exc).__name__}: {text}",
                          hint="the MQTT broker is unreachable or closed the connection; "
                               "messages not acknowledged are resent at the next connect",
                          context={"status": "unreachable"})


def _properties(packet: str) -> Any:
    """An empty MQTT 5 property set for a ``CONNECT`` or ``PUBLISH`` packet."""
    from paho.mqtt import packettypes, properties

    factory: Any = properties.Properties  # paho has no type hints
    return factory(getattr(packettypes.PacketTypes, packet))


def _publishable(topic: str) -> bool:
    return (bool(topic) and len(topic.encode("utf-8")) <= MAX_TOPIC
            and not any(c in topic for c in "+#\x00"))


# --------------------------------------------------------------------------- source

@dataclass(slots=True)
class _Inflight:
    seq: int
    mid: int
    qos: int
    done: bool = False


class MqttSource(BrokerSource):
    """A persistent-session subscriber with manual PUBACKs; see the module datasheet."""

    def __init__(self, connector: MqttConnector, options: Config) -> None:
        super().__init__(connector.where, follow=options.follow,
                         idle_timeout=options.idle_timeout, batch_size=options.batch_size)
        self.connector = connector
        self.topics: tuple[str, ...] = tuple(connector.config.topics or ())
        self.codec = connector.codec
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._messages: Any = None
        self._next: asyncio.Future[Any] | None = None
        self._inflight: deque[_Inflight] = deque()
        self._by_seq: dict[int, _Inflight] = {}
        self._seq = 0
        self._generation = 0

    async def open(self) -> None:
        self._generation += 1
        self._inflight = deque()
        self._by_seq = {}
        client = self.connector.client(self.connector.client_id, persistent=True)
        # aiomqtt has no manual-ack API of its own; paho's (manual_ack_set / ack) is
        # reached through the paho client aiomqtt wraps. Refuse to run without it rather
        # than acknowledge on receipt.
        paho = getattr(client, "_client", None)
        if paho is None or not hasattr(paho, "manual_ack_set") or not hasattr(paho, "ack"):
            raise FatalError(f"{self.where}: this aiomqtt/paho-mqtt version does not offer "
                             f"manual acknowledgements",
                             hint="install aiomqtt 2.x with paho-mqtt >= 2.0 "
                                  "(pip install 'integrator[mqtt]')")
        paho.manual_ack_set(True)  # PUBACK when ack() is called, not on receipt
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(client)
            self._stack, self._client = stack, client
            for topic in self.topics:
                granted = await client.subscribe(topic, qos=1)
                codes = [getattr(g, "value", g) for g in granted]
                if any(c >= 0x80 for c in codes):
                    raise FatalError(f"{self.where}: the broker refused the subscription "
                                     f"to {topic!r} (code {codes[0]})",
                                     hint="check the topic filter and the broker's ACL",
                                     context={"status": "auth-failed"})
        except BaseException as exc:
            await self._shut(stack)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, f"subscribing to {', '.join(self.topics)}") \
                from None
        self._messages = client.messages

    async def _receive(self, limit: int, wait: float) -> list[Record]:
        client, messages = self._client, self._messages
        if client is None:
            raise RetriableError(f"{self.where}: the source is closed")
        out: list[Record] = []
        try:
            # one pending "next message" task, kept across calls: a timeout never
            # cancels a get that already took a message off the queue
            task = self._next
            if task is None:
                task = self._next = asyncio.ensure_future(messages.__anext__())
            if not task.done():
                if wait <= 0:
                    return []
                await asyncio.wait({task}, timeout=wait)
                if not task.done():
                    return []
            self._next = None
            out.append(self._record(task.result()))
            while len(out) < limit and len(messages) > 0:
                out.append(self._record(await messages.__anext__()))
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            if out:
                return out  # what arrived before the break is handled; the rest is resent
            raise classify(exc, self.where, "receiving") from None
        return out

    def _record(self, m: Any) -> Record:
        self._seq += 1
        seq = self._seq
        qos = int(m.qos)
        item = _Inflight(seq, int(m.mid), qos)
        self._inflight.append(item)
        self._by_seq[seq] = item
        token = (self._generation, seq)
        topic = str(m.topic)
        message_id = f"{topic}#{m.mid}"
        meta: dict[str, Any] = {"topic": topic, "qos": qos, "retain": bool(m.retain),
                                "message_id": message_id, "headers": {}}
        props = m.properties
        if props is not None:
            user = getattr(props, "UserProperty", None) or []
            meta["headers"] = {str(k): str(v) for k, v in user}
            content_type = getattr(props, "ContentType", None)
            if content_type:
                meta["content_type"] = content_type
        raw = m.payload
        data = raw if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
        data = bytes(data)
        try:
            body = self.codec.decode(data, f"{self.where}: topic {topic!r}",
                                     {"topic": topic, "message_id": message_id})
        except DecodeError as exc:
            return self.codec.bad_record(exc, data, meta, token)
        return Record(body, meta, token)

    async def ack(self, tokens: Sequence[Any]) -> None:
        """Mark messages done; send PUBACK for the done prefix, in receive order."""
        self._touch()
        for gen, seq in tokens:
            if gen != self._generation:
                continue
            item = self._by_seq.pop(seq, None)
            if item is not None:
                item.done = True
        client = self._client
        if client is None:
            return
        inflight = self._inflight
        sent = 0
        try:
            while inflight and inflight[0].done:
                item = inflight.popleft()
                if item.qos > 0:
                    client._client.ack(item.mid, item.qos)
                    sent += 1
            if sent:
                # A PUBACK has no answer. The broker handles a connection's packets in
                # order, so its UNSUBACK to this no-op UNSUBSCRIBE proves it processed
                # the PUBACKs before: a reconnect cannot overtake them.
                await client.unsubscribe(ACK_BARRIER)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "acknowledging") from None

    @property
    def waiting_acks(self) -> int:
        """Messages acknowledged by the engine whose PUBACK waits for an earlier one."""
        return sum(1 for item in self._inflight if item.done)

    async def close(self) -> None:
        """Disconnect; messages not PUBACKed stay in the session and are resent."""
        await self._shut(self._stack)

    async def _shut(self, stack: contextlib.AsyncExitStack | None) -> None:
        task, self._next = self._next, None
        if task is not None:
            task.cancel()  # a message it took was never PUBACKed: the broker resends it
            with contextlib.suppress(BaseException):
                await task
        self._stack, self._client, self._messages = None, None, None
        self._inflight = deque()
        self._by_seq = {}
        if stack is not None:
            try:
                await stack.aclose()
            except Exception as exc:
                log.debug("%s: disconnecting: %s", self.where, exc)


# --------------------------------------------------------------------------- sink

class MqttSink(Sink):
    """QoS 1 publisher; see the module datasheet."""

    def __init__(self, connector: MqttConnector, options: Config) -> None:
        self.connector = connector
        self.where = connector.where
        name = f"{connector.name}.publish"
        self.topic = TextField(options.topic, f"{name}.topic")
        self.headers = HeaderFields(options.headers, f"{name}.headers")
        if self.headers and not connector.v5:
            raise FatalError(f"{self.where}: headers need MQTT 5",
                             hint="set protocol: \"5\" on the connection")
        self.retain: bool = options.retain
        self.timeout: float = options.publish_timeout
        self.codec = connector.codec
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        # its own clean session: never the source's client id (that would take over
        # the source's session)
        client_id = f"{self.connector.client_id}-pub-{secrets.token_hex(3)}"
        client = self.connector.client(client_id, persistent=False)
        client.pending_calls_threshold = 10_000  # a batch publishes concurrently
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(client)
        except BaseException as exc:
            await stack.aclose()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise classify(exc, self.where, "connecting") from None
        self._stack, self._client = stack, client

    def _properties(self, delivery: Delivery) -> Any:
        if not self.connector.v5:
            return None
        props = _properties("PUBLISH")
        props.ContentType = self.codec.content_type
        if self.headers:
            props.UserProperty = [(k, "" if v is None else str(v))
                                  for k, v in self.headers.render(delivery).items()]
        return props

    def _prepare(self, delivery: Delivery) -> tuple[str, bytes, Any]:
        try:
            topic = self.topic.render(delivery)
        except MessageError as exc:
            raise render_error(exc, "topic") from None
        if not _publishable(topic):
            raise RejectedError(f"{self.where}: {excerpt(topic, 80)!r} is not a topic one "
                                f"can publish to", hint="no wildcards (+ #), not empty")
        return topic, self.codec.encode(delivery.payload), self._properties(delivery)

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        if self._client is None:
            async with self._lock:  # sink workers share this sink
                if self._client is None:
                    await self.open()
        client = self._client
        results: list[IntegratorError | None] = [None] * len(deliveries)
        jobs: list[tuple[int, str, Any]] = []
        for i, delivery in enumerate(deliveries):
            try:
                topic, body, props = self._prepare(delivery)
            except MessageError as exc:
                results[i] = exc
                continue
            jobs.append((i, topic, client.publish(topic, body, qos=1, retain=self.retain,
                                                  properties=props, timeout=self.timeout)))
        outcomes = await asyncio.gather(*(job for _, _, job in jobs), return_exceptions=True)
        broken = False
        for (i, topic, _), outcome in zip(jobs, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                continue
            if isinstance(outcome, ValueError):  # paho refuses the topic or payload
                results[i] = RejectedError(f"{self.where}: cannot publish to {topic!r}: "
                                           f"{excerpt(outcome)}")
                continue
            error = classify(outcome, self.where, f"publishing to {topic!r}")
            if isinstance(error, FatalError):
                raise error
            broken = True
            results[i] = error
        if broken:  # reconnect for the next batch
            await self.close()
        if all(r is None for r in results):
            return None
        return results

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            try:
                await stack.aclose()
            except Exception as exc:
                log.debug("%s: disconnecting: %s", self.where, exc)


# --------------------------------------------------------------------------- connector

_CONNECTION_OPTIONS = (
    Option("host", "string", "Broker host name or address.", default="127.0.0.1",
           examples=("mqtt.internal",)),
    Option("port", "integer", "Broker port (8883 for TLS).", default=1883, minimum=1,
           maximum=65535, examples=(8883,)),
    Option("username", "string", "User name.", default=None, examples=("integrator",)),
    Option("password", "string", "Password.", default=None, secret=True,
           examples=("${secret:MQTT_PASSWORD}",)),
    Option("tls", "boolean", "Connect with TLS (system CA certificates).", default=False,
           examples=(True,)),
    Option("protocol", "enum", "MQTT version.", choices=("3.1.1", "5"), default="3.1.1",
           examples=("5",)),
    Option("client_id", "string", "The source's client id: its persistent session. Keep "
           "it stable and unique per worker (default integrator-<flow>-<connection>).",
           default=None, examples=("erp-bridge-1",)),
    Option("topics", "list", "Topic filters a source subscribes to (QoS 1).",
           default=None, examples=(["shop/+/orders", "shop/returns/#"],)),
    Option("session_expiry", "duration", "MQTT 5: how long the broker keeps the "
           "source's session (and queued messages) while it is disconnected.",
           default="7d", examples=("1d",)),
    Option("keepalive", "duration", "MQTT keepalive interval.", default="60s",
           examples=("30s",)),
    Option("connect_timeout", "duration", "How long connecting (and each operation) may "
           "take.", default="10s", examples=("5s",)),
    *codec_options(),
)


class MqttConnector(Connector):
    """MQTT through aiomqtt (paho-mqtt)."""

    type_name = "mqtt"
    summary = ("MQTT: a persistent-session subscriber that PUBACKs only after delivery; "
               "QoS 1 publishes that wait for the PUBACK.")
    spec = ConfigSpec(_CONNECTION_OPTIONS)
    source_options = ConfigSpec(source_options())
    actions = {
        "publish": Action(
            "Publish each payload with QoS 1 and wait for the broker's PUBACK.",
            ConfigSpec((
                Option("topic", "template", "The topic; may use {{ ... }}.",
                       required=True, examples=("erp/orders/{{ market }}",)),
                Option("retain", "boolean", "Publish as the topic's retained message.",
                       default=False, examples=(True,)),
                Option("headers", "mapping", "MQTT 5 user properties; text values may "
                       "use {{ ... }}.", default=None,
                       examples=({"market": "{{ market }}"},)),
                Option("publish_timeout", "duration", "How long to wait for a PUBACK.",
                       default="10s", examples=("30s",)),
            )),
        ),
    }
    default_action = "publish"
    capabilities = Capabilities(batching=True, ordering=True)
    examples = (
        "connections:\n  plant:\n    type: mqtt\n    host: mqtt.internal\n"
        "    client_id: erp-bridge-1\n    topics: [\"plant/+/counters\"]\n",
    )

    def __init__(self, name: str, config: Config, runtime: Any) -> None:
        super().__init__(name, config, runtime)
        self.where = f"connection {name!r} (mqtt)"
        self.codec = BodyCodec(config.codec, config.max_message_size)
        self.v5 = config.protocol == "5"
        self.client_id: str = config.client_id or f"integrator-{runtime.flow}-{name}"

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        problems = []
        for topic in raw.get("topics") or []:
            if isinstance(topic, str) and ("#" in topic[:-1] or not topic):
                problems.append(OptionProblem("topics", f"{topic!r}: # may only be the "
                                              "last character of a topic filter"))
        client_id = raw.get("client_id")
        if isinstance(client_id, str) and len(client_id.encode()) > 65535:
            problems.append(OptionProblem("client_id", "client_id is too long"))
        return problems

    def client(self, client_id: str, *, persistent: bool) -> Any:
        """An aiomqtt client (not connected): a persistent session or a clean one."""
        aiomqtt = load_driver("aiomqtt", "mqtt", self.where)
        c = self.config
        kwargs: dict[str, Any] = {}
        if self.v5:
            kwargs["protocol"] = aiomqtt.ProtocolVersion.V5
            kwargs["clean_start"] = not persistent
            if persistent:
                props = _properties("CONNECT")
                props.SessionExpiryInterval = int(c.session_expiry)
                kwargs["properties"] = props
        else:
            kwargs["protocol"] = aiomqtt.ProtocolVersion.V311
            kwargs["clean_session"] = not persistent
        if c.tls:
            import ssl

            kwargs["tls_context"] = ssl.create_default_context()
        return aiomqtt.Client(
            c.host, c.port, username=c.username, password=reveal(c.password),
            identifier=client_id, keepalive=int(c.keepalive),
            timeout=float(c.connect_timeout), logger=log, **kwargs)

    async def check(self) -> CheckResult:
        """Connect with a throwaway clean session (never the source's client id)."""
        started = time.monotonic()
        c = self.config
        try:
            client = self.client(f"integrator-check-{secrets.token_hex(4)}",
                                 persistent=False)
            async with client:
                pass
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = classify(exc, self.where, f"connecting to {c.host}:{c.port}")
            return CheckResult(error.context.get("status", "unreachable"), error.message,
                               time.monotonic() - started)
        detail = f"connected to {c.host}:{c.port} (MQTT {c.protocol})"
        if c.topics:
            detail += f"; the source subscribes {', '.join(c.topics)} as {self.client_id!r}"
        return CheckResult("ok", detail, time.monotonic() - started)

    def source(self, options: Config) -> MqttSource:
        if not self.config.topics:
            raise FatalError(f"{self.where}: a source needs `topics`",
                             hint="topics: [\"shop/+/orders\"]")
        return MqttSource(self, options)

    def sink(self, action: str, options: Config) -> MqttSink:
        if action != "publish":
            raise FatalError(f"{self.where}: unknown action {action!r}",
                             hint="the mqtt connector has one action: publish")
        return MqttSink(self, options)
