"""SQL upsert throughput: integrator's ``sql`` sink beside a hand-written psycopg loop.

Usage::

    python bench/sql_upsert.py [--rows 50000] [--batch 500] [--rounds 3]
                               [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Into a fresh table of its own (``items``: sku text primary key, qty, price numeric,
name, updated_at timestamptz; in a schema ``bench_sql_<random>`` dropped at the end),
in the same run and against the same PostgreSQL:

* ``psycopg loop`` — one psycopg connection; per batch of ``--batch`` rows: the tuples
  built from the payload dicts, ``cursor.executemany`` of ``INSERT ... ON CONFLICT (sku)
  DO UPDATE SET ...`` inside ``with conn.transaction()``: what a user would write;
* ``integrator sink`` — the connector's upsert sink (action ``upsert``, ``key_columns:
  [sku]``), ``write_batch`` per batch of deliveries: the same statement, the same batch
  size, plus what the connector does (payload → row, the worker-thread hop, a pooled
  connection with pre-ping, per-delivery results);
* ``integrator flow`` — a whole flow run by the engine: memory source → upsert sink
  (``batch_size`` = ``--batch``), acknowledgement included.

Each variant writes every row twice: into the empty table (inserts), then again with
changed values (updates), and the table is checked after each pass (row count and the
sum of qty). Rounds alternate the variants; the best round of each is reported. The
figure to quote is ``÷ loop`` (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COLUMNS = ("sku", "qty", "price", "name", "updated_at")
UPSERT = ("INSERT INTO items (sku, qty, price, name, updated_at) VALUES (%s, %s, %s, %s, %s) "
          "ON CONFLICT (sku) DO UPDATE SET qty = excluded.qty, price = excluded.price, "
          "name = excluded.name, updated_at = excluded.updated_at")


def payloads(rows: int, generation: int) -> list[dict[str, Any]]:
    stamp = dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(days=generation)
    return [{"sku": f"SKU-{i:07}", "qty": (i * 7 + generation) % 1000,
             "price": f"{(i % 9973) / 100 + generation:.2f}",
             "name": f"Produkt {i} – żółta śruba", "updated_at": stamp.isoformat()}
            for i in range(rows)]


def dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    parts = [f"host={u.host or '127.0.0.1'}", f"port={u.port or 5432}",
             f"dbname={u.database}", f"user={u.username}"]
    if u.password:
        parts.append(f"password={u.password}")
    return " ".join(parts)


class Table:
    """The bench schema and its ``items`` table, through a plain psycopg connection."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.schema = f"bench_sql_{secrets.token_hex(4)}"
        self.conn = psycopg.connect(dsn(url), autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {self.schema}")
        self.conn.execute(f"SET search_path TO {self.schema}")
        self.conn.execute("CREATE TABLE items (sku TEXT PRIMARY KEY, qty INTEGER NOT NULL, "
                          "price NUMERIC(10,2), name TEXT, updated_at TIMESTAMPTZ)")

    def reset(self) -> None:
        self.conn.execute("TRUNCATE items")

    def check(self, expected: list[dict[str, Any]]) -> None:
        row = self.conn.execute("SELECT count(*), sum(qty) FROM items").fetchone()
        assert row is not None
        want = (len(expected), sum(p["qty"] for p in expected))
        if (row[0], int(row[1] or 0)) != want:
            raise SystemExit(f"table holds {row}, expected {want}")

    def drop(self) -> None:
        self.conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
        self.conn.close()


def run_loop(url: str, schema: str, data: list[dict[str, Any]], batch: int) -> float:
    import psycopg

    with psycopg.connect(dsn(url)) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            for start in range(0, len(data), batch):
                rows = [(p["sku"], p["qty"], p["price"], p["name"], p["updated_at"])
                        for p in data[start:start + batch]]
                with conn.transaction():
                    cur.executemany(UPSERT, rows)
        return time.perf_counter() - started


def run_sink(url: str, schema: str, data: list[dict[str, Any]], batch: int) -> float:
    from integrator.connectors.base import Delivery, Runtime
    from integrator.connectors.protocols.sql import SqlConnector
    from integrator.message import IdFactory, Message
    from integrator.security.secrets import Redactor

    async def main() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = Runtime("bench", Path(tmp), Path(tmp), Redactor())
            conn = SqlConnector("db", SqlConnector.spec.parse(
                {"url": url, "schema": schema}, "bench"), runtime)
            options = SqlConnector.actions["upsert"].options.parse(
                {"table": "items", "key_columns": ["sku"]}, "bench")
            sink = conn.sink("upsert", options)
            await sink.open()
            ids = IdFactory()
            batches = [[Delivery(p, Message(p, ids)) for p in data[s:s + batch]]
                       for s in range(0, len(data), batch)]
            started = time.perf_counter()
            for deliveries in batches:
                results = await sink.write_batch(deliveries)
                if results is not None and any(results):
                    raise SystemExit(f"sink failed: {[r for r in results if r][:3]}")
            took = time.perf_counter() - started
            await sink.close()
            return took

    return asyncio.run(main())


def run_flow(url: str, schema: str, data: list[dict[str, Any]], batch: int) -> float:
    from integrator.compiler import check_text
    from integrator.connectors.builtin.memory import MemoryHub
    from integrator.delivery.deadletters import MemoryDeadLetters
    from integrator.engine.runner import Engine, RunOptions
    from integrator.flow.loader import LoadOptions

    text = f"""
flow: bench-sql-upsert
settings: {{batch_size: {batch}}}
connections:
  input: {{type: memory, batch_size: {batch}}}
  db: {{type: sql, url: "{url}", schema: {schema}}}
source: {{connection: input}}
steps:
  - deliver: [items]
sinks:
  items:
    connection: db
    action: upsert
    batch_size: {batch}
    options: {{table: items, key_columns: [sku]}}
"""
    with tempfile.TemporaryDirectory() as tmp:
        compiled, diag = check_text(text, "bench.yaml", options=LoadOptions(env={}),
                                    workdir=Path(tmp))
        if compiled is None:
            raise SystemExit(f"flow does not compile: {diag.problems}")
        hub = MemoryHub(channels={"input": list(data)})
        engine = Engine(compiled, RunOptions(workdir=Path(tmp)), resources={"memory": hub},
                        dead_letters=MemoryDeadLetters())
        started = time.perf_counter()
        report = asyncio.run(engine.run())
        took = time.perf_counter() - started
        if report.status != "completed" or report.acked != len(data):
            raise SystemExit(f"flow run: {report.status} {report.fatal} "
                             f"acked {report.acked}/{len(data)}")
        return took


VARIANTS: dict[str, Callable[[str, str, list[dict[str, Any]], int], float]] = {
    "psycopg loop": run_loop,
    "integrator sink": run_sink,
    "integrator flow": run_flow,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    inserts, updates = payloads(args.rows, 0), payloads(args.rows, 1)
    table = Table(args.url)
    best: dict[tuple[str, str], float] = {}
    try:
        for _ in range(args.rounds):
            for name, run in VARIANTS.items():
                table.reset()
                for phase, data in (("insert", inserts), ("update", updates)):
                    seconds = run(args.url, table.schema, data, args.batch)
                    table.check(data)
                    key = (name, phase)
                    best[key] = min(best.get(key, seconds), seconds)
    finally:
        table.drop()

    print(f"PostgreSQL upsert, {args.rows} rows, batch {args.batch}, best of "
          f"{args.rounds} rounds")
    print(f"{'variant':<18}{'phase':<8}{'rows/s':>10}{'÷ loop':>9}")
    for phase in ("insert", "update"):
        loop = args.rows / best[("psycopg loop", phase)]
        for name in VARIANTS:
            rate = args.rows / best[(name, phase)]
            print(f"{name:<18}{phase:<8}{rate:>10.0f}{rate / loop:>9.2f}")


if __name__ == "__main__":
    main()
