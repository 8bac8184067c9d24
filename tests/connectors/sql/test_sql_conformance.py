"""The connector conformance suite for ``sql`` on PostgreSQL, MariaDB and SQLite.

The peer is a table of its own (in a schema or database of its own, dropped at the
end). ``restart()`` does not stop the shared database service: it kills every server
connection the connector holds (``pg_terminate_backend`` / ``KILL``), which is what a
restart looks like from the client, and the pool must notice and reconnect.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sql_support import MY_PORT, PG_PORT, suffix

from integrator.testing import ConnectorConformance, Peer, require_service

COLUMNS = ["id", "n", "name", "paid"]


class TablePeer(Peer):
    """One table: ``id`` primary key, ``n`` (the watermark), ``name``, ``paid``, and an
    insertion counter that gives the order rows were applied in."""

    def __init__(self, config: dict[str, Any], raw: Any, kind: str, table: str) -> None:
        super().__init__(
            config,
            source_options={"table": table, "columns": COLUMNS, "watermark_column": "n",
                            "key_column": "id", "batch_size": 3},
            sink_action="upsert",
            sink_options={"table": table, "key_columns": ["id"]},
            lookup_options={"table": table, "key_column": "id", "columns": COLUMNS},
            lookup_key="id",
            meta_keys=("watermark", "key"),
            bad_payload={"id": "rec-bad", "n": -1, "name": "breaks CHECK (n >= 0)",
                         "paid": False},
        )
        self.raw = raw
        self.kind = kind
        self.table = table
        self.order = "rowid" if kind == "sqlite" else "seq"

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.raw.cursor()
        try:
            cur.execute(sql, params)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            cur.close()
        self.raw.commit()
        return rows

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        mark = "?" if self.kind == "sqlite" else "%s"
        for r in records:
            self._execute(f"INSERT INTO {self.table} (id, n, name, paid) VALUES "
                          f"({mark}, {mark}, {mark}, {mark})",
                          (r["id"], r["n"], r["name"], r["paid"]))

    async def written(self) -> list[Any]:
        rows = self._execute(f"SELECT id, n, name, paid FROM {self.table} "
                             f"ORDER BY {self.order}")
        return [dict(zip(COLUMNS, row, strict=True)) for row in rows]

    def matches(self, expected: Any, actual: Any) -> bool:
        # MariaDB and SQLite keep booleans as 0/1
        return isinstance(actual, Mapping) and all(
            bool(actual.get(k)) == bool(expected[k]) if k == "paid"
            else actual.get(k) == expected[k] for k in COLUMNS)


class PostgresPeer(TablePeer):
    async def restart(self) -> None:
        self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'integrator/conformance' "
                      "AND pid <> pg_backend_pid()")
        await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._execute(f'DROP SCHEMA "{self.config["schema"]}" CASCADE')
        self.raw.close()


class MariaDbPeer(TablePeer):
    def __init__(self, *args: Any, database: str, admin: Any) -> None:
        super().__init__(*args)
        self.database = database
        self.admin = admin

    async def restart(self) -> None:
        with self.admin.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE db = %s",
                        (self.database,))
            ids = [row[0] for row in cur.fetchall()]
            for pid in ids:
                if pid != self.raw.thread_id():
                    cur.execute(f"KILL {int(pid)}")
        await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.raw.close()
        with self.admin.cursor() as cur:
            cur.execute(f"DROP DATABASE `{self.database}`")
        self.admin.close()


class SqlitePeer(TablePeer):
    async def close(self) -> None:
        self.raw.close()


def _ddl(kind: str, table: str) -> str:
    seq = {"postgresql": "seq SERIAL, ", "mysql": "seq INTEGER AUTO_INCREMENT UNIQUE, ",
           "sqlite": ""}[kind]
    return (f"CREATE TABLE {table} ({seq}id VARCHAR(40) PRIMARY KEY, "
            "n INTEGER NOT NULL CHECK (n >= 0), name VARCHAR(100), paid BOOLEAN)")


class TestPostgresConformance(ConnectorConformance):
    connector_type = "sql"
    roles = ("source", "sink", "lookup")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("PostgreSQL", port=PG_PORT)
        import psycopg

        schema, table = f"itsqlc_{suffix()}", f"rows_{suffix()}"
        raw = psycopg.connect(f"host=127.0.0.1 port={PG_PORT} dbname=test user=postgres")
        raw.execute(f'CREATE SCHEMA "{schema}"')
        raw.execute(f'SET search_path TO "{schema}"')
        raw.execute(_ddl("postgresql", table))
        raw.commit()
        config = {"url": f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/test",
                  "schema": schema, "tables": [table]}
        return PostgresPeer(config, raw, "postgresql", table)


class TestMariaDbConformance(ConnectorConformance):
    connector_type = "sql"
    roles = ("source", "sink", "lookup")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        require_service("MariaDB", port=MY_PORT)
        import pymysql

        database, table = f"itsqlc_{suffix()}", f"rows_{suffix()}"
        admin = pymysql.connect(host="127.0.0.1", port=MY_PORT, user="root", password="",
                                autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        raw = pymysql.connect(host="127.0.0.1", port=MY_PORT, user="root", password="",
                              database=database, charset="utf8mb4")
        with raw.cursor() as cur:
            cur.execute(_ddl("mysql", table))
        config = {"url": f"mysql+pymysql://root@127.0.0.1:{MY_PORT}/{database}",
                  "tables": [table]}
        return MariaDbPeer(config, raw, "mysql", table, database=database, admin=admin)


class TestSqliteConformance(ConnectorConformance):
    connector_type = "sql"
    roles = ("source", "sink", "lookup")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        path = tmp_path / f"peer-{suffix()}.db"
        raw = sqlite3.connect(path)
        table = f"rows_{suffix()}"
        raw.execute(_ddl("sqlite", table))
        raw.commit()
        return SqlitePeer({"url": f"sqlite:///{path}", "tables": [table]}, raw, "sqlite",
                          table)
