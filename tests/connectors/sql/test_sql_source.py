"""The sql source against real PostgreSQL, MariaDB and SQLite: incremental reads by
watermark, ties, acknowledgement, follow, JSON-safe values, legacy column names, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sql_support import Db, bodies, connector, read_all, source_of, table_name

from integrator.connectors.state import JsonStateStore, MemoryStateStore
from integrator.errors import FatalError, RetriableError


def make_orders(d: Db, rows: int, *, same_stamp: bool = False) -> str:
    """A table ``orders_x`` (id, status, amount, updated_at) with ``rows`` rows."""
    name = table_name("orders")
    stamp = "TIMESTAMP" if d.kind != "mysql" else "DATETIME(6)"
    d.execute(f"CREATE TABLE {d.q(name)} (id INTEGER PRIMARY KEY, status VARCHAR(20), "
              f"amount DECIMAL(10,2), updated_at {stamp})")
    base = dt.datetime(2024, 5, 1, 10, 0, 0)
    d.insert(name, [
        {"id": i, "status": "new", "amount": Decimal(f"{i}.50"),
         "updated_at": base if same_stamp else base + dt.timedelta(minutes=i)}
        for i in range(1, rows + 1)])
    return name


async def _read(conn: Any, *, ack: bool = True, **options: Any) -> list[dict[str, Any]]:
    source = source_of(conn, **options)
    await source.open()
    try:
        return bodies(await read_all(source, ack=ack))
    finally:
        await source.close()


def test_reads_every_row_in_watermark_order_then_only_new_ones(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 7)
    state = MemoryStateStore()
    conn = connector(db.config, tmp_path, state=state)
    options = {"table": name, "watermark_column": "updated_at", "key_column": "id",
               "batch_size": 3}

    first = asyncio.run(_read(conn, **options))
    assert [r["id"] for r in first] == [1, 2, 3, 4, 5, 6, 7]
    # exact decimal as text (SQLite has no decimal type: NUMERIC affinity stores a REAL)
    assert first[0]["amount"] == (1.5 if db.kind == "sqlite" else "1.50")
    assert first[0]["updated_at"].replace(" ", "T").startswith("2024-05-01T10:01:00")
    assert first[0]["status"] == "new"

    db.insert(name, [{"id": 8, "status": "new", "amount": Decimal("8.50"),
                      "updated_at": dt.datetime(2024, 5, 2)}])
    db.execute(f"UPDATE {db.q(name)} SET status = 'paid', updated_at = "
               f"'2024-05-03 00:00:00' WHERE id = 2")
    second = asyncio.run(_read(conn, **options))
    assert [(r["id"], r["status"]) for r in second] == [(8, "new"), (2, "paid")]
    third = asyncio.run(_read(conn, **options))
    assert third == []


def test_position_is_stored_only_for_acknowledged_rows(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 6)
    state = MemoryStateStore()
    conn = connector(db.config, tmp_path, state=state)
    options = {"table": name, "watermark_column": "updated_at", "key_column": "id",
               "batch_size": 10}

    async def partly() -> None:
        source = source_of(conn, **options)
        await source.open()
        records = [r async for batch in source.batches() for r in batch]
        assert len(records) == 6
        # acks arrive out of order; row 3 is never acknowledged
        await source.ack([records[1].ack, records[0].ack])
        await source.ack([records[4].ack, records[3].ack, records[5].ack])
        await source.close()

    asyncio.run(partly())
    stored = state.values[f"db/source:{name}:updated_at:id"]
    stamp = "2024-05-01 10:02:00" if db.kind == "sqlite" else {"datetime": "2024-05-01T10:02:00"}
    assert stored == {"watermark": stamp, "key": 2}  # SQLite keeps timestamps as text
    again = asyncio.run(_read(conn, **options))
    assert [r["id"] for r in again] == [3, 4, 5, 6]  # at least once: 3 and after again
    assert asyncio.run(_read(conn, **options)) == []


def test_ties_with_key_column_are_paged_without_loss(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 9, same_stamp=True)
    state = MemoryStateStore()
    conn = connector(db.config, tmp_path, state=state)
    options = {"table": name, "watermark_column": "updated_at", "key_column": "id",
               "batch_size": 2}

    async def half() -> list[list[Any]]:
        source = source_of(conn, **options)
        await source.open()
        batches = await read_all(source, ack=False)
        await source.ack([r.ack for r in batches[0] + batches[1]])  # rows 1-4
        await source.close()
        return [[r.body["id"] for r in b] for b in batches]

    assert asyncio.run(half()) == [[1, 2], [3, 4], [5, 6], [7, 8], [9]]
    assert [r["id"] for r in asyncio.run(_read(conn, **options))] == [5, 6, 7, 8, 9]
    assert asyncio.run(_read(conn, **options)) == []


def test_ties_without_key_column_travel_in_one_batch(db: Db, tmp_path: Path) -> None:
    name = table_name("ties")
    db.execute(f"CREATE TABLE {db.q(name)} (id INTEGER PRIMARY KEY, version INTEGER)")
    # versions: 1, 2, 2, 2, 3, 4, 4 — a page of 2 would cut the group of 2s
    db.insert(name, [{"id": i, "version": v} for i, v in
                     enumerate([1, 2, 2, 2, 3, 4, 4], start=1)])
    state = MemoryStateStore()
    conn = connector(db.config, tmp_path, state=state)
    options = {"table": name, "watermark_column": "version", "batch_size": 2}

    async def first_run() -> list[list[int]]:
        source = source_of(conn, **options)
        await source.open()
        batches = await read_all(source, ack=False)
        ids = [[r.body["id"] for r in b] for b in batches]
        flat = [r for b in batches for r in b]
        # every row of the 2s but one acknowledged: the 2s are not committed
        await source.ack([flat[0].ack, flat[1].ack, flat[2].ack])
        await source.close()
        return ids

    batches = asyncio.run(first_run())
    assert sorted(i for b in batches for i in b) == [1, 2, 3, 4, 5, 6, 7]
    for batch in batches:  # no group of equal versions is split across batches
        assert all(i in batch for i in (2, 3, 4)) or not any(i in batch for i in (2, 3, 4))
    assert state.values[f"db/source:{name}:version"] == {"watermark": 1}
    again = asyncio.run(_read(conn, **options))
    assert sorted(r["id"] for r in again) == [2, 3, 4, 5, 6, 7]
    assert asyncio.run(_read(conn, **options)) == []


def test_legacy_table_with_spaces_and_polish_letters(db: Db, tmp_path: Path) -> None:
    name = f"Zamówienia {table_name('x')}"
    q = db.q
    db.execute(f"CREATE TABLE {q(name)} ({q('Nr dokumentu')} VARCHAR(20) PRIMARY KEY, "
               f"{q('Ilość')} INTEGER, {q('Data zmiany')} VARCHAR(30), "
               f"{q('Kontrahent')} VARCHAR(50))")
    db.insert(name, [
        {"Nr dokumentu": "ZAM/2", "Ilość": 5, "Data zmiany": "2024-05-02 08:00",
         "Kontrahent": "Łódź Sp. z o.o."},
        {"Nr dokumentu": "ZAM/1", "Ilość": 3, "Data zmiany": "2024-05-01 08:00",
         "Kontrahent": "Gdańsk S.A."},
        {"Nr dokumentu": "ZAM/3", "Ilość": 1, "Data zmiany": "2024-05-02 08:00",
         "Kontrahent": "Żywiec"},
    ])
    query = (f"SELECT {q('Nr dokumentu')}, {q('Ilość')}, {q('Data zmiany')}, "
             f"{q('Kontrahent')} AS {q('Nazwa kontrahenta')} FROM {q(name)} "
             f"WHERE {q('Ilość')} > 0;")
    conn = connector(db.config, tmp_path)
    rows = asyncio.run(_read(conn, query=query, watermark_column="Data zmiany",
                             key_column="Nr dokumentu", batch_size=2))
    assert rows == [
        {"Nr dokumentu": "ZAM/1", "Ilość": 3, "Data zmiany": "2024-05-01 08:00",
         "Nazwa kontrahenta": "Gdańsk S.A."},
        {"Nr dokumentu": "ZAM/2", "Ilość": 5, "Data zmiany": "2024-05-02 08:00",
         "Nazwa kontrahenta": "Łódź Sp. z o.o."},
        {"Nr dokumentu": "ZAM/3", "Ilość": 1, "Data zmiany": "2024-05-02 08:00",
         "Nazwa kontrahenta": "Żywiec"},
    ]
    # the table option quotes the odd names itself
    rows = asyncio.run(_read(conn, table=name, columns=["Ilość"],
                             watermark_column="Data zmiany", key_column="Nr dokumentu"))
    assert [r["Ilość"] for r in rows] == [3, 5, 1]
    assert set(rows[0]) == {"Ilość", "Data zmiany", "Nr dokumentu"}


def test_query_with_percent_and_colon_literals(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 3)
    db.execute(f"UPDATE {db.q(name)} SET status = 'x%:y' WHERE id = 2")
    query = f"SELECT id, status, updated_at FROM {db.q(name)} WHERE status LIKE '%\\%:%' " \
        "ESCAPE '\\'" if db.kind != "mysql" else \
        f"SELECT id, status, updated_at FROM {db.q(name)} WHERE status LIKE '%\\%:%'"
    conn = connector(db.config, tmp_path)
    rows = asyncio.run(_read(conn, query=query, watermark_column="updated_at",
                             key_column="id"))
    assert [(r["id"], r["status"]) for r in rows] == [(2, "x%:y")]


def test_snapshot_without_watermark_reads_everything_each_run(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 25)
    conn = connector(db.config, tmp_path)

    async def run() -> list[list[Any]]:
        source = source_of(conn, query=f"SELECT id FROM {db.q(name)} ORDER BY id",
                           batch_size=10)
        await source.open()
        try:
            batches = await read_all(source)
        finally:
            await source.close()
        assert all(r.ack is None for b in batches for r in b)  # nothing to commit
        return [[r.body["id"] for r in b] for b in batches]

    first = asyncio.run(run())
    assert [len(b) for b in first] == [10, 10, 5]
    assert [i for b in first for i in b] == list(range(1, 26))
    assert asyncio.run(run()) == first


def test_initial_watermark_skips_older_rows(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 5)
    conn = connector(db.config, tmp_path)
    rows = asyncio.run(_read(conn, table=name, watermark_column="id",
                             initial_watermark=3))
    assert [r["id"] for r in rows] == [4, 5]


def test_follow_polls_until_stopped(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 2)
    conn = connector(db.config, tmp_path)

    async def run() -> list[int]:
        source = source_of(conn, table=name, watermark_column="id", follow=True,
                           interval="20ms", batch_size=100)
        assert not source.finite
        await source.open()
        seen: list[int] = []

        async def consume() -> None:
            async for batch in source.batches():
                seen.extend(r.body["id"] for r in batch)
                await source.ack([r.ack for r in batch])

        task = asyncio.create_task(consume())
        for _ in range(200):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.01)
        db.insert(name, [{"id": 3, "status": "new", "amount": Decimal("1"),
                          "updated_at": dt.datetime(2024, 6, 1)}])
        for _ in range(200):
            if len(seen) >= 3:
                break
            await asyncio.sleep(0.01)
        source.stop()
        await asyncio.wait_for(task, 5)
        await source.close()
        return seen

    assert asyncio.run(run()) == [1, 2, 3]


def test_values_are_json_safe(pg: Db, tmp_path: Path) -> None:
    name = table_name("types")
    pg.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, n NUMERIC(12,4), f DOUBLE "
               "PRECISION, d DATE, ts TIMESTAMPTZ, t TIME, u UUID, b BYTEA, j JSONB, "
               "arr INTEGER[], iv INTERVAL, ok BOOLEAN, nothing TEXT)")
    pg.execute(f"INSERT INTO {name} VALUES (1, 1234.5000, 'NaN', '2024-05-01', "
               "'2024-05-01 10:00:00+02', '10:30:00.25', "
               "'6f2b5e1c-8f0e-4c5e-9a4e-1d2c3b4a5f60', '\\x00ff', "
               "'{\"a\": [1, 2.5, null]}', '{1,2}', '1 day 2 hours', true, NULL)")
    conn = connector(pg.config, tmp_path)
    rows = asyncio.run(_read(conn, table=name, watermark_column="id"))
    row = rows[0]
    assert row == {
        "id": 1, "n": "1234.5000", "f": "NaN", "d": "2024-05-01",
        "ts": "2024-05-01T08:00:00+00:00", "t": "10:30:00.250000",
        "u": "6f2b5e1c-8f0e-4c5e-9a4e-1d2c3b4a5f60", "b": "AP8=",
        "j": {"a": [1, 2.5, None]}, "arr": [1, 2], "iv": 93600.0, "ok": True,
        "nothing": None,
    }
    json.dumps(row, allow_nan=False)  # really JSON
    numbers = asyncio.run(_read(connector(pg.config, tmp_path), table=name, columns=["n"],
                                watermark_column="id", decimals="number"))
    assert numbers[0]["n"] == 1234.5


def test_timestamp_watermark_survives_a_json_state_file(pg: Db, tmp_path: Path) -> None:
    name = make_orders(pg, 3)
    options = {"table": name, "watermark_column": "updated_at", "key_column": "id"}
    path = tmp_path / "state.json"
    first = asyncio.run(_read(connector(pg.config, tmp_path, state=JsonStateStore(path)),
                              **options))
    assert len(first) == 3
    saved = json.loads(path.read_text())
    assert saved[f"db/source:{name}:updated_at:id"] == {
        "watermark": {"datetime": "2024-05-01T10:03:00"}, "key": 3}
    pg.insert(name, [{"id": 4, "status": "new", "amount": Decimal("0"),
                      "updated_at": dt.datetime(2024, 5, 1, 10, 3)}])  # same stamp, key 4
    fresh = connector(pg.config, tmp_path, state=JsonStateStore(path))
    assert [r["id"] for r in asyncio.run(_read(fresh, **options))] == [4]


def test_missing_table_and_columns_are_fatal_at_open(db: Db, tmp_path: Path) -> None:
    name = make_orders(db, 1)
    conn = connector(db.config, tmp_path)

    async def open_with(**options: Any) -> None:
        source = source_of(conn, **options)
        try:
            await source.open()
        finally:
            await source.close()

    with pytest.raises(FatalError) as missing:
        asyncio.run(open_with(table="no_such_table", watermark_column="id"))
    assert "no_such_table" in str(missing.value)
    assert missing.value.context["sql_reason"] == "missing"
    with pytest.raises(FatalError) as column:
        asyncio.run(open_with(table=name, watermark_column="updated"))
    assert "watermark_column 'updated' is not a column" in str(column.value)
    assert "did you mean 'updated_at'?" in str(column.value)
    with pytest.raises(FatalError, match="give either query or table"):
        source_of(conn, watermark_column="id")
    with pytest.raises(FatalError, match="follow needs watermark_column"):
        source_of(conn, table=name, follow=True)


def test_statement_timeout_is_retriable(pg: Db, my: Db, lite: Db, tmp_path: Path) -> None:
    slow_pg = "SELECT 1 AS id, pg_sleep(3) AS slept"
    conn = connector({**pg.config, "statement_timeout": "200ms"}, tmp_path)
    with pytest.raises(RetriableError) as exc:
        asyncio.run(_read(conn, query=slow_pg, watermark_column="id"))
    assert exc.value.context["sql_code"] == "57014"
    conn = connector({**my.config, "statement_timeout": "200ms"}, tmp_path)
    with pytest.raises(RetriableError) as exc:
        asyncio.run(_read(conn, query="SELECT 1 AS id, SLEEP(3) AS slept",
                          watermark_column="id"))
    assert exc.value.context["sql_code"] == "1969"
    slow_sqlite = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                   "WHERE x < 100000000) SELECT count(*) AS id FROM c")
    conn = connector({**lite.config, "statement_timeout": "200ms"}, tmp_path)
    with pytest.raises(RetriableError) as exc:
        asyncio.run(_read(conn, query=slow_sqlite))
    assert exc.value.context["sql_reason"] == "timeout"


def test_unreadable_stored_position_is_fatal(lite: Db, tmp_path: Path) -> None:
    name = make_orders(lite, 2)
    state = MemoryStateStore({f"db/source:{name}:id": {"watermark": {"datetime": "soon"}}})
    with pytest.raises(FatalError) as exc:
        asyncio.run(_read(connector(lite.config, tmp_path, state=state), table=name,
                          watermark_column="id"))
    assert "is unreadable" in str(exc.value) and "delete it" in str(exc.value)


def test_unreachable_database_is_retriable_at_open(tmp_path: Path) -> None:
    conn = connector({"url": "postgresql+psycopg://postgres@127.0.0.1:1/test",
                      "connect_timeout": "2s"}, tmp_path)

    async def run() -> None:
        source = source_of(conn, table="x", watermark_column="id")
        try:
            await source.open()
        finally:
            await source.close()

    with pytest.raises(RetriableError) as exc:
        asyncio.run(run())
    assert exc.value.context["sql_reason"] == "connection"
