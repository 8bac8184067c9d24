"""The connector conformance suite for the four broker connectors.

Each peer is a queue, stream or topic pair of its own on the machine's broker: the source
reads the *in* side, the sink writes the *out* side, and both are removed at the end.
``restart()`` never stops the shared service. Where the broker lets a client drop another
client's connection, it does that to the connector's connections (what a restart looks
like from the client): RabbitMQ through ``rabbitmqctl close_connection``, Redis through
``CLIENT KILL``, Mosquitto by taking over the source's session. NATS offers no such
thing without a monitoring or system account, so its reconnect checks are marked not
applicable.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from broker_support import suffix

from integrator.testing import ConnectorConformance, Peer, require_service

RECONNECT_NA = ("the machine's broker is shared and must not be stopped, and it offers no "
                "way to drop one client's connection")


def _dump(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record).encode()


# --------------------------------------------------------------------------- amqp

class AmqpPeer(Peer):
    def __init__(self, tag: str) -> None:
        self.queue_in, self.queue_out = f"it-conf-in-{tag}", f"it-conf-out-{tag}"
        super().__init__(
            {"queue": self.queue_in},
            source_options={"idle_timeout": "300ms", "batch_size": 3},
            sink_options={"routing_key": "{% if id == 'unroutable' %}nowhere-" + tag +
                          "{% else %}" + self.queue_out + "{% endif %}"},
            meta_keys=("queue", "message_id", "headers", "redelivered"),
            bad_payload={"id": "unroutable"},
        )

    async def _channel(self) -> Any:
        import aio_pika

        conn = await aio_pika.connect(host="127.0.0.1", timeout=10)
        return conn, await conn.channel()

    async def start(self) -> None:
        conn, ch = await self._channel()
        for q in (self.queue_in, self.queue_out):
            await ch.declare_queue(q, durable=True)
        await conn.close()

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        import aio_pika

        conn, ch = await self._channel()
        for r in records:
            await ch.default_exchange.publish(aio_pika.Message(_dump(r)), self.queue_in)
        await conn.close()

    async def written(self) -> list[Any]:
        conn, ch = await self._channel()
        queue = await ch.get_queue(self.queue_out)
        out = []
        while (m := await queue.get(fail=False, timeout=5)) is not None:
            await m.ack()
            out.append(json.loads(m.body))
        await conn.close()
        return out

    async def restart(self) -> None:
        """RabbitMQ closes this process's integrator connections (CONNECTION_FORCED)."""
        if shutil.which("rabbitmqctl") is None:
            pytest.skip("rabbitmqctl is not available to drop the connector's connections")

        def close_ours() -> int:
            listing = subprocess.run(
                ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                capture_output=True, text=True, timeout=30, check=True).stdout
            mine = f"(pid {os.getpid()})"
            pids = [line.split("\t", 1)[0] for line in listing.splitlines()
                    if '"integrator ' in line and mine in line]
            for pid in pids:
                subprocess.run(["rabbitmqctl", "-q", "close_connection", pid,
                                "conformance restart"], capture_output=True, timeout=30,
                               check=False)
            return len(pids)

        await asyncio.to_thread(close_ours)
        await asyncio.sleep(0.2)

    async def close(self) -> None:
        conn, _ = await self._channel()
        for q in (self.queue_in, self.queue_out):
            ch = await conn.channel()
            await ch.queue_delete(q)
        await conn.close()


class TestAmqpConformance(ConnectorConformance):
    connector_type = "amqp"
    roles = ("source", "sink")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("RabbitMQ", port=5672)
        peer = AmqpPeer(suffix())
        await peer.start()
        return peer


# --------------------------------------------------------------------------- nats

class NatsPeer(Peer):
    def __init__(self, tag: str) -> None:
        self.stream_in, self.stream_out = f"IT_CONF_IN_{tag}", f"IT_CONF_OUT_{tag}"
        self.subject_in, self.subject_out = f"it.conf.in.{tag}", f"it.conf.out.{tag}"
        super().__init__(
            {"stream": self.stream_in},
            source_options={"durable": "conformance", "idle_timeout": "300ms",
                            "nak_delay": "0s", "batch_size": 3},
            sink_options={"subject": "{% if id == 'nostream' %}it.conf.none." + tag +
                          "{% else %}" + self.subject_out + "{% endif %}",
                          "idempotency_key": "{{ id }}"},
            meta_keys=("stream", "sequence", "message_id", "headers"),
            bad_payload={"id": "nostream"},
        )

    async def _js(self, fn: Any) -> Any:
        import nats

        nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=5)
        try:
            return await fn(nc.jetstream())
        finally:
            await nc.close()

    async def start(self) -> None:
        async def go(js: Any) -> None:
            await js.add_stream(name=self.stream_in, subjects=[self.subject_in])
            await js.add_stream(name=self.stream_out, subjects=[self.subject_out])
        await self._js(go)

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        async def go(js: Any) -> None:
            for r in records:
                await js.publish(self.subject_in, _dump(r))
        await self._js(go)

    async def written(self) -> list[Any]:
        async def go(js: Any) -> list[Any]:
            info = await js.stream_info(self.stream_out)
            if not info.state.messages:
                return []
            return [json.loads((await js.get_msg(self.stream_out, seq)).data)
                    for seq in range(info.state.first_seq, info.state.last_seq + 1)]
        return list(await self._js(go))

    async def close(self) -> None:
        async def go(js: Any) -> None:
            for name in (self.stream_in, self.stream_out):
                await js.delete_stream(name)
        await self._js(go)


class TestNatsConformance(ConnectorConformance):
    connector_type = "nats"
    roles = ("source", "sink")
    replayable = True
    not_applicable = {
        "test_source_reconnects_after_restart": RECONNECT_NA,
        "test_sink_reconnects_after_restart": RECONNECT_NA,
    }

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("NATS", port=4222)
        peer = NatsPeer(suffix().upper())
        await peer.start()
        return peer


# --------------------------------------------------------------------------- redis

class RedisPeer(Peer):
    def __init__(self, tag: str) -> None:
        self.prefix = f"it:conf:{tag}:"
        self.key_in, self.key_out = self.prefix + "in", self.prefix + "out"
        plain = self.prefix + "plain"
        super().__init__(
            {"stream": self.key_in},
            source_options={"group": "conformance", "idle_timeout": "300ms",
                            "batch_size": 3},
            sink_options={"stream": "{% if id == 'wrongtype' %}" + plain +
                          "{% else %}" + self.key_out + "{% endif %}"},
            meta_keys=("stream", "id", "message_id", "delivery"),
            bad_payload={"id": "wrongtype"},
        )

    async def _redis(self, fn: Any) -> Any:
        import redis.asyncio as aredis

        r = aredis.Redis(host="127.0.0.1", port=6379)
        try:
            return await fn(r)
        finally:
            await r.aclose()

    async def start(self) -> None:
        await self._redis(lambda r: r.set(self.prefix + "plain", "not a stream"))

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        async def go(r: Any) -> None:
            for record in records:
                await r.xadd(self.key_in, {"body": _dump(record)})
        await self._redis(go)

    async def written(self) -> list[Any]:
        entries = await self._redis(lambda r: r.xrange(self.key_out))
        return [json.loads(fields[b"body"]) for _, fields in entries]

    async def restart(self) -> None:
        """Redis drops this process's connector connections (CLIENT KILL)."""
        async def go(r: Any) -> None:
            mine = f"integrator-{os.getpid()}-"
            for client in await r.client_list():
                if str(client.get("name", "")).startswith(mine):
                    await r.client_kill_filter(_id=client["id"])
        await self._redis(go)

    async def close(self) -> None:
        async def go(r: Any) -> None:
            keys = [k async for k in r.scan_iter(match=self.prefix + "*")]
            if keys:
                await r.delete(*keys)
        await self._redis(go)


class TestRedisStreamsConformance(ConnectorConformance):
    connector_type = "redis-streams"
    roles = ("source", "sink")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("Redis", port=6379)
        peer = RedisPeer(suffix())
        await peer.start()
        return peer


# --------------------------------------------------------------------------- mqtt

class MqttPeer(Peer):
    def __init__(self, tag: str) -> None:
        self.topic_in, self.topic_out = f"it/conf/{tag}/in", f"it/conf/{tag}/out"
        self.client_id, self.collector = f"it-conf-{tag}", f"it-conf-collect-{tag}"
        super().__init__(
            {"client_id": self.client_id, "topics": [self.topic_in]},
            source_options={"idle_timeout": "400ms", "batch_size": 3},
            sink_options={"topic": "{% if id == 'wild' %}it/conf/+/bad{% else %}" +
                          self.topic_out + "{% endif %}"},
            meta_keys=("topic", "qos", "message_id"),
            bad_payload={"id": "wild"},
        )

    async def _session(self, client_id: str, topic: str | None) -> None:
        """Create (``topic``) or end (None) a persistent session."""
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", 1883, identifier=client_id,
                                  clean_session=topic is None) as c:
            if topic is not None:
                await c.subscribe(topic, qos=1)

    async def start(self) -> None:
        await self._session(self.client_id, self.topic_in)  # the source's session
        await self._session(self.collector, self.topic_out)  # collects what sinks write

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", 1883) as c:
            for r in records:
                await c.publish(self.topic_in, _dump(r), qos=1)

    async def written(self) -> list[Any]:
        import aiomqtt

        out: list[Any] = []
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=self.collector,
                                  clean_session=False) as c:
            try:
                while True:
                    m = await asyncio.wait_for(c.messages.__anext__(), 0.5)
                    out.append(json.loads(m.payload))
            except TimeoutError:
                pass
        return out

    async def restart(self) -> None:
        """Take the source's session over: the broker drops the source's connection.
        The taker never acknowledges, so the session's in-flight messages stay."""
        import aiomqtt

        taker = aiomqtt.Client("127.0.0.1", 1883, identifier=self.client_id,
                               clean_session=False)
        taker._client.manual_ack_set(True)
        async with taker:
            pass

    async def close(self) -> None:
        await self._session(self.client_id, None)
        await self._session(self.collector, None)


class TestMqttConformance(ConnectorConformance):
    connector_type = "mqtt"
    roles = ("source", "sink")
    replayable = True
    not_applicable = {
        "test_sink_reconnects_after_restart": (
            "the sink connects with a fresh clean-session client id the peer cannot take "
            "over, and the shared Mosquitto must not be stopped"),
    }

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("Mosquitto", port=1883)
        peer = MqttPeer(suffix())
        await peer.start()
        return peer
