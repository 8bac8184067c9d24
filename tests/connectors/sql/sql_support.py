"""What the sql connector tests share: the machine's PostgreSQL and MariaDB (and SQLite in
tmp_path), a schema or database of their own per test module, and small helpers to build
connectors, read sources and write sinks.

Not a conftest: pytest imports every folder's conftest as the module ``conftest``, so a
second one would shadow the root conftest that other tests import from.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from integrator.connectors.base import Delivery, Record, Runtime, Source
from integrator.connectors.protocols.sql import SqlConnector
from integrator.connectors.state import MemoryStateStore, StateStore
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor

PG_PORT = 5432
MY_PORT = 3306


def require(service: str, port: int) -> None:
    """Skip when ``service`` is not listening on 127.0.0.1:``port`` — or fail, in CI."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return
    except OSError:
        pass
    message = f"{service} not reachable on 127.0.0.1:{port}"
    if (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("INTEGRATOR_REQUIRE_SERVICES") == "1"):
        pytest.fail(message + " (CI=true / INTEGRATOR_REQUIRE_SERVICES=1: services are "
                    "required)")
    pytest.skip(message)


def suffix() -> str:
    return secrets.token_hex(4)


class Db:
    """One test database: a PostgreSQL schema, a MariaDB database or a SQLite file.

    ``execute`` runs setup SQL through the raw driver (autocommit); ``rows`` reads back.
    ``config`` is the connection block for the sql connector.
    """

    def __init__(self, kind: str, url: str, schema: str | None, raw: Any) -> None:
        self.kind = kind
        self.url = url
        self.schema = schema
        self.raw = raw

    @property
    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url}
        if self.kind == "postgresql":
            out["schema"] = self.schema
        return out

    def q(self, name: str) -> str:
        return f"`{name}`" if self.kind == "mysql" else f'"{name}"'

    def execute(self, *statements: str, params: Sequence[Any] | None = None) -> None:
        cur = self.raw.cursor()
        try:
            for sql in statements:
                if params is None:
                    cur.execute(sql)
                else:
                    cur.execute(sql, params)
        finally:
            cur.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = list(rows[0])
        mark = "?" if self.kind == "sqlite" else "%s"
        sql = (f"INSERT INTO {self.q(table)} ({', '.join(self.q(c) for c in cols)}) "
               f"VALUES ({', '.join(mark for _ in cols)})")
        values = [tuple(self._value(r[c]) for c in cols) for r in rows]
        cur = self.raw.cursor()
        try:
            cur.executemany(sql, values)
        finally:
            cur.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def _value(self, value: Any) -> Any:
        """SQLite stores decimals and timestamps as the text other databases print."""
        if self.kind != "sqlite":
            return value
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.datetime):
            return value.isoformat(" ")
        return value

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self.raw.cursor()
        try:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
            if self.kind == "mysql":
                self.raw.commit()  # end the snapshot so the next read sees new rows


def postgres() -> Iterator[Db]:
    require("PostgreSQL", PG_PORT)
    import psycopg

    schema = f"itsql_{suffix()}"
    raw = psycopg.connect(f"host=127.0.0.1 port={PG_PORT} dbname=test user=postgres",
                          autocommit=True)
    raw.execute(f'CREATE SCHEMA "{schema}"')
    raw.execute(f'SET search_path TO "{schema}"')
    try:
        yield Db("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/test",
                 schema, raw)
    finally:
        raw.execute(f'DROP SCHEMA "{schema}" CASCADE')
        raw.close()


def mariadb() -> Iterator[Db]:
    require("MariaDB", MY_PORT)
    import pymysql

    database = f"itsql_{suffix()}"
    admin = pymysql.connect(host="127.0.0.1", port=MY_PORT, user="root", password="",
                            autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    raw = pymysql.connect(host="127.0.0.1", port=MY_PORT, user="root", password="",
                          database=database, autocommit=True, charset="utf8mb4")
    try:
        yield Db("mysql", f"mysql+pymysql://root@127.0.0.1:{MY_PORT}/{database}",
                 database, raw)
    finally:
        raw.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE `{database}`")
        admin.close()


def sqlite(tmp_path: Path) -> Iterator[Db]:
    path = tmp_path / "test.db"
    raw = sqlite3.connect(path)
    try:
        yield Db("sqlite", f"sqlite:///{path}", None, raw)
    finally:
        raw.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[Db]:
    yield from postgres()


@pytest.fixture(scope="module")
def my() -> Iterator[Db]:
    yield from mariadb()


@pytest.fixture()
def lite(tmp_path: Path) -> Iterator[Db]:
    yield from sqlite(tmp_path)


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Each test runs once per database kind (the server ones share a module schema)."""
    kind = request.param
    if kind == "sqlite":
        yield from sqlite(tmp_path)
    else:
        yield request.getfixturevalue("pg" if kind == "postgresql" else "my")


def table_name(prefix: str = "t") -> str:
    return f"{prefix}_{suffix()}"


def connector(config: dict[str, Any], tmp_path: Path, *, state: StateStore | None = None,
              name: str = "db") -> SqlConnector:
    runtime = Runtime(flow="sql-test", workdir=tmp_path, state_dir=tmp_path / ".state",
                      redactor=Redactor(), state=state or MemoryStateStore())
    return SqlConnector(name, SqlConnector.spec.parse(config, f"connection {name!r}"),
                        runtime)


def source_of(conn: SqlConnector, **options: Any) -> Source:
    return conn.source(SqlConnector.source_options.parse(options, "source"))


def sink_of(conn: SqlConnector, action: str, **options: Any) -> Any:
    return conn.sink(action, SqlConnector.actions[action].options.parse(options, "sink"))


def lookup_of(conn: SqlConnector, **options: Any) -> Any:
    return conn.lookup(SqlConnector.lookup_options.parse(options, "lookup"))


def deliveries(payloads: Sequence[Any]) -> list[Delivery]:
    ids = IdFactory()
    return [Delivery(p, Message(p, ids)) for p in payloads]


async def read_all(source: Source, *, ack: bool = True, limit: int | None = None
                   ) -> list[list[Record]]:
    """Every batch until the source ends (or ``limit`` records), acking each batch."""
    batches: list[list[Record]] = []
    count = 0
    async for batch in source.batches():
        batches.append(batch)
        count += len(batch)
        if ack:
            await source.ack([r.ack for r in batch])
        if limit is not None and count >= limit:
            break
    return batches


def bodies(batches: Sequence[Sequence[Record]]) -> list[Any]:
    return [r.body for batch in batches for r in batch]
