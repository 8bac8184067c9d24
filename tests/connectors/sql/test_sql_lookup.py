"""The sql lookup against real PostgreSQL, MariaDB and SQLite: by table and key column,
by a :keys query (batched IN) and a :key query; misses and unusable keys are absent."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sql_support import Db, connector, lookup_of, table_name

from integrator.errors import FatalError


def make_products(d: Db, count: int = 1200) -> str:
    name = table_name("products")
    d.execute(f"CREATE TABLE {d.q(name)} (id INTEGER PRIMARY KEY, sku VARCHAR(20) NOT NULL, "
              "name VARCHAR(40), warehouse VARCHAR(10))")
    d.insert(name, [{"id": i, "sku": f"SKU-{i}", "name": f"Product {i}",
                     "warehouse": "LDZ" if i % 2 else "LEJ"} for i in range(1, count + 1)])
    return name


def look(conn: Any, keys: Sequence[Hashable], **options: Any) -> dict[Hashable, Any]:
    async def run() -> dict[Hashable, Any]:
        lookup = lookup_of(conn, **options)
        await lookup.open()
        try:
            return dict(await lookup.get_many(keys))
        finally:
            await lookup.close()
    return asyncio.run(run())


def test_table_lookup_in_batches(db: Db, tmp_path: Path) -> None:
    name = make_products(db)
    conn = connector(db.config, tmp_path)
    keys: list[Hashable] = [f"SKU-{i}" for i in range(1, 1101)] + ["SKU-0", "nope"]
    found = look(conn, keys, table=name, key_column="sku", columns=["name"])
    assert len(found) == 1100  # more than one IN (...) of 500
    assert found["SKU-7"] == {"name": "Product 7", "sku": "SKU-7"}
    assert "SKU-0" not in found and "nope" not in found


def test_number_and_text_keys_match_an_integer_column(db: Db, tmp_path: Path) -> None:
    name = make_products(db, 10)
    conn = connector(db.config, tmp_path)
    found = look(conn, [3, "4", 5.0, 99, "abc"], table=name, key_column="id")
    assert found[3]["sku"] == "SKU-3"
    assert found["4"]["sku"] == "SKU-4"
    assert found[5.0]["sku"] == "SKU-5"
    # 99 does not exist; "abc" cannot be an integer: absent, and the others still found
    assert set(found) == {3, "4", 5.0}


def test_keys_query_with_all_rows(db: Db, tmp_path: Path) -> None:
    name = make_products(db, 6)
    conn = connector(db.config, tmp_path)
    query = f"SELECT warehouse, sku FROM {db.q(name)} WHERE warehouse IN :keys ORDER BY id"
    found = look(conn, ["LDZ", "LEJ", "XXX"], query=query, key_column="warehouse",
                 rows="all")
    assert [r["sku"] for r in found["LDZ"]] == ["SKU-1", "SKU-3", "SKU-5"]
    assert [r["sku"] for r in found["LEJ"]] == ["SKU-2", "SKU-4", "SKU-6"]
    assert "XXX" not in found


def test_key_query_runs_per_key(db: Db, tmp_path: Path) -> None:
    name = make_products(db, 5)
    conn = connector(db.config, tmp_path)
    query = f"SELECT name FROM {db.q(name)} WHERE lower(sku) = lower(:key)"
    found = look(conn, ["sku-2", "SKU-5", "missing"], query=query)
    assert found == {"sku-2": {"name": "Product 2"}, "SKU-5": {"name": "Product 5"}}


def test_odd_column_names(db: Db, tmp_path: Path) -> None:
    name = f"Kartoteka {table_name('x')}"
    q = db.q
    db.execute(f"CREATE TABLE {q(name)} ({q('Kod towaru')} VARCHAR(20) PRIMARY KEY, "
               f"{q('Nazwa towaru')} VARCHAR(40))")
    db.insert(name, [{"Kod towaru": "T-1", "Nazwa towaru": "Śruba"}])
    conn = connector(db.config, tmp_path)
    found = look(conn, ["T-1"], table=name, key_column="Kod towaru")
    assert found == {"T-1": {"Kod towaru": "T-1", "Nazwa towaru": "Śruba"}}


def test_bad_lookup_configurations_are_fatal_at_open(db: Db, tmp_path: Path) -> None:
    name = make_products(db, 1)
    conn = connector(db.config, tmp_path)
    with pytest.raises(FatalError) as missing:
        look(conn, ["x"], table="no_such_table", key_column="sku")
    assert missing.value.context["sql_reason"] == "missing"
    with pytest.raises(FatalError, match="did you mean 'sku'"):
        look(conn, ["x"], table=name, key_column="skus")
    with pytest.raises(FatalError, match="one parameter, :key or :keys"):
        look(conn, ["x"], query=f"SELECT * FROM {db.q(name)} WHERE sku = :sku")
    with pytest.raises(FatalError, match=":keys needs key_column"):
        look(conn, ["x"], query=f"SELECT * FROM {db.q(name)} WHERE sku IN :keys")
    with pytest.raises(FatalError) as unknown:
        look(conn, ["x"], query=f"SELECT nope FROM {db.q(name)} WHERE sku = :key")
    assert unknown.value.context["sql_reason"] in ("missing", "syntax")
    with pytest.raises(FatalError, match="either table"):
        look(conn, ["x"], key_column="sku")


def test_empty_and_null_keys(lite: Db, tmp_path: Path) -> None:
    name = make_products(lite, 2)
    conn = connector(lite.config, tmp_path)
    assert look(conn, [], table=name, key_column="sku") == {}
    assert look(conn, [None], table=name, key_column="sku") == {}  # type: ignore[list-item]
