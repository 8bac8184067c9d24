"""The amqp connector against the machine's RabbitMQ (127.0.0.1:5672, guest/guest).

Every test uses queues and exchanges with a random suffix and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
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

from integrator.connectors.protocols.brokers.amqp import AmqpConnector
from integrator.errors import (
    ConversionError,
    DecodeError,
    FatalError,
    RejectedError,
    RetriableError,
)

aio_pika = pytest.importorskip("aio_pika")


@pytest.fixture(autouse=True)
def _rabbitmq() -> None:
    require("RabbitMQ", 5672)


class Names:
    """Unique names for one test; everything in ``queues``/``exchanges`` is deleted."""

    def __init__(self) -> None:
        self.tag = suffix()
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def queue(self, name: str = "q") -> str:
        full = f"it-{name}-{self.tag}"
        self.queues.append(full)
        return full

    def exchange(self, name: str = "x") -> str:
        full = f"it-{name}-{self.tag}"
        self.exchanges.append(full)
        return full


@asynccontextmanager
async def rabbit() -> AsyncIterator[Any]:
    conn = await aio_pika.connect(host="127.0.0.1", port=5672, timeout=10)
    try:
        yield await conn.channel()
    finally:
        await conn.close()


@pytest.fixture
def names() -> Iterator[Names]:
    n = Names()
    yield n

    async def cleanup() -> None:
        conn = await aio_pika.connect(host="127.0.0.1", port=5672, timeout=10)
        try:
            for q in n.queues:
                ch = await conn.channel()
                try:
                    await ch.queue_delete(q)
                except Exception:  # already gone
                    pass
            for x in n.exchanges:
                ch = await conn.channel()
                try:
                    await ch.exchange_delete(x)
                except Exception:
                    pass
        finally:
            await conn.close()

    asyncio.run(cleanup())


async def declare_queue(name: str, **arguments: Any) -> None:
    async with rabbit() as ch:
        await ch.declare_queue(name, durable=True, arguments=arguments or None)


async def publish_raw(queue: str, bodies: list[bytes], **props: Any) -> None:
    async with rabbit() as ch:
        for body in bodies:
            await ch.default_exchange.publish(aio_pika.Message(body, **props), queue)


async def ready_count(queue: str) -> int:
    async with rabbit() as ch:
        q = await ch.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count)


async def drain_raw(queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every ready message of ``queue``, acknowledged (the test's own consumer)."""
    out = []
    async with rabbit() as ch:
        q = await ch.get_queue(queue)
        while True:
            m = await q.get(fail=False, timeout=5)
            if m is None:
                return out
            await m.ack()
            out.append(m)


def conn_for(tmp_path: Path, **raw: Any) -> AmqpConnector:
    connector: AmqpConnector = make(AmqpConnector, raw, tmp_path)
    return connector


ORDERS = [{"id": i, "market": "PL" if i % 2 else "DE", "total": i * 10.5,
           "note": "zażółć gęślą jaźń"} for i in range(1, 26)]


# --------------------------------------------------------------------------- round trip

def test_publish_n_then_consume_n_with_equal_content(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    conn = conn_for(tmp_path, queue=queue, routing_key=queue)

    async def main() -> list[Any]:
        sink = sink_of(conn, headers={"x-market": "{{ market }}", "x-const": 7},
                       message_id="order-{{ id }}")
        await sink.open()
        assert await sink.write_batch(deliveries(ORDERS)) is None
        await sink.close()
        source = source_of(conn, idle_timeout="300ms", batch_size=10)
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records] == ORDERS
    first = records[0]
    assert first.error is None
    assert first.meta["queue"] == queue
    assert first.meta["routing_key"] == queue
    assert first.meta["message_id"] == "order-1"
    assert first.meta["headers"] == {"x-market": "PL", "x-const": 7}
    assert first.meta["redelivered"] is False
    assert first.meta["content_type"] == "application/json"
    assert run(ready_count(queue)) == 0


def test_persistent_delivery_mode_and_message_id_default(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    conn = conn_for(tmp_path, routing_key=queue)

    async def main() -> None:
        sink = sink_of(conn)
        await sink.open()
        d = deliveries([{"a": 1}])
        assert await sink.write_batch(d) is None
        await sink.close()
        (m,) = await drain_raw(queue)
        assert m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert m.message_id == d[0].message.id
        assert m.correlation_id == d[0].message.correlation

    run(main())


# --------------------------------------------------------------------------- acks

def test_nothing_is_acknowledged_before_ack_and_unacked_come_back(tmp_path: Path,
                                                                   names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'{"n": %d}' % i for i in range(10)]))
    conn = conn_for(tmp_path, queue=queue)

    async def main() -> None:
        source = source_of(conn, idle_timeout="300ms")
        await source.open()
        first = await read_all(source, ack=False)
        assert [r.body["n"] for r in first] == list(range(10))
        assert all(r.meta["redelivered"] is False for r in first)
        assert await ready_count(queue) == 0  # all delivered, none acknowledged
        await source.close()

        again = source_of(conn, idle_timeout="300ms")
        await again.open()
        second = await read_all(again, ack=False)
        assert sorted(r.body["n"] for r in second) == list(range(10))
        assert all(r.meta["redelivered"] is True for r in second)
        # acknowledge only the even ones: the odd ones must come back
        await again.ack([r.ack for r in second if r.body["n"] % 2 == 0])
        await again.close()

        third = source_of(conn, idle_timeout="300ms")
        await third.open()
        rest = await read_all(third)
        await third.close()
        assert sorted(r.body["n"] for r in rest) == [1, 3, 5, 7, 9]
        assert await ready_count(queue) == 0

    run(main())


def test_at_least_once_across_a_consumer_restart_with_out_of_order_acks(
        tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'{"n": %d}' % i for i in range(40)]))
    conn = conn_for(tmp_path, queue=queue)

    async def main() -> None:
        seen: list[int] = []
        source = source_of(conn, idle_timeout="300ms", prefetch=8, batch_size=5)
        await source.open()
        got = await read_all(source, limit=15, ack=False)
        # the engine acknowledges out of order: last batch first, then some
        acked = [r for r in got if r.body["n"] % 3 != 0]
        await source.ack([r.ack for r in reversed(acked)])
        seen.extend(r.body["n"] for r in acked)
        await source.close()  # "crash": the rest was never acknowledged

        after = source_of(conn, idle_timeout="300ms", prefetch=8, batch_size=5)
        await after.open()
        rest = await read_all(after)
        await after.close()
        seen.extend(r.body["n"] for r in rest)
        assert sorted(seen) == list(range(40))  # nothing lost, nothing acked twice
        assert len(seen) == 40
        assert await ready_count(queue) == 0

    run(main())


def test_stale_tokens_from_an_earlier_open_are_ignored(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'{"n": 1}', b'{"n": 2}']))
    conn = conn_for(tmp_path, queue=queue)

    async def main() -> None:
        source = source_of(conn, idle_timeout="300ms")
        await source.open()
        first = await read_all(source, ack=False)
        await source.close()
        await source.open()  # the same object, a new channel: tags restart at 1
        second = await read_all(source, ack=False)
        await source.ack([r.ack for r in first])  # stale: must not ack the new ones
        await source.close()
        assert len(second) == 2
        assert await ready_count(queue) == 2

    run(main())


# --------------------------------------------------------------------------- bad input

def test_poison_body_is_a_decode_error_record_and_the_others_are_fine(
        tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'{"n": 1}', b'{"n": 2', b"\xff\xfe", b'{"n": 3}'],
                    message_id="m"))
    conn = conn_for(tmp_path, queue=queue)

    async def main() -> list[Any]:
        source = source_of(conn, idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records if r.error is None] == [{"n": 1}, {"n": 3}]
    bad = [r for r in records if r.error is not None]
    assert len(bad) == 2
    assert all(isinstance(r.error, DecodeError) and r.body is None for r in bad)
    assert "invalid JSON" in bad[0].error.message
    assert repr(queue) in bad[0].error.message
    assert base64.b64decode(bad[0].meta["raw_base64"]) == b'{"n": 2'
    assert bad[0].error.context["queue"] == queue
    assert run(ready_count(queue)) == 0  # acked by read_all like the engine does


def test_oversized_message_is_a_decode_error(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'"' + b"x" * 2000 + b'"', b'"ok"']))
    conn = conn_for(tmp_path, queue=queue, max_message_size=1000)

    async def main() -> list[Any]:
        source = source_of(conn, idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    big, ok = run(main())
    assert isinstance(big.error, DecodeError)
    assert "more than max_message_size" in big.error.message
    assert len(base64.b64decode(big.meta["raw_base64"])) == 1000  # bounded
    assert ok.body == "ok"


def test_unroutable_publish_is_rejected_for_that_delivery_only(tmp_path: Path,
                                                               names: Names) -> None:
    exchange = names.exchange()
    queue = names.queue()
    conn = conn_for(tmp_path, exchange=exchange, routing_key="{{ market }}",
                    declare={"exchanges": [{"name": exchange, "type": "direct",
                                            "auto_delete": False}],
                             "queues": [{"name": queue,
                                         "bind": [{"exchange": exchange,
                                                   "routing_key": "PL"}]}]})

    async def main() -> None:
        sink = sink_of(conn)
        await sink.open()
        payloads = [{"id": 1, "market": "PL"}, {"id": 2, "market": "XX"},
                    {"id": 3, "market": "PL"}]
        results = await sink.write_batch(deliveries(payloads))
        await sink.close()
        assert results is not None
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], RejectedError)
        assert "unroutable" in results[1].message and "'XX'" in results[1].message
        got = await drain_raw(queue)
        assert [m.body for m in got] == [b'{"id":1,"market":"PL"}', b'{"id":3,"market":"PL"}']

    run(main())


def test_templated_exchange_that_does_not_exist_rejects_only_its_deliveries(
        tmp_path: Path, names: Names) -> None:
    exchange = names.exchange("pl")
    queue = names.queue()
    prefix = exchange.rsplit("-", 1)[0].rsplit("-", 1)[0]  # "it"
    template = prefix + "-{{ market | lower }}-" + names.tag
    conn = conn_for(tmp_path, exchange=template, routing_key="k",
                    declare={"exchanges": [{"name": exchange}],
                             "queues": [{"name": queue,
                                         "bind": [{"exchange": exchange, "routing_key": "k"}]}]})

    async def main() -> None:
        sink = sink_of(conn)
        await sink.open()
        results = await sink.write_batch(deliveries([{"market": "PL"}, {"market": "DE"},
                                                     {"market": "PL"}]))
        # the channel survived the missing exchange: a second batch works
        again = await sink.write_batch(deliveries([{"market": "PL"}]))
        await sink.close()
        assert results is not None and again is None
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], RejectedError)
        assert "does not exist" in results[1].message
        assert len(await drain_raw(queue)) == 3

    run(main())


def test_payloads_the_codec_cannot_send_are_per_delivery_errors(tmp_path: Path,
                                                                names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    text_conn = conn_for(tmp_path, routing_key=queue, codec="text")
    json_conn = conn_for(tmp_path, routing_key="{{ missing_field }}")

    async def main() -> None:
        sink = sink_of(text_conn)
        await sink.open()
        results = await sink.write_batch(deliveries(["hello", {"not": "text"}, "bye"]))
        await sink.close()
        assert results is not None
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], ConversionError)
        assert [m.body for m in await drain_raw(queue)] == [b"hello", b"bye"]

        sink = sink_of(json_conn)
        await sink.open()
        results = await sink.write_batch(deliveries([{"a": 1}]))
        await sink.close()
        assert results is not None and "routing_key" in results[0].message

    run(main())


def test_bytes_codec_round_trips_binary_bodies(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    conn = conn_for(tmp_path, queue=queue, routing_key=queue, codec="bytes")
    blobs = [bytes(range(256)), b"", b"\x00\xff" * 100]
    encoded = [base64.b64encode(b).decode() for b in blobs]

    async def main() -> list[Any]:
        sink = sink_of(conn)
        await sink.open()
        results = await sink.write_batch(deliveries([*encoded, "not base64!"]))
        await sink.close()
        assert results is not None and isinstance(results[3], ConversionError)
        source = source_of(conn, idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records] == encoded


# --------------------------------------------------------------------------- topology

def test_declares_a_quorum_queue_and_binding(tmp_path: Path, names: Names) -> None:
    exchange = names.exchange()
    queue = names.queue()
    conn = conn_for(tmp_path, queue=queue, exchange=exchange, routing_key="orders.{{ market }}",
                    declare={"exchanges": [{"name": exchange, "type": "topic"}],
                             "queues": [{"name": queue, "type": "quorum",
                                         "arguments": {"x-delivery-limit": 5},
                                         "bind": [{"exchange": exchange,
                                                   "routing_key": "orders.*"}]}]})

    async def main() -> list[Any]:
        sink = sink_of(conn)
        await sink.open()
        assert await sink.write_batch(deliveries([{"market": "PL"}, {"market": "DE"}])) is None
        await sink.close()
        async with rabbit() as ch:
            q = await ch.declare_queue(queue, passive=True)
            assert q.declaration_result.message_count == 2
        source = source_of(conn, idle_timeout="300ms")
        await source.open()  # declares again: idempotent
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records] == [{"market": "PL"}, {"market": "DE"}]
    assert records[0].meta["routing_key"] == "orders.PL"


def test_inequivalent_declaration_is_fatal(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))  # a classic queue
    conn = conn_for(tmp_path, queue=queue,
                    declare={"queues": [{"name": queue, "type": "quorum"}]})
    source = source_of(conn)
    with pytest.raises(FatalError, match="refused the declaration"):
        run(source.open())


def test_declare_problems_are_reported_by_lint() -> None:
    problems = AmqpConnector.check_config({"declare": {
        "exchanges": [{"name": "x", "type": "nope"}],
        "queues": [{"type": "quorum", "durable": False, "bind": [{"routing_key": "a"}]}],
        "topics": [],
    }})
    messages = [p.message for p in problems]
    assert all(p.key == "declare" for p in problems)
    assert any("unknown key 'topics'" in m for m in messages)
    assert any("exchanges[0]: `type` must be one of" in m for m in messages)
    assert any("queues[0]: `name`" in m for m in messages)
    assert any("quorum queues are always durable" in m for m in messages)
    assert any("bind[0]: needs `exchange`" in m for m in messages)


# --------------------------------------------------------------------------- errors

def test_wrong_password_is_fatal_and_check_says_auth_failed(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, queue="whatever", password="not-the-password")
    with pytest.raises(FatalError, match="refused the login") as info:
        run(source_of(conn).open())
    assert "not-the-password" not in str(info.value)
    result = run(conn.check())
    assert result.status == "auth-failed"
    assert not result.ok


def test_missing_queue_is_fatal_and_check_says_misconfigured(tmp_path: Path,
                                                             names: Names) -> None:
    queue = names.queue("missing")
    conn = conn_for(tmp_path, queue=queue)
    with pytest.raises(FatalError, match="not found"):
        run(source_of(conn).open())
    result = run(conn.check())
    assert result.status == "misconfigured"
    assert f"queue {queue!r} does not exist" in result.detail


def test_missing_fixed_exchange_is_fatal_when_the_sink_opens(tmp_path: Path,
                                                             names: Names) -> None:
    conn = conn_for(tmp_path, exchange=names.exchange("missing"), routing_key="k")
    with pytest.raises(FatalError, match="does not exist"):
        run(sink_of(conn).open())


def test_check_ok_reports_the_queue(tmp_path: Path, names: Names) -> None:
    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b"1", b"2"]))
    result = run(conn_for(tmp_path, queue=queue).check())
    assert result.status == "ok"
    assert "holds 2 ready message(s)" in result.detail
    assert run(ready_count(queue)) == 2  # check moved no data


def test_unreachable_broker_is_retriable_and_check_says_unreachable(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, port=1, queue="q", connect_timeout="2s")
    with pytest.raises(RetriableError):
        run(source_of(conn).open())
    assert run(conn.check()).status == "unreachable"


def test_missing_routing_key_is_fatal_at_sink_creation(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="routing_key"):
        sink_of(conn_for(tmp_path))


# --------------------------------------------------------------------------- engine

FLOW = """
flow: amqp-flow-{tag}
connections:
  rabbit_in:
    type: amqp
    queue: {queue_in}
  rabbit_out:
    type: amqp
    exchange: {exchange}
    routing_key: "orders.{{{{ market }}}}"
    declare:
      exchanges: [{{name: {exchange}, type: topic}}]
      queues:
        - name: {queue_out}
          type: quorum
          bind: [{{exchange: {exchange}, routing_key: "orders.*"}}]
source:
  connection: rabbit_in
  options: {{idle_timeout: 500ms, prefetch: 7, batch_size: 4}}
steps:
  - map:
      fields:
        order: id
        market: market
        gross: multiply(total, `2`)
  - deliver: [out]
sinks:
  out:
    connection: rabbit_out
    batch_size: 3
    options:
      headers: {{x-order: "{{{{ order }}}}"}}
"""


def test_flow_from_a_queue_through_map_to_an_exchange(tmp_path: Path, names: Names) -> None:
    queue_in, queue_out, exchange = names.queue("in"), names.queue("out"), names.exchange()
    run(declare_queue(queue_in))
    bodies = [b'{"id": %d, "market": "%s", "total": %d}' % (i, b"PL" if i % 2 else b"DE", i)
              for i in range(1, 31)]
    bodies.insert(10, b"this is not json")
    run(publish_raw(queue_in, bodies))

    report, _, dead = run_flow(FLOW.format(tag=names.tag, queue_in=queue_in,
                                           queue_out=queue_out, exchange=exchange), tmp_path)
    assert report.status == "completed", report.fatal
    assert report.read == 31
    assert report.acked == 31
    assert report.dead_lettered == 1
    assert dead.letters[0]["error_class"] == "DecodeError"
    assert base64.b64decode(dead.letters[0]["meta"]["raw_base64"]) == b"this is not json"

    got = run(drain_raw(queue_out))
    assert [json.loads(m.body) for m in got] == [
        {"order": i, "market": "PL" if i % 2 else "DE", "gross": 2 * i} for i in range(1, 31)]
    assert [m.routing_key for m in got][:2] == ["orders.PL", "orders.DE"]
    assert got[0].headers["x-order"] == "1"
    assert run(ready_count(queue_in)) == 0  # everything acknowledged


def test_flow_that_fails_acknowledges_nothing_it_did_not_finish(tmp_path: Path,
                                                                names: Names) -> None:
    """A sink whose routing key template fails on some messages, with on_error: fail —
    the failed message is not acknowledged and is still in the queue after the run."""
    queue_in, queue_out = names.queue("in"), names.queue("out")
    run(declare_queue(queue_in))
    run(declare_queue(queue_out))
    run(publish_raw(queue_in, [b'{"id": 1, "to": "%s"}' % queue_out.encode(),
                               b'{"id": 2}']))
    flow = f"""
    flow: amqp-fail-{names.tag}
    connections:
      rabbit_in: {{type: amqp, queue: {queue_in}}}
      rabbit_out: {{type: amqp, routing_key: "{{{{ to }}}}"}}
    source: {{connection: rabbit_in, options: {{idle_timeout: 500ms, batch_size: 1}}}}
    steps: [{{deliver: [out]}}]
    sinks:
      out: {{connection: rabbit_out, on_error: fail, batch_size: 1}}
    """
    report, _, _ = run_flow(flow, tmp_path)
    assert report.status == "failed"
    assert [json_body(m) for m in run(drain_raw(queue_out))] == [
        {"id": 1, "to": queue_out}]
    left = run(drain_raw(queue_in))  # requeued when the source closed
    assert [json_body(m) for m in left] == [{"id": 2}]


def json_body(m: Any) -> Any:
    return json.loads(m.body)


def test_following_flow_consumes_until_stopped(tmp_path: Path, names: Names) -> None:
    """follow: true keeps consuming (messages published while it runs arrive too) until
    Engine.stop(); everything read is delivered and acknowledged before the run ends."""
    from broker_support import compile_flow

    from integrator.connectors.builtin.memory import MemoryHub
    from integrator.delivery.deadletters import MemoryDeadLetters
    from integrator.engine.runner import Engine, RunOptions

    queue = names.queue()
    run(declare_queue(queue))
    run(publish_raw(queue, [b'{"n": %d}' % i for i in range(5)]))
    flow = compile_flow(f"""
    flow: amqp-follow-{names.tag}
    connections:
      rabbit: {{type: amqp, queue: {queue}}}
      collected: {{type: memory}}
    source: {{connection: rabbit, options: {{follow: true, idle_timeout: 100ms}}}}
    steps: [{{deliver: [out]}}]
    sinks:
      out: {{connection: collected}}
    """)
    hub = MemoryHub()

    async def main() -> Any:
        engine = Engine(flow, RunOptions(workdir=tmp_path), resources={"memory": hub},
                        dead_letters=MemoryDeadLetters())
        task = asyncio.create_task(engine.run())
        for _ in range(100):  # well past idle_timeout: a following source does not end
            await asyncio.sleep(0.05)
            if len(hub.channel("collected")) == 5:
                break
        await publish_raw(queue, [b'{"n": 5}', b'{"n": 6}'])
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(hub.channel("collected")) == 7:
                break
        assert not task.done()
        engine.stop()
        return await asyncio.wait_for(task, 10)

    report = run(main())
    assert report.status == "stopped"
    assert sorted(b["n"] for b in hub.channel("collected")) == list(range(7))
    assert report.acked == 7
    assert run(ready_count(queue)) == 0


def test_concurrent_writers_share_one_reconnect(tmp_path: Path, names: Names) -> None:
    """Sink workers (concurrency > 1) share the sink: after the channel broke, two
    batches written at once reconnect once and both arrive."""
    queue = names.queue()
    run(declare_queue(queue))
    conn = conn_for(tmp_path, routing_key=queue)

    async def main() -> None:
        sink = sink_of(conn)
        await sink.open()
        assert await sink.write_batch(deliveries([{"n": 0}])) is None
        old = sink._conn
        await old.close()  # the connection broke
        results = await asyncio.gather(
            sink.write_batch(deliveries([{"n": i} for i in range(1, 6)])),
            sink.write_batch(deliveries([{"n": i} for i in range(6, 11)])))
        assert results == [None, None]
        assert sink._conn is not old and not sink._conn.is_closed
        await sink.close()
        got = sorted(json.loads(m.body)["n"] for m in await drain_raw(queue))
        assert got == list(range(11))

    run(main())
