"""The mqtt connector against the machine's Mosquitto (127.0.0.1:1883, anonymous).

Every test uses topics and client ids with a random suffix and ends the persistent
sessions it created (a clean-session connect with the same client id).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from broker_support import (
    deliveries,
    make,
    read_all,
    require,
    run,
    run_flow,
    sink_of,
    source_of,
    suffix,
)

from integrator.connectors.protocols.brokers.mqtt import MqttConnector
from integrator.errors import DecodeError, FatalError, RejectedError, RetriableError

aiomqtt = pytest.importorskip("aiomqtt")


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    require("Mosquitto", 1883)


class Names:
    def __init__(self) -> None:
        self.tag = suffix()
        self.clients: list[str] = []

    def topic(self, name: str = "t") -> str:
        return f"it/{self.tag}/{name}"

    def client(self, name: str = "c") -> str:
        full = f"it-{name}-{self.tag}"
        self.clients.append(full)
        return full


@pytest.fixture
def names() -> Iterator[Names]:
    n = Names()
    yield n

    async def cleanup() -> None:
        for client_id in n.clients:
            async with aiomqtt.Client("127.0.0.1", 1883, identifier=client_id,
                                      clean_session=True):
                pass

    asyncio.run(cleanup())


async def publish_raw(topic: str, bodies: list[bytes], qos: int = 1) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        for body in bodies:
            await client.publish(topic, body, qos=qos)


def conn_for(tmp_path: Path, **raw: Any) -> MqttConnector:
    connector: MqttConnector = make(MqttConnector, raw, tmp_path)
    return connector


async def create_session(conn: MqttConnector) -> None:
    """Subscribe once, so the broker keeps messages for this client id from now on."""
    source = source_of(conn, idle_timeout="100ms")
    await source.open()
    await source.close()


async def read(conn: MqttConnector, *, ack: bool = True, limit: int | None = None,
               idle: str = "400ms") -> list[Any]:
    source = source_of(conn, idle_timeout=idle)
    await source.open()
    try:
        return await read_all(source, ack=ack, limit=limit)
    finally:
        await source.close()


ORDERS = [{"id": i, "market": "PL" if i % 2 else "DE"} for i in range(1, 16)]


def test_publish_n_then_consume_n_with_equal_content(tmp_path: Path, names: Names) -> None:
    conn = conn_for(tmp_path, client_id=names.client(), topics=[names.topic("orders/+")])

    async def main() -> list[Any]:
        await create_session(conn)
        sink = sink_of(conn, topic=names.topic("orders") + "/{{ market }}")
        await sink.open()
        assert await sink.write_batch(deliveries(ORDERS)) is None
        await sink.close()
        records = await read(conn)
        assert await read(conn) == []  # every message was PUBACKed: nothing comes back
        return records

    records = run(main())
    assert [r.body for r in records] == ORDERS
    first = records[0]
    assert first.meta["topic"] == names.topic("orders/PL")
    assert first.meta["qos"] == 1
    assert first.meta["retain"] is False
    assert first.meta["message_id"].startswith(names.topic("orders/PL") + "#")


def test_mqtt5_headers_and_content_type(tmp_path: Path, names: Names) -> None:
    conn = conn_for(tmp_path, protocol="5", client_id=names.client(),
                    topics=[names.topic("#")])

    async def main() -> list[Any]:
        await create_session(conn)
        sink = sink_of(conn, topic=names.topic("x"),
                       headers={"market": "{{ market }}", "n": 3})
        await sink.open()
        assert await sink.write_batch(deliveries(ORDERS[:3])) is None
        await sink.close()
        return await read(conn)

    records = run(main())
    assert [r.body for r in records] == ORDERS[:3]
    assert records[0].meta["headers"] == {"market": "PL", "n": "3"}
    assert records[0].meta["content_type"] == "application/json"


def test_nothing_is_acknowledged_before_ack_and_unacked_come_back(tmp_path: Path,
                                                                   names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic])

    async def main() -> None:
        await create_session(conn)
        await publish_raw(topic, [b'{"n": %d}' % i for i in range(8)])
        first = await read(conn, ack=False)
        assert [r.body["n"] for r in first] == list(range(8))
        again = await read(conn, ack=False)  # nothing was PUBACKed: all resent
        assert [r.body["n"] for r in again] == list(range(8))
        assert await read(conn) != []  # now acknowledged
        assert await read(conn) == []

    run(main())


def test_pubacks_go_out_in_receive_order(tmp_path: Path, names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic])

    async def main() -> None:
        await create_session(conn)
        await publish_raw(topic, [b'{"n": %d}' % i for i in range(6)])
        source = source_of(conn, idle_timeout="400ms")
        await source.open()
        got = await read_all(source, ack=False)
        await source.ack([r.ack for r in got[1:]])  # the engine finished all but the first
        assert source.waiting_acks == 5  # held back: the first is not done
        await source.close()
        again = await read(conn, ack=False)
        assert [r.body["n"] for r in again] == list(range(6))  # nothing was lost

        source = source_of(conn, idle_timeout="400ms")
        await source.open()
        got = await read_all(source, ack=False)
        await source.ack([r.ack for r in got[3:]])
        await source.ack([r.ack for r in got[:3]])  # the first arrive last: all go out
        assert source.waiting_acks == 0
        await source.close()
        assert await read(conn) == []

    run(main())


def test_at_least_once_across_a_consumer_restart(tmp_path: Path, names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic])

    async def main() -> list[int]:
        await create_session(conn)
        await publish_raw(topic, [b'{"n": %d}' % i for i in range(10)])
        source = source_of(conn, idle_timeout="400ms", batch_size=3)
        await source.open()
        got = await read_all(source, ack=False)
        await source.ack([r.ack for r in got[:4]])
        await source.close()  # a restart: 4 done, 6 still in the engine
        seen = [r.body["n"] for r in got[:4]]
        seen += [r.body["n"] for r in await read(conn)]
        await publish_raw(topic, [b'{"n": 10}'])  # while disconnected: queued
        seen += [r.body["n"] for r in await read(conn)]
        return seen

    assert run(main()) == list(range(11))


def test_poison_body_is_a_decode_error_record_and_the_others_are_fine(
        tmp_path: Path, names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic])

    async def main() -> list[Any]:
        await create_session(conn)
        await publish_raw(topic, [b'{"n": 1}', b"\xc3\x28 not json", b'{"n": 2}'])
        return await read(conn)

    records = run(main())
    assert [r.body for r in records if r.error is None] == [{"n": 1}, {"n": 2}]
    (bad,) = [r for r in records if r.error is not None]
    assert isinstance(bad.error, DecodeError)
    assert base64.b64decode(bad.meta["raw_base64"]) == b"\xc3\x28 not json"
    assert bad.error.context["topic"] == topic


def test_text_codec_and_invalid_topics(tmp_path: Path, names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic], codec="text")

    async def main() -> list[Any]:
        await create_session(conn)
        sink = sink_of(conn, topic="{{ body.to }}")
        await sink.open()
        results = await sink.write_batch(deliveries(
            ["hello", "wild", "empty", "bye"],
            [{"to": topic}, {"to": "it/+/x"}, {"to": ""}, {"to": topic}]))
        await sink.close()
        assert results is not None
        assert results[0] is None and results[3] is None
        assert isinstance(results[1], RejectedError) and isinstance(results[2], RejectedError)
        return await read(conn)

    assert [r.body for r in run(main())] == ["hello", "bye"]


def test_headers_need_mqtt5(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="headers need MQTT 5"):
        sink_of(conn_for(tmp_path), topic="a", headers={"x": "y"})


def test_unreachable_broker_is_retriable_and_check_says_unreachable(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, port=1, topics=["a"], connect_timeout="2s")
    with pytest.raises(RetriableError):
        run(source_of(conn).open())
    assert run(conn.check()).status == "unreachable"


def test_check_does_not_take_over_the_session(tmp_path: Path, names: Names) -> None:
    topic = names.topic()
    conn = conn_for(tmp_path, client_id=names.client(), topics=[topic])

    async def main() -> None:
        source = source_of(conn, follow=True)
        await source.open()
        result = await conn.check()
        assert result.status == "ok" and topic in result.detail
        await publish_raw(topic, [b"1"])
        batches = source.batches()
        assert [r.body for r in await batches.__anext__()] == [1]  # still connected
        await batches.aclose()
        await source.close()

    run(main())


def test_lint_finds_misplaced_multi_level_wildcards() -> None:
    (problem,) = MqttConnector.check_config({"topics": ["a/#/b", "a/#"]})
    assert problem.key == "topics" and "'a/#/b'" in problem.message


FLOW = """
flow: mqtt-flow-{tag}
connections:
  plant:
    type: mqtt
    client_id: {client}
    topics: ["{base}/+/counter"]
  collected:
    type: memory
source:
  connection: plant
  options: {{idle_timeout: 600ms, batch_size: 5}}
steps:
  - map:
      fields:
        machine: machine
        count: count
        doubled: multiply(count, `2`)
  - deliver: [out]
sinks:
  out:
    connection: collected
"""


def test_flow_from_topics_through_map_to_memory(tmp_path: Path, names: Names) -> None:
    base = names.topic("plant")
    client = names.client("flow")
    conn = conn_for(tmp_path, client_id=client, topics=[f"{base}/+/counter"])
    run(create_session(conn))
    readings = [{"machine": f"m{i % 3}", "count": i} for i in range(40)]

    async def publish() -> None:
        async with aiomqtt.Client("127.0.0.1", 1883) as c:
            for i, r in enumerate(readings):
                await c.publish(f"{base}/{r['machine']}/counter", json.dumps(r), qos=1)
                if i == 20:
                    await c.publish(f"{base}/m0/counter", b"{broken", qos=1)

    run(publish())
    report, hub, dead = run_flow(FLOW.format(tag=names.tag, client=client, base=base),
                                 tmp_path)
    assert report.status == "completed", report.fatal
    assert (report.read, report.acked, report.dead_lettered) == (41, 41, 1)
    assert dead.letters[0]["error_class"] == "DecodeError"
    assert hub.channels["collected"] == [
        {"machine": r["machine"], "count": r["count"], "doubled": 2 * r["count"]}
        for r in readings]
    assert run(read(conn, ack=False)) == []  # the session holds nothing unacknowledged
