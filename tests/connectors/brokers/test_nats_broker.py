"""The nats connector against the machine's NATS server with JetStream (127.0.0.1:4222).

Every test uses streams and subjects with a random suffix and deletes the streams.
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

from integrator.connectors.protocols.brokers.nats import NatsConnector
from integrator.errors import DecodeError, FatalError, RejectedError, RetriableError

nats = pytest.importorskip("nats")


@pytest.fixture(autouse=True)
def _nats_server() -> None:
    require("NATS", 4222)


class Streams:
    def __init__(self) -> None:
        self.tag = suffix()
        self.names: list[str] = []

    def stream(self, name: str = "S") -> str:
        full = f"IT_{name}_{self.tag}".upper()
        self.names.append(full)
        return full

    def subject(self, name: str = "s") -> str:
        return f"it.{name}.{self.tag}"


@pytest.fixture
def streams() -> Iterator[Streams]:
    s = Streams()
    yield s

    async def cleanup() -> None:
        nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=5)
        js = nc.jetstream()
        for name in s.names:
            try:
                await js.delete_stream(name)
            except Exception:  # never created
                pass
        await nc.close()

    asyncio.run(cleanup())


async def js_call(fn: Any) -> Any:
    nc = await nats.connect("nats://127.0.0.1:4222", connect_timeout=5)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def add_stream(name: str, *subjects: str) -> None:
    run(js_call(lambda js: js.add_stream(name=name, subjects=list(subjects))))


def publish_raw(subject: str, bodies: list[bytes]) -> None:
    async def go(js: Any) -> None:
        for body in bodies:
            await js.publish(subject, body)
    run(js_call(go))


def stream_messages(stream: str) -> int:
    info = run(js_call(lambda js: js.stream_info(stream)))
    return int(info.state.messages)


def consumer_state(stream: str, durable: str) -> tuple[int, int]:
    """(num_pending: not yet delivered, num_ack_pending: delivered, not acked)."""
    info = run(js_call(lambda js: js.consumer_info(stream, durable)))
    return int(info.num_pending), int(info.num_ack_pending)


def stream_bodies(stream: str) -> list[Any]:
    async def go(js: Any) -> list[Any]:
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((msg.subject, json.loads(msg.data), dict(msg.headers or {})))
        return out
    return list(run(js_call(go)))


def conn_for(tmp_path: Path, **raw: Any) -> NatsConnector:
    connector: NatsConnector = make(NatsConnector, raw, tmp_path)
    return connector


ORDERS = [{"id": i, "market": "PL" if i % 2 else "DE", "lines": [{"sku": f"A-{i}"}]}
          for i in range(1, 21)]


def test_publish_n_then_consume_n_with_equal_content(tmp_path: Path, streams: Streams) -> None:
    stream, base = streams.stream(), streams.subject()
    conn = conn_for(tmp_path, stream=stream, create_stream=True, subjects=[f"{base}.>"],
                    storage="memory")

    async def main() -> list[Any]:
        sink = sink_of(conn, subject=base + ".{{ market | lower }}",
                       headers={"X-Market": "{{ market }}", "X-Const": 7},
                       idempotency_key="order-{{ id }}", expect_stream=True)
        await sink.open()  # creates the stream
        assert await sink.write_batch(deliveries(ORDERS)) is None
        await sink.close()
        source = source_of(conn, durable="d1", idle_timeout="300ms", batch_size=7)
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records] == ORDERS
    first = records[0]
    assert first.meta["subject"] == f"{base}.pl"
    assert first.meta["stream"] == stream
    assert first.meta["sequence"] == 1
    assert first.meta["message_id"] == "order-1"
    assert first.meta["headers"]["X-Market"] == "PL"
    assert first.meta["headers"]["X-Const"] == "7"
    assert first.meta["redelivered"] is False
    assert consumer_state(stream, "d1") == (0, 0)


def test_idempotency_key_stores_a_retried_publish_once(tmp_path: Path,
                                                       streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    conn = conn_for(tmp_path, stream=stream)

    async def main() -> None:
        sink = sink_of(conn, subject=subject, idempotency_key="order-{{ id }}")
        await sink.open()
        assert await sink.write_batch(deliveries([{"id": 1}, {"id": 2}])) is None
        # the same two again (a retry after a lost PubAck), and a new one
        assert await sink.write_batch(deliveries([{"id": 1}, {"id": 2}, {"id": 3}])) is None
        await sink.close()

    run(main())
    assert [b for _, b, _ in stream_bodies(stream)] == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_nothing_is_acknowledged_before_ack_and_unacked_come_back(tmp_path: Path,
                                                                   streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b'{"n": %d}' % i for i in range(10)])
    conn = conn_for(tmp_path, stream=stream)
    opts = {"durable": "d", "idle_timeout": "300ms", "nak_delay": "0s"}

    async def main() -> None:
        source = source_of(conn, **opts)
        await source.open()
        first = await read_all(source, ack=False)
        assert [r.body["n"] for r in first] == list(range(10))
        await source.close()  # gives them back (-NAK)

        again = source_of(conn, **opts)
        await again.open()
        second = await read_all(again, ack=False)
        assert sorted(r.body["n"] for r in second) == list(range(10))
        assert all(r.meta["num_delivered"] == 2 and r.meta["redelivered"] for r in second)
        await again.ack([r.ack for r in second if r.body["n"] % 2 == 0])
        await again.close()

        third = source_of(conn, **opts)
        await third.open()
        rest = await read_all(third)
        await third.close()
        assert sorted(r.body["n"] for r in rest) == [1, 3, 5, 7, 9]

    run(main())
    assert consumer_state(stream, "d") == (0, 0)


def test_at_least_once_when_the_consumer_dies_without_giving_back(tmp_path: Path,
                                                                   streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b'{"n": %d}' % i for i in range(12)])
    conn = conn_for(tmp_path, stream=stream)
    opts = {"durable": "d", "idle_timeout": "300ms", "ack_wait": "1s", "batch_size": 4}

    async def main() -> list[int]:
        seen: list[int] = []
        source = source_of(conn, **opts)
        await source.open()
        got = await read_all(source, limit=8, ack=False)
        await source.ack([r.ack for r in got[:5]])
        seen += [r.body["n"] for r in got[:5]]
        # the process dies: its connection drops, no -NAK, no more acks
        source._stop_keepalive()
        await source._nc.close()

        await asyncio.sleep(1.3)  # past ack_wait: the server redelivers
        after = source_of(conn, **opts)
        await after.open()
        rest = await read_all(after)
        await after.close()
        seen += [r.body["n"] for r in rest]
        return seen

    seen = run(main())
    assert sorted(seen) == list(range(12))
    assert consumer_state(stream, "d") == (0, 0)


def test_work_in_progress_keeps_a_slow_message_from_being_redelivered(
        tmp_path: Path, streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b'{"n": 1}'])
    conn = conn_for(tmp_path, stream=stream)

    async def main() -> None:
        source = source_of(conn, durable="d", ack_wait="600ms", follow=True)
        await source.open()
        batches = source.batches()
        (record,) = await batches.__anext__()
        await asyncio.sleep(1.5)  # the engine is slow: 2.5 times ack_wait
        # nothing was redelivered meanwhile: the next pull finds nothing
        assert await source._receive(10, 0.3) == []
        await source.ack([record.ack])
        await batches.aclose()
        await source.close()

    run(main())
    assert consumer_state(stream, "d") == (0, 0)


def test_max_deliver_stops_redelivery(tmp_path: Path, streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b'{"n": 1}'])
    conn = conn_for(tmp_path, stream=stream)
    opts = {"durable": "d", "idle_timeout": "300ms", "nak_delay": "0s", "max_deliver": 2}

    async def attempt() -> int:
        source = source_of(conn, **opts)
        await source.open()
        got = await read_all(source, ack=False)
        await source.close()
        return len(got)

    assert [run(attempt()) for _ in range(3)] == [1, 1, 0]


def test_poison_body_is_a_decode_error_record_and_the_others_are_fine(
        tmp_path: Path, streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b'{"n": 1}', b"{oops", b'{"n": 2}'])
    conn = conn_for(tmp_path, stream=stream)

    async def main() -> list[Any]:
        source = source_of(conn, durable="d", idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records if r.error is None] == [{"n": 1}, {"n": 2}]
    (bad,) = [r for r in records if r.error is not None]
    assert isinstance(bad.error, DecodeError) and "invalid JSON" in bad.error.message
    assert bad.error.context["sequence"] == 2
    assert base64.b64decode(bad.meta["raw_base64"]) == b"{oops"
    assert consumer_state(stream, "d") == (0, 0)


def test_subject_without_a_stream_is_rejected_for_that_delivery(tmp_path: Path,
                                                                streams: Streams) -> None:
    stream, base = streams.stream(), streams.subject()
    add_stream(stream, f"{base}.pl")
    conn = conn_for(tmp_path, stream=stream)

    async def main() -> None:
        sink = sink_of(conn, subject=base + ".{{ market }}")
        await sink.open()
        results = await sink.write_batch(deliveries(
            [{"market": "pl"}, {"market": "xx"}, {"market": "bad subject"}, {"market": "pl"}]))
        await sink.close()
        assert results is not None
        assert results[0] is None and results[3] is None
        assert isinstance(results[1], RejectedError)
        assert "no stream stores subject" in results[1].message
        assert isinstance(results[2], RejectedError)
        assert "not a subject" in results[2].message

    run(main())
    assert stream_messages(stream) == 2


def test_fixed_subject_without_a_stream_is_fatal_when_the_sink_opens(
        tmp_path: Path, streams: Streams) -> None:
    conn = conn_for(tmp_path)
    with pytest.raises(FatalError, match="no stream stores subject"):
        run(sink_of(conn, subject=streams.subject("nowhere")).open())


def test_missing_stream_is_fatal_and_check_says_misconfigured(tmp_path: Path,
                                                              streams: Streams) -> None:
    conn = conn_for(tmp_path, stream=streams.stream("missing"))
    with pytest.raises(FatalError, match="does not exist"):
        run(source_of(conn, durable="d").open())
    result = run(conn.check())
    assert result.status == "misconfigured"
    created = conn_for(tmp_path, stream=streams.stream("later"), create_stream=True,
                       subjects=["x.y"])
    assert run(created.check()).status == "ok"


def test_check_ok_reports_the_stream(tmp_path: Path, streams: Streams) -> None:
    stream, subject = streams.stream(), streams.subject()
    add_stream(stream, subject)
    publish_raw(subject, [b"1", b"2", b"3"])
    result = run(conn_for(tmp_path, stream=stream).check())
    assert result.status == "ok"
    assert "holds 3 message(s)" in result.detail


def test_unreachable_server_is_retriable_and_check_says_unreachable(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, servers=["nats://127.0.0.1:1"], stream="S",
                    connect_timeout="1s")
    with pytest.raises(RetriableError):
        run(source_of(conn, durable="d").open())
    assert run(conn.check()).status == "unreachable"


def test_lint_finds_incomplete_stream_creation() -> None:
    problems = NatsConnector.check_config({"create_stream": True})
    assert {p.message for p in problems} == {"create_stream needs `stream`",
                                             "create_stream needs `subjects`"}


FLOW = """
flow: nats-flow-{tag}
connections:
  bus_in:
    type: nats
    stream: {stream_in}
  bus_out:
    type: nats
    stream: {stream_out}
    create_stream: true
    subjects: ["{out}.>"]
    storage: memory
source:
  connection: bus_in
  options: {{durable: flow, idle_timeout: 500ms, batch_size: 4, max_ack_pending: 6}}
steps:
  - map:
      fields:
        order: id
        market: market
        units: sum(lines[].qty)
  - deliver: [out]
sinks:
  out:
    connection: bus_out
    batch_size: 5
    options:
      subject: "{out}.{{{{ market | lower }}}}"
      idempotency_key: "order-{{{{ order }}}}"
      expect_stream: true
"""


def test_flow_from_a_stream_through_map_to_another_stream(tmp_path: Path,
                                                          streams: Streams) -> None:
    stream_in, stream_out = streams.stream("IN"), streams.stream("OUT")
    subject_in, out = streams.subject("in"), streams.subject("out")
    add_stream(stream_in, subject_in)
    bodies = [json.dumps({"id": i, "market": "PL" if i % 3 else "DE",
                          "lines": [{"qty": i}, {"qty": 1}]}).encode() for i in range(1, 26)]
    bodies.insert(5, b"\x00not json")
    publish_raw(subject_in, bodies)

    report, _, dead = run_flow(FLOW.format(tag=streams.tag, stream_in=stream_in,
                                           stream_out=stream_out, out=out), tmp_path)
    assert report.status == "completed", report.fatal
    assert (report.read, report.acked, report.dead_lettered) == (26, 26, 1)
    assert dead.letters[0]["error_class"] == "DecodeError"
    got = stream_bodies(stream_out)
    assert [b for _, b, _ in got] == [
        {"order": i, "market": "PL" if i % 3 else "DE", "units": i + 1} for i in range(1, 26)]
    assert got[0][0] == f"{out}.pl" and got[2][0] == f"{out}.de"
    assert got[0][2]["Nats-Msg-Id"] == "order-1"
    assert consumer_state(stream_in, "flow") == (0, 0)  # all delivered and acknowledged
