"""The redis-streams connector against the machine's Redis (127.0.0.1:6379).

Every test uses keys under a random prefix and deletes them afterwards.
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

from integrator.connectors.protocols.brokers.redis_streams import RedisStreamsConnector
from integrator.errors import (
    ConversionError,
    DecodeError,
    FatalError,
    RejectedError,
    RetriableError,
)

aredis = pytest.importorskip("redis.asyncio")


@pytest.fixture(autouse=True)
def _redis() -> None:
    require("Redis", 6379)


async def redis_call(fn: Any) -> Any:
    r = aredis.Redis(host="127.0.0.1", port=6379)
    try:
        return await fn(r)
    finally:
        await r.aclose()


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"it:{suffix()}:"
    yield p

    async def cleanup(r: Any) -> None:
        keys = [k async for k in r.scan_iter(match=p + "*")]
        if keys:
            await r.delete(*keys)

    asyncio.run(redis_call(cleanup))


def xadd_raw(key: str, entries: list[dict[str, Any]]) -> None:
    async def go(r: Any) -> None:
        for fields in entries:
            await r.xadd(key, fields)
    run(redis_call(go))


def pending(key: str, group: str) -> int:
    info = run(redis_call(lambda r: r.xpending(key, group)))
    return int(info["pending"])


def undelivered(key: str, group: str) -> int:
    """Entries the group has not delivered yet (its lag)."""
    async def go(r: Any) -> int:
        groups = await r.xinfo_groups(key)
        (g,) = [g for g in groups if g["name"] == group.encode()]
        return int(g["lag"])
    return int(run(redis_call(go)))


def entries_of(key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return list(run(redis_call(lambda r: r.xrange(key))))


def conn_for(tmp_path: Path, **raw: Any) -> RedisStreamsConnector:
    connector: RedisStreamsConnector = make(RedisStreamsConnector, raw, tmp_path)
    return connector


ORDERS = [{"id": i, "market": "PL" if i % 2 else "DE", "total": i / 4} for i in range(1, 31)]


def test_add_n_then_consume_n_with_equal_content(tmp_path: Path, prefix: str) -> None:
    key = prefix + "orders"
    conn = conn_for(tmp_path, stream=key)

    async def main() -> list[Any]:
        sink = sink_of(conn, fields={"market": "{{ market }}", "n": 7})
        await sink.open()
        assert await sink.write_batch(deliveries(ORDERS)) is None
        await sink.close()
        source = source_of(conn, group="g", consumer="c1", idle_timeout="300ms",
                           batch_size=8)
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records] == ORDERS
    first = records[0]
    assert first.meta["stream"] == key
    assert first.meta["delivery"] == "new"
    assert first.meta["fields"] == {"market": "PL", "n": "7"}
    assert first.meta["message_id"] == first.meta["id"] == entries_of(key)[0][0].decode()
    assert pending(key, "g") == 0


def test_maxlen_trims_the_stream(tmp_path: Path, prefix: str) -> None:
    exact, approx = prefix + "exact", prefix + "approx"

    async def main() -> None:
        for key, approximate in ((exact, False), (approx, True)):
            sink = sink_of(conn_for(tmp_path, stream=key), max_length=50,
                           approximate=approximate)
            await sink.open()
            for start in range(0, 400, 100):
                batch = [{"n": n} for n in range(start, start + 100)]
                assert await sink.write_batch(deliveries(batch)) is None
            await sink.close()

    run(main())
    assert len(entries_of(exact)) == 50
    assert json.loads(entries_of(exact)[-1][1][b"body"]) == {"n": 399}
    assert 50 <= len(entries_of(approx)) < 400


def test_nothing_is_acknowledged_before_ack_and_own_pending_come_back(
        tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    xadd_raw(key, [{"body": json.dumps({"n": i})} for i in range(10)])
    conn = conn_for(tmp_path, stream=key)
    opts = {"group": "g", "consumer": "worker", "idle_timeout": "300ms"}

    async def main() -> None:
        source = source_of(conn, **opts)
        await source.open()
        first = await read_all(source, ack=False)
        assert [r.body["n"] for r in first] == list(range(10))
        await source.close()
        info = await redis_call(lambda r: r.xpending(key, "g"))
        assert info["pending"] == 10

        again = source_of(conn, **opts)  # the same worker restarted
        await again.open()
        second = await read_all(again, ack=False)
        assert [r.body["n"] for r in second] == list(range(10))
        assert all(r.meta["delivery"] == "pending" for r in second)
        await again.ack([r.ack for r in second if r.body["n"] % 2 == 0])
        await again.close()

        third = source_of(conn, **opts)
        await third.open()
        rest = await read_all(third)
        await third.close()
        assert [r.body["n"] for r in rest] == [1, 3, 5, 7, 9]

    run(main())
    assert pending(key, "g") == 0


def test_entries_of_a_dead_consumer_are_claimed(tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    xadd_raw(key, [{"body": json.dumps({"n": i})} for i in range(12)])
    conn = conn_for(tmp_path, stream=key)

    async def main() -> list[Any]:
        dead = source_of(conn, group="g", consumer="dead", idle_timeout="300ms")
        await dead.open()
        got = await read_all(dead, limit=12, ack=False)
        await dead.ack([r.ack for r in got[:4]])
        await dead.close()  # it never comes back

        alive = source_of(conn, group="g", consumer="alive", idle_timeout="1s",
                          claim_idle="200ms")
        await alive.open()
        try:
            return await read_all(alive)
        finally:
            await alive.close()

    claimed = run(main())
    assert sorted(r.body["n"] for r in claimed) == list(range(4, 12))
    assert all(r.meta["delivery"] == "claimed" for r in claimed)
    assert pending(key, "g") == 0


def test_a_slow_consumer_keeps_its_entries(tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    xadd_raw(key, [{"body": "1"}, {"body": "2"}])
    conn = conn_for(tmp_path, stream=key)

    async def main() -> None:
        slow = source_of(conn, group="g", consumer="slow", claim_idle="300ms", follow=True)
        await slow.open()
        batches = slow.batches()
        records = await batches.__anext__()
        assert [r.body for r in records] == [1, 2]
        other = source_of(conn, group="g", consumer="other", claim_idle="300ms",
                          idle_timeout="1s")
        await other.open()
        stolen = await read_all(other)  # 1 s: over three times claim_idle
        await other.close()
        assert stolen == []
        await slow.ack([r.ack for r in records])
        await batches.aclose()
        await slow.close()

    run(main())
    assert pending(key, "g") == 0


def test_poison_entries_are_decode_errors_and_the_others_are_fine(
        tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    xadd_raw(key, [{"body": '{"n": 1}'}, {"body": "{nope"}, {"other": "x"},
                   {"body": '{"n": 2}'}])
    conn = conn_for(tmp_path, stream=key)

    async def main() -> list[Any]:
        source = source_of(conn, group="g", idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    records = run(main())
    assert [r.body for r in records if r.error is None] == [{"n": 1}, {"n": 2}]
    bad_json, no_body = [r for r in records if r.error is not None]
    assert isinstance(bad_json.error, DecodeError) and "invalid JSON" in bad_json.error.message
    assert base64.b64decode(bad_json.meta["raw_base64"]) == b"{nope"
    assert isinstance(no_body.error, DecodeError)
    assert "no field 'body' (fields: other)" in no_body.error.message
    assert pending(key, "g") == 0


def test_whole_entry_mode_reads_and_writes_fields(tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    conn = conn_for(tmp_path, stream=key, body_field="*")

    async def main() -> list[Any]:
        sink = sink_of(conn)
        await sink.open()
        results = await sink.write_batch(deliveries(
            [{"sku": "A-1", "qty": 3, "tags": ["x"]}, ["not", "an", "object"]]))
        await sink.close()
        assert results is not None and results[0] is None
        assert isinstance(results[1], ConversionError)
        source = source_of(conn, group="g", idle_timeout="300ms")
        await source.open()
        try:
            return await read_all(source)
        finally:
            await source.close()

    (record,) = run(main())
    assert record.body == {"sku": "A-1", "qty": "3", "tags": '["x"]'}


def test_a_key_of_another_type(tmp_path: Path, prefix: str) -> None:
    key = prefix + "plain"
    run(redis_call(lambda r: r.set(key, "x")))
    with pytest.raises(FatalError, match="holds a string"):
        run(sink_of(conn_for(tmp_path, stream=key)).open())
    with pytest.raises(FatalError, match="WRONGTYPE"):
        run(source_of(conn_for(tmp_path, stream=key), group="g").open())
    assert run(conn_for(tmp_path, stream=key).check()).status == "misconfigured"

    templated = conn_for(tmp_path, stream=prefix + "{{ name }}")

    async def main() -> None:
        sink = sink_of(templated)
        await sink.open()
        results = await sink.write_batch(deliveries([{"name": "ok"}, {"name": "plain"},
                                                     {"name": "ok"}]))
        await sink.close()
        assert results is not None
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], RejectedError) and "WRONGTYPE" in results[1].message

    run(main())
    assert len(entries_of(prefix + "ok")) == 2


def test_missing_group_without_create_group_is_fatal(tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    xadd_raw(key, [{"body": "1"}])
    conn = conn_for(tmp_path, stream=key)
    with pytest.raises(FatalError, match="has no group 'g'"):
        run(source_of(conn, group="g", create_group=False).open())


def test_wrong_credentials_are_fatal_and_check_says_auth_failed(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, stream="s", username="nobody", password="wrong-password")
    with pytest.raises(FatalError, match="refused the credentials") as info:
        run(source_of(conn, group="g").open())
    assert "wrong-password" not in str(info.value)
    assert run(conn.check()).status == "auth-failed"


def test_unreachable_redis_is_retriable_and_check_says_unreachable(tmp_path: Path) -> None:
    conn = conn_for(tmp_path, port=1, stream="s", connect_timeout="1s")
    with pytest.raises(RetriableError):
        run(source_of(conn, group="g").open())
    assert run(conn.check()).status == "unreachable"


def test_check_ok_reports_the_stream(tmp_path: Path, prefix: str) -> None:
    key = prefix + "s"
    assert "does not exist yet" in run(conn_for(tmp_path, stream=key).check()).detail
    xadd_raw(key, [{"body": "1"}, {"body": "2"}])
    result = run(conn_for(tmp_path, stream=key).check())
    assert result.status == "ok"
    assert "holds 2 entr(y/ies), 0 group(s)" in result.detail


FLOW = """
flow: redis-flow
connections:
  events_in:
    type: redis-streams
    stream: {prefix}in
  events_out:
    type: redis-streams
    stream: "{prefix}out:{{{{ market }}}}"
source:
  connection: events_in
  options: {{group: flow, idle_timeout: 500ms, batch_size: 6}}
steps:
  - map:
      fields:
        order: id
        market: market
        net: total
  - deliver: [out]
sinks:
  out:
    connection: events_out
    batch_size: 4
    options:
      fields: {{order: "{{{{ order }}}}"}}
"""


def test_flow_from_a_stream_through_map_to_streams_per_market(tmp_path: Path,
                                                               prefix: str) -> None:
    source_key = prefix + "in"
    entries = [{"body": json.dumps(o)} for o in ORDERS]
    entries.insert(7, {"body": "][ not json"})
    xadd_raw(source_key, entries)

    report, _, dead = run_flow(FLOW.format(prefix=prefix), tmp_path)
    assert report.status == "completed", report.fatal
    assert (report.read, report.acked, report.dead_lettered) == (31, 31, 1)
    assert dead.letters[0]["error_class"] == "DecodeError"
    for market in ("PL", "DE"):
        got = entries_of(f"{prefix}out:{market}")
        expected = [{"order": o["id"], "market": market, "net": o["total"]}
                    for o in ORDERS if o["market"] == market]
        assert [json.loads(fields[b"body"]) for _, fields in got] == expected
        assert [fields[b"order"] for _, fields in got] == [
            str(e["order"]).encode() for e in expected]
    assert pending(source_key, "flow") == 0  # everything acknowledged
    assert undelivered(source_key, "flow") == 0  # and everything read
