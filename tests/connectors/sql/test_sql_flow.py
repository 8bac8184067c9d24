"""Flows through the engine: a PostgreSQL legacy table (odd column names) → map → enrich
from SQLite → upsert into MariaDB; a second run reads only the new and changed rows, from
the watermark stored by the first; a row the target refuses is dead-lettered alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from sql_support import Db
from support import compile_flow

from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions


def flow_text(pg: Db, my: Db, lite: Db, source_table: str) -> str:
    return f"""
        flow: erp-stock-sync
        keys:
          sku: sku
        connections:
          erp:
            type: sql
            url: {pg.url}
            schema: {pg.schema}
          shop:
            type: sql
            url: {my.url}
          reference:
            type: sql
            url: {lite.url}
        source:
          connection: erp
          options:
            query: >-
              SELECT "Indeks" AS sku, "Ilość" AS qty, "Magazyn" AS warehouse,
              "Data zmiany" AS changed, lp FROM "{source_table}"
            watermark_column: changed
            key_column: lp
            batch_size: 3
        steps:
          - enrich:
              connection: reference
              options: {{table: warehouses, key_column: code, columns: [city]}}
              key: warehouse
              into: wh
          - map:
              fields:
                sku: sku
                qty: qty
                city: wh.city
                changed: changed
          - deliver: [stock]
        sinks:
          stock:
            connection: shop
            action: upsert
            batch_size: 4
            options:
              table: stock
              key_columns: [sku]
    """


def run(text: str, workdir: Path) -> tuple[RunReport, MemoryDeadLetters]:
    dead = MemoryDeadLetters()
    engine = Engine(compile_flow(text, workdir=workdir), RunOptions(workdir=workdir),
                    dead_letters=dead)
    return asyncio.run(engine.run()), dead


def test_sql_to_sql_flow_reads_only_new_rows_on_the_second_run(
        pg: Db, my: Db, lite: Db, tmp_path: Path) -> None:
    table = "Stany magazynowe"
    pg.execute(f'DROP TABLE IF EXISTS "{table}"',
               f'CREATE TABLE "{table}" (lp SERIAL PRIMARY KEY, "Indeks" VARCHAR(20), '
               '"Ilość" INTEGER, "Magazyn" VARCHAR(10), "Data zmiany" TIMESTAMP)')
    base = dt.datetime(2024, 5, 1, 8, 0)
    rows = [{"Indeks": f"SKU-{i}", "Ilość": i * 10, "Magazyn": "LDZ" if i % 2 else "WAW",
             "Data zmiany": base + dt.timedelta(minutes=i // 3)} for i in range(1, 11)]
    pg.insert(table, rows)
    my.execute("DROP TABLE IF EXISTS stock",
               "CREATE TABLE stock (sku VARCHAR(20) PRIMARY KEY, qty INTEGER NOT NULL "
               "CHECK (qty >= 0), city VARCHAR(40), changed VARCHAR(40))")
    lite.execute("CREATE TABLE warehouses (code TEXT PRIMARY KEY, city TEXT)",
                 "INSERT INTO warehouses VALUES ('LDZ', 'Łódź'), ('WAW', 'Warszawa')")
    text = flow_text(pg, my, lite, table)

    report, dead = run(text, tmp_path)
    assert report.status == "completed", report.fatal
    assert (report.read, report.acked, report.dead_lettered) == (10, 10, 0)
    assert my.rows("SELECT sku, qty, city FROM stock ORDER BY qty") == [
        (f"SKU-{i}", i * 10, "Łódź" if i % 2 else "Warszawa") for i in range(1, 11)]
    state = json.loads((tmp_path / ".integrator/erp-stock-sync/state.json").read_text())
    assert state["erp/source:query:changed:lp"] == {
        "watermark": {"datetime": "2024-05-01T08:03:00"}, "key": 10}

    # the ERP changes one row and adds two, one of them refused by the shop's CHECK
    pg.execute(f'UPDATE "{table}" SET "Ilość" = 333, "Data zmiany" = \'2024-05-02 09:00\' '
               "WHERE \"Indeks\" = 'SKU-3'")
    pg.insert(table, [
        {"Indeks": "SKU-11", "Ilość": 110, "Magazyn": "WAW",
         "Data zmiany": dt.datetime(2024, 5, 2, 9, 0)},
        {"Indeks": "SKU-12", "Ilość": -1, "Magazyn": "LDZ",
         "Data zmiany": dt.datetime(2024, 5, 2, 9, 0)},
    ])
    report, dead = run(text, tmp_path)
    assert report.status == "completed", report.fatal
    assert (report.read, report.acked, report.dead_lettered) == (3, 3, 1)
    letter = dead.letters[0]
    assert letter["keys"] == {"sku": "SKU-12"}
    assert letter["error_class"] == "RejectedError"
    assert "upsert into stock" in letter["error"] and "4025" in letter["error"]
    assert my.rows("SELECT sku, qty FROM stock WHERE sku IN ('SKU-3', 'SKU-11', 'SKU-12') "
                   "ORDER BY sku") == [("SKU-11", 110), ("SKU-3", 333)]

    report, _ = run(text, tmp_path)  # nothing new
    assert (report.status, report.read) == ("completed", 0)
