"""The sql lookup: rows by key for ``enrich`` steps.

Three ways to say what to look up:

* ``table`` + ``key_column`` [+ ``columns``]: ``SELECT ... WHERE key IN (...)``, up to
  500 keys per statement.
* ``query`` with ``:keys`` + ``key_column``: the query is run with ``:keys`` expanded to
  a list (``WHERE p.sku IN :keys``), up to 500 keys per run; ``key_column`` names the
  result column that holds the key.
* ``query`` with ``:key``: the query runs once per key (all of a batch's keys on one
  connection, one after the other).

Keys are bound as text (``42`` → ``'42'``; the database converts text to the column's
type) and matched as text, so a number key finds an integer or text column alike. A
key the column's type cannot hold (``abc`` for an integer column) is simply not found:
the batch is then asked key by key and the refused key is left out. ``rows: one``
answers the first row found (add ORDER BY to a query to choose it), ``rows: all`` a
list of every row. The query is SQLAlchemy ``text()``: write ``\\:`` for a literal
colon.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrator.connectors.base import Lookup
from integrator.connectors.protocols.sql.database import MARK, Database, SharedDatabase
from integrator.connectors.protocols.sql.failures import REJECT, classify
from integrator.connectors.protocols.sql.values import json_safe, row_converter
from integrator.errors import FatalError
from integrator.flow.suggest import did_you_mean

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.elements import TextClause

__all__ = ["LookupSettings", "SqlLookup"]

KEYS_PER_QUERY = 500


@dataclass(frozen=True)
class LookupSettings:
    """The lookup options, parsed and checked once."""

    table: str | None
    key_column: str | None
    columns: tuple[str, ...] | None
    query: str | None
    rows: str
    decimals_as_number: bool

    @classmethod
    def from_values(cls, values: Mapping[str, Any], where: str) -> LookupSettings:
        table, query = values.get("table"), values.get("query")
        if bool(table) == bool(query):
            raise FatalError(f"{where}: lookup: give either table (with key_column) or "
                             "query (with :key or :keys)")
        if table and not values.get("key_column"):
            raise FatalError(f"{where}: lookup: table needs key_column")
        if query and values.get("columns"):
            raise FatalError(f"{where}: lookup: columns goes with table; with query, "
                             "select the columns in it")
        columns = values.get("columns")
        return cls(table=table, key_column=values.get("key_column"),
                   columns=tuple(columns) if columns else None,
                   query=query.strip().rstrip(";") if query else None,
                   rows=values.get("rows") or "one",
                   decimals_as_number=values.get("decimals") == "number")


def key_text(value: Any) -> str:
    """How a key is bound and compared: text, integral floats without ``.0``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    safe = json_safe(value)
    return safe if isinstance(safe, str) else str(safe)


class SqlLookup(Lookup):
    """Answers ``get_many`` with one statement per 500 keys (or one per key for a
    ``:key`` query); ``open`` checks the table or query (FatalError when missing)."""

    def __init__(self, shared: SharedDatabase, settings: LookupSettings, where: str) -> None:
        self.shared = shared
        self.s = settings
        self.where = where
        self._db: Database | None = None
        self._mode = "table" if settings.table else "key"
        self._text: TextClause | None = None
        self._columns: list[str] = []
        self._select = ""

    async def open(self) -> None:
        """Check the table or query (FatalError when it is missing or lacks the key
        column); on failure the connection is released again."""
        db = self._db = self.shared.acquire()
        try:
            await self._open(db)
        except BaseException:
            await self.close()
            raise

    async def _open(self, db: Database) -> None:
        s = self.s
        if s.table is not None:
            assert s.key_column is not None
            cols = list(s.columns or ())
            if cols and s.key_column not in cols:
                cols.append(s.key_column)
            select = ", ".join(db.quote(c) for c in cols) if cols else "*"
            self._select = f"SELECT {select} FROM {db.table(s.table)}"  # noqa: S608
            names = await db.call(lambda: db.probe(f"{self._select} WHERE 1 = 0"),
                                  f"reading the columns of table {s.table!r}")
            what = f"table {s.table!r}"
        else:
            names, what = await self._open_query(db), "the query"
        self._columns = names
        if s.key_column is not None and s.key_column not in names:
            raise FatalError(f"{self.where}: key_column {s.key_column!r} is not a column of "
                             f"{what}", hint=did_you_mean(s.key_column, names)
                             or f"columns: {', '.join(names)}")

    async def _open_query(self, db: Database) -> list[str]:
        from sqlalchemy import bindparam, text

        s = self.s
        assert s.query is not None
        clause = text(s.query)
        params = set(clause._bindparams)  # the names text() parsed
        if params == {"keys"}:
            self._mode = "keys"
            if s.key_column is None:
                raise FatalError(f"{self.where}: a lookup query with :keys needs "
                                 "key_column (the result column holding the key)")
            clause = clause.bindparams(bindparam("keys", expanding=True))
            probe_args: dict[str, Any] = {"keys": [None]}
        elif params == {"key"}:
            probe_args = {"key": None}
        else:
            raise FatalError(
                f"{self.where}: a lookup query takes one parameter, :key or :keys; it "
                f"has {', '.join(sorted(':' + p for p in params)) or 'none'}",
                hint="write \\: for a colon that is not a parameter")
        self._text = clause
        probe = text(f"SELECT * FROM ({s.query}) AS integrator_lookup WHERE 1 = 0")  # noqa: S608
        if self._mode == "keys":
            probe = probe.bindparams(bindparam("keys", expanding=True))

        def columns() -> list[str]:
            with db.engine.connect() as conn:
                result = conn.execute(probe, probe_args)
                try:
                    return list(result.keys())
                finally:
                    result.close()

        return await db.call(columns, "checking the lookup query")

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        db = self._db
        if db is None:
            raise FatalError(f"{self.where}: lookup before open or after close")
        by_text: dict[str, list[Hashable]] = {}
        for key in keys:
            if key is None:
                continue
            by_text.setdefault(key_text(key), []).append(key)
        if not by_text:
            return {}
        texts = list(by_text)
        found = await db.call(lambda: self._fetch(db, texts), "looking up keys")
        out: dict[Hashable, Any] = {}
        for text_key, rows in found.items():
            value = rows[0] if self.s.rows == "one" else rows
            for key in by_text.get(text_key, ()):
                out[key] = value
        return out

    # -- in a worker thread ----------------------------------------------------------

    def _fetch(self, db: Database, texts: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        with db.engine.connect() as conn:
            if self._mode == "key":
                for text_key in texts:
                    self._guarded(conn, [text_key], found, single=True)
                return found
            for start in range(0, len(texts), KEYS_PER_QUERY):
                chunk = texts[start:start + KEYS_PER_QUERY]
                if not self._guarded(conn, chunk, found, single=False):
                    for text_key in chunk:  # a key the column cannot hold: ask one by one
                        self._guarded(conn, [text_key], found, single=False)
        return found

    def _guarded(self, conn: Connection, texts: list[str],
                 found: dict[str, list[dict[str, Any]]], *, single: bool) -> bool:
        """Run one statement; False (and the transaction reset) when the database
        refused a key's value; other errors propagate."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._run(conn, texts, found, single)
        except SQLAlchemyError as exc:
            if classify(exc).outcome != REJECT:
                raise
            conn.rollback()
            return False
        return True

    def _run(self, conn: Connection, texts: list[str],
             found: dict[str, list[dict[str, Any]]], single: bool) -> None:
        db = self._db
        assert db is not None
        if self._mode == "table":
            assert self.s.key_column is not None
            marks = ", ".join(MARK for _ in texts)
            sql = db.sql(f"{self._select} WHERE {db.quote(self.s.key_column)} IN ({marks})")
            result = conn.exec_driver_sql(sql, tuple(texts))
        else:
            assert self._text is not None
            args = {"key": texts[0]} if self._mode == "key" else {"keys": texts}
            result = conn.execute(self._text, args)
        names = list(result.keys())
        convert = row_converter(names, self.s.decimals_as_number)
        rows = result.fetchall()
        if single and self._mode == "key":
            if rows:
                found[texts[0]] = [convert(r) for r in rows]
            return
        assert self.s.key_column is not None
        ki = names.index(self.s.key_column)
        for row in rows:
            found.setdefault(key_text(row[ki]), []).append(convert(row))

    async def close(self) -> None:
        if self._db is not None:
            self._db = None
            await self.shared.release()
