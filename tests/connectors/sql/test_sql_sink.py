"""The sql sinks against real PostgreSQL, MariaDB and SQLite: insert, upsert and
procedures in one transaction per batch, with bad rows rejected alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sql_support import Db, connector, deliveries, sink_of, table_name

from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError


def make_stock(d: Db) -> str:
    """``stock_x``: sku primary key, qty NOT NULL CHECK (qty >= 0), note, and a unique
    ean. SQLite's table is STRICT, so a value of the wrong type is refused there too."""
    name = table_name("stock")
    strict = " STRICT" if d.kind == "sqlite" else ""
    text = "TEXT" if d.kind == "sqlite" else "VARCHAR(40)"
    d.execute(f"CREATE TABLE {d.q(name)} (sku {text} PRIMARY KEY, "
              f"qty INTEGER NOT NULL CHECK (qty >= 0), note {text}, ean {text} UNIQUE)"
              + strict)
    return name


def write(conn: Any, action: str, payloads: list[Any], **options: Any
          ) -> list[IntegratorError | None] | None:
    async def run() -> list[IntegratorError | None] | None:
        sink = sink_of(conn, action, **options)
        await sink.open()
        try:
            return await sink.write_batch(deliveries(payloads))  # type: ignore[no-any-return]
        finally:
            await sink.close()
    return asyncio.run(run())


def contents(d: Db, table: str, cols: str = "sku, qty, note") -> list[tuple[Any, ...]]:
    return d.rows(f"SELECT {cols} FROM {d.q(table)} ORDER BY sku")


def test_insert_writes_a_batch_in_one_go(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    conn = connector(db.config, tmp_path)
    payloads = [{"sku": f"A{i:03}", "qty": i, "note": None} for i in range(50)]
    assert write(conn, "insert", payloads, table=name) is None
    assert contents(db, name) == [(f"A{i:03}", i, None) for i in range(50)]


def test_bad_rows_are_rejected_alone_and_the_rest_committed(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    db.insert(name, [{"sku": "OLD", "qty": 1, "note": "kept", "ean": "111"}])
    conn = connector(db.config, tmp_path)
    payloads = [
        {"sku": "A1", "qty": 1, "note": "ok", "ean": "201"},
        {"sku": "OLD", "qty": 2, "note": "duplicate key", "ean": "202"},
        {"sku": "A2", "qty": None, "note": "NOT NULL", "ean": "203"},
        {"sku": "A3", "qty": -5, "note": "CHECK", "ean": "204"},
        {"sku": "A4", "qty": "many", "note": "wrong type", "ean": "205"},
        {"sku": "A5", "qty": 5, "note": "unique ean", "ean": "111"},
        {"sku": "A6", "qty": 6, "note": "ok", "ean": "206"},
    ]
    results = write(conn, "insert", payloads, table=name)
    assert results is not None
    assert [type(r).__name__ if r else None for r in results] == [
        None, "RejectedError", "RejectedError", "RejectedError", "RejectedError",
        "RejectedError", None]
    reasons = [r.context["sql_reason"] for r in results if r is not None]
    assert reasons[0] in ("unique", "constraint")
    assert reasons[1] in ("not-null", "constraint")
    assert reasons[2] in ("check", "constraint")
    assert reasons[3] in ("data", "constraint")
    duplicate = results[1]
    assert duplicate is not None
    assert name in str(duplicate) and "hint" in str(duplicate)
    assert contents(db, name) == [("A1", 1, "ok"), ("A6", 6, "ok"), ("OLD", 1, "kept")]


def test_upsert_inserts_then_updates_and_is_idempotent(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    conn = connector(db.config, tmp_path)
    first = [{"sku": "A", "qty": 1, "note": "new"}, {"sku": "B", "qty": 2, "note": "new"}]
    assert write(conn, "upsert", first, table=name) is None  # key: the primary key
    second = [{"sku": "B", "qty": 20, "note": "changed"}, {"sku": "C", "qty": 3, "note": None},
              {"sku": "B", "qty": 21, "note": "changed twice"}]
    assert write(conn, "upsert", second, table=name) is None
    expected = [("A", 1, "new"), ("B", 21, "changed twice"), ("C", 3, None)]
    assert contents(db, name) == expected
    assert write(conn, "upsert", second, table=name) is None  # a redelivered batch
    assert contents(db, name) == expected


def test_upsert_update_columns_and_mapping(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    db.insert(name, [{"sku": "A", "qty": 1, "note": "keep me", "ean": None}])
    conn = connector(db.config, tmp_path)
    payloads = [{"product": {"id": "A"}, "available": "7", "comment": "ignored"},
                {"product": {"id": "B"}, "available": 8, "comment": "inserted"}]
    columns = {"sku": "product.id", "qty": "to_number(available)", "note": "comment"}
    assert write(conn, "upsert", payloads, table=name, key_columns=["sku"],
                 update_columns=["qty"], columns=columns) is None
    assert contents(db, name) == [("A", 7, "keep me"), ("B", 8, "inserted")]


def test_upsert_with_nothing_to_update_keeps_existing_rows(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    db.insert(name, [{"sku": "A", "qty": 1, "note": "first", "ean": None}])
    conn = connector(db.config, tmp_path)
    payloads = [{"sku": "A", "qty": 5, "note": "second"}, {"sku": "B", "qty": 2, "note": "new"}]
    assert write(conn, "upsert", payloads, table=name, update_columns=[]) is None
    assert contents(db, name) == [("A", 1, "first"), ("B", 2, "new")]


def test_payload_fields_must_be_columns(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    conn = connector(db.config, tmp_path)
    payloads = [{"sku": "A", "qty": 1}, {"sku": "B", "qtty": 2}, "not an object", {},
                {"qty": 5}, {"sku": "C", "qty": 3}]
    results = write(conn, "upsert", payloads, table=name)
    assert results is not None
    assert results[0] is None and results[5] is None
    assert "field 'qtty' is not a column" in str(results[1])
    assert "did you mean 'qty'?" in str(results[1])
    assert "not an object" in str(results[2])
    assert "no fields" in str(results[3])
    assert "no value for key column(s) sku" in str(results[4])
    assert contents(db, name) == [("A", 1, None), ("C", 3, None)]


def test_objects_and_lists_are_written_as_json_text(pg: Db, tmp_path: Path) -> None:
    name = table_name("docs")
    pg.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, body JSONB, tags TEXT)")
    conn = connector(pg.config, tmp_path)
    payloads = [{"id": 1, "body": {"a": [1, {"b": None}]}, "tags": ["x", "y"]}]
    assert write(conn, "insert", payloads, table=name) is None
    assert pg.rows(f"SELECT body, tags FROM {name}") == [({"a": [1, {"b": None}]},
                                                          '["x","y"]')]


def test_legacy_columns_with_spaces_and_polish_letters(db: Db, tmp_path: Path) -> None:
    name = f"Pozycje {table_name('x')}"
    q = db.q
    db.execute(f"CREATE TABLE {q(name)} ({q('Nr dokumentu')} VARCHAR(20) PRIMARY KEY, "
               f"{q('Ilość')} INTEGER, {q('Uwagi')} VARCHAR(50))")
    conn = connector(db.config, tmp_path)
    payloads = [{"order_no": "ZAM/1", "qty": 3, "Uwagi": "Łódź"},
                {"order_no": "ZAM/2", "qty": 4, "Uwagi": "żółw"}]
    columns = {"Nr dokumentu": "order_no", "Ilość": "qty", "Uwagi": "Uwagi"}
    assert write(conn, "upsert", payloads, table=name, columns=columns) is None
    # without columns: the payload keys are the (odd) column names themselves
    assert write(conn, "upsert", [{"Nr dokumentu": "ZAM/1", "Ilość": 30}],
                 table=name) is None
    assert db.rows(f"SELECT {q('Nr dokumentu')}, {q('Ilość')}, {q('Uwagi')} FROM {q(name)} "
                   f"ORDER BY 1") == [("ZAM/1", 30, "Łódź"), ("ZAM/2", 4, "żółw")]


def test_missing_table_or_column_is_fatal_at_open(db: Db, tmp_path: Path) -> None:
    name = make_stock(db)
    conn = connector(db.config, tmp_path)

    async def open_sink(action: str, **options: Any) -> None:
        sink = sink_of(conn, action, **options)
        try:
            await sink.open()
        finally:
            await sink.close()

    with pytest.raises(FatalError) as exc:
        asyncio.run(open_sink("insert", table="no_such_table"))
    assert exc.value.context["sql_reason"] == "missing"
    assert "no_such_table" in str(exc.value)
    with pytest.raises(FatalError, match="key_columns: 'skus' is not a column"):
        asyncio.run(open_sink("upsert", table=name, key_columns=["skus"]))
    with pytest.raises(FatalError, match="columns must map the key column"):
        asyncio.run(open_sink("upsert", table=name, columns={"qty": "qty"}))
    with pytest.raises(FatalError, match="did you mean 'qty'"):
        asyncio.run(open_sink("insert", table=name, columns={"qtty": "qty"}))


def test_upsert_needs_a_key(db: Db, tmp_path: Path) -> None:
    name = table_name("nokey")
    db.execute(f"CREATE TABLE {db.q(name)} (a INTEGER, b INTEGER)")
    conn = connector(db.config, tmp_path)

    async def run() -> None:
        sink = sink_of(conn, "upsert", table=name)
        try:
            await sink.open()
        finally:
            await sink.close()

    with pytest.raises(FatalError, match="has no primary key"):
        asyncio.run(run())


def test_pg_procedure_and_function(pg: Db, tmp_path: Path) -> None:
    name = table_name("customers")
    pg.execute(
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT)",
        f"""CREATE PROCEDURE save_{name}(p_id INTEGER, p_name TEXT, p_city TEXT)
            LANGUAGE plpgsql AS $$
            BEGIN
              IF p_name = '' THEN
                RAISE EXCEPTION 'customer % has an empty name', p_id;
              END IF;
              INSERT INTO {name} VALUES (p_id, p_name, p_city)
              ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, city = EXCLUDED.city;
            END $$""",
        f"""CREATE FUNCTION touch_{name}(p_id INTEGER) RETURNS INTEGER
            LANGUAGE sql AS $$ UPDATE {name} SET city = upper(city) WHERE id = p_id
            RETURNING id $$""",
    )
    conn = connector(pg.config, tmp_path)
    payloads = [{"id": 1, "name": "Anna", "address": {"city": "Łódź"}},
                {"id": 2, "name": "", "address": {"city": "Kraków"}},
                {"id": 3, "name": "Jan", "address": {}},
                {"id": "x", "name": "Bad", "address": {}}]
    results = write(conn, "procedure", payloads, procedure=f"save_{name}",
                    arguments=["id", "name", "address.city"])
    assert results is not None
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RejectedError)
    assert "customer 2 has an empty name" in str(results[1])
    assert results[1].context["sql_code"] == "P0001"
    assert isinstance(results[3], RejectedError)  # 'x' is no integer
    assert pg.rows(f"SELECT id, name, city FROM {name} ORDER BY id") == [
        (1, "Anna", "Łódź"), (3, "Jan", None)]
    assert write(conn, "procedure", [{"id": 1}], procedure=f"touch_{name}",
                 arguments=["id"], call="function") is None
    assert pg.rows(f"SELECT city FROM {name} WHERE id = 1") == [("ŁÓDŹ",)]


def test_mariadb_procedure_with_signal(my: Db, tmp_path: Path) -> None:
    name = table_name("customers")
    my.execute(
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)",
        f"""CREATE PROCEDURE save_{name}(IN p_id INTEGER, IN p_name VARCHAR(40))
            BEGIN
              IF p_name = '' THEN
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'empty customer name';
              END IF;
              INSERT INTO {name} VALUES (p_id, p_name)
              ON DUPLICATE KEY UPDATE name = VALUES(name);
            END""",
    )
    conn = connector(my.config, tmp_path)
    payloads = [{"id": 1, "name": "Anna"}, {"id": 2, "name": ""}, {"id": 1, "name": "Ania"},
                {"id": 3, "name": "Jan"}]
    results = write(conn, "procedure", payloads, procedure=f"save_{name}",
                    arguments=["id", "name"])
    assert results is not None
    assert [r is None for r in results] == [True, False, True, True]
    assert isinstance(results[1], RejectedError)
    assert "empty customer name" in str(results[1])
    assert results[1].context["sql_code"] == "1644"
    assert my.rows(f"SELECT id, name FROM {name} ORDER BY id") == [(1, "Ania"), (3, "Jan")]


def test_missing_procedure_is_fatal_and_sqlite_has_none(pg: Db, my: Db, lite: Db,
                                                        tmp_path: Path) -> None:
    async def open_sink(d: Db) -> None:
        sink = sink_of(connector(d.config, tmp_path), "procedure", procedure="no_such_proc",
                       arguments=["id"])
        try:
            await sink.open()
        finally:
            await sink.close()

    for d in (pg, my):
        with pytest.raises(FatalError, match="no procedure named 'no_such_proc'"):
            asyncio.run(open_sink(d))
    with pytest.raises(FatalError, match="sqlite has no stored procedures"):
        asyncio.run(open_sink(lite))


def test_bad_expression_is_fatal_when_the_sink_is_made(lite: Db, tmp_path: Path) -> None:
    conn = connector(lite.config, tmp_path)
    with pytest.raises(FatalError, match=r"columns\.qty"):
        sink_of(conn, "insert", table="t", columns={"qty": "to_number(("})


def test_unreachable_and_refused_logins(tmp_path: Path, pg: Db, my: Db) -> None:
    async def open_sink(config: dict[str, Any]) -> None:
        sink = sink_of(connector(config, tmp_path), "insert", table="t")
        try:
            await sink.open()
        finally:
            await sink.close()

    with pytest.raises(RetriableError):
        asyncio.run(open_sink({"url": "mysql+pymysql://root@127.0.0.1:1/test",
                               "connect_timeout": "2s"}))
    with pytest.raises(FatalError) as role:
        asyncio.run(open_sink({"url": "postgresql+psycopg://no_such_role@127.0.0.1/test"}))
    assert role.value.context["sql_reason"] == "auth"
    with pytest.raises(FatalError) as password:
        asyncio.run(open_sink({"url": "mysql+pymysql://root@127.0.0.1:3306/test",
                               "password": "wrong-Secret-123"}))
    assert password.value.context["sql_reason"] == "auth"
    assert "wrong-Secret-123" not in str(password.value)
