"""The sql sinks: ``insert`` and ``upsert`` into a table, ``procedure`` calls.

A batch is one transaction: the rows go out with ``executemany`` (psycopg pipelines
them, PyMySQL folds an INSERT into multi-row statements), then one COMMIT. When the
database refuses the batch for a reason that belongs to a row (a constraint, a value
that does not fit, a procedure's own error), the batch is rolled back and written again
row by row, each row inside a savepoint: refused rows get their RejectedError, the
others are committed together. A refusal that concerns every row (connection lost,
deadlock, timeout: RetriableError; unknown table or column, privileges: FatalError)
fails the whole batch and nothing of it is committed.

Which columns a row writes:

* with ``columns`` (column → JMESPath or field name): exactly those columns; a field the
  payload lacks writes NULL;
* without: the payload's own keys, each of which must be a column of the table (checked
  against the columns read at ``open``, so message data never reaches the SQL text —
  only the table's real column names do). A column the payload leaves out is not
  written: insert gives it the column default, upsert leaves the stored value alone.
  Consecutive payloads with the same keys share one ``executemany``.

Upsert statements:

* PostgreSQL, SQLite: ``INSERT ... ON CONFLICT (key_columns) DO UPDATE SET c =
  excluded.c`` (``DO NOTHING`` when there is nothing to update); the key columns need
  a unique index or primary key.
* MariaDB/MySQL: ``INSERT ... ON DUPLICATE KEY UPDATE c = VALUES(c)``; the server
  matches on any unique key of the table, key_columns only say which columns are not
  updated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrator.connectors.base import Delivery, Sink
from integrator.connectors.protocols.sql.database import MARK, Database, SharedDatabase
from integrator.connectors.protocols.sql.failures import REJECT, classify, to_error
from integrator.connectors.protocols.sql.values import to_bind
from integrator.errors import (
    ExpressionSyntaxError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
)
from integrator.flow.suggest import did_you_mean

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["ProcedureSink", "TableSink", "compile_field"]

MAX_STATEMENTS = 256
# Characters of JMESPath syntax: a text without any of them that does not compile as
# JMESPath (``Nr dokumentu``, ``Ilość``) is a plain field name.
_SYNTAX = frozenset(".[]{}()|&!<>=@*,'\"`$:?")

Getter = Callable[[Any], Any]


def compile_field(text: Any, where: str) -> Getter:
    """A getter for a JMESPath expression, or for a field name JMESPath cannot spell."""
    from integrator.mapping.jmespath import compile_expression

    if not isinstance(text, str) or not text:
        raise FatalError(f"{where}: expected a JMESPath expression or field name, got "
                         f"{text!r}")
    try:
        return compile_expression(text).search
    except ExpressionSyntaxError as exc:
        if _SYNTAX.isdisjoint(text):
            def field(payload: Any, name: str = text) -> Any:
                return payload.get(name) if isinstance(payload, dict) else None
            return field
        raise FatalError(f"{where}: {exc.message}", hint=exc.hint) from None


@dataclass(frozen=True)
class _Group:
    """Consecutive deliveries with the same statement."""

    sql: str
    indexes: list[int]
    rows: list[tuple[Any, ...]]


class _BatchSink(Sink):
    """Shared by both sinks: one transaction per batch, row by row when a row fails."""

    label = ""

    def __init__(self, shared: SharedDatabase, where: str) -> None:
        self.shared = shared
        self.where = where
        self._db: Database | None = None

    async def open(self) -> None:
        """Connect and check the target (FatalError when it is missing); on failure
        the connection is released again."""
        db = self._db = self.shared.acquire()
        try:
            await self._check(db)
        except BaseException:
            await self.close()
            raise

    async def _check(self, db: Database) -> None:
        return None

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        db = self._db
        if db is None:
            raise FatalError(f"{self.where}: write before open or after close")
        payloads = [d.payload for d in deliveries]
        return await db.call(lambda: self._write(db, payloads), self.label)

    def _groups(self, payloads: Sequence[Any], errors: list[IntegratorError | None]
                ) -> list[_Group]:
        raise NotImplementedError

    def _write(self, db: Database, payloads: Sequence[Any]
               ) -> list[IntegratorError | None] | None:
        """In a worker thread: the batch in one transaction, or row by row."""
        from sqlalchemy.exc import SQLAlchemyError

        errors: list[IntegratorError | None] = [None] * len(payloads)
        groups = self._groups(payloads, errors)
        if not groups:
            return errors
        try:
            with db.engine.begin() as conn:
                for group in groups:
                    conn.exec_driver_sql(group.sql, group.rows)
        except (SQLAlchemyError, OverflowError) as exc:
            failure = classify(exc)
            if failure.outcome != REJECT:
                raise db.error(exc, self.label, self._context()) from None
            self._row_by_row(db, groups, errors)
        return errors if any(e is not None for e in errors) else None

    def _row_by_row(self, db: Database, groups: list[_Group],
                    errors: list[IntegratorError | None]) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        with db.engine.begin() as conn:
            for group in groups:
                for index, row in zip(group.indexes, group.rows, strict=True):
                    errors[index] = self._one(db, conn, group.sql, row, SQLAlchemyError)

    def _one(self, db: Database, conn: Connection, sql: str, row: tuple[Any, ...],
             base: type[Exception]) -> IntegratorError | None:
        savepoint = conn.begin_nested()
        try:
            conn.exec_driver_sql(sql, row)
        except (base, OverflowError) as exc:
            failure = classify(exc)
            if failure.outcome != REJECT:
                raise  # the whole transaction rolls back; the batch fails with it
            savepoint.rollback()
            return to_error(failure, self.where, self.label, db.dialect, self._context())
        savepoint.commit()
        return None

    def _context(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        if self._db is not None:
            self._db = None
            await self.shared.release()


class TableSink(_BatchSink):
    """``insert`` and ``upsert`` into one table.

    Columns come from ``columns`` (column → JMESPath expression or field name) or,
    without it, from each payload's own keys — every key must be a column of the
    table (else the delivery is rejected, naming the key). ``open`` checks that the
    table exists (FatalError) and finds the primary key when upsert has no
    key_columns.
    """

    def __init__(self, shared: SharedDatabase, where: str, *, action: str, table: str,
                 columns: Mapping[str, Any] | None, key_columns: Sequence[str] | None,
                 update_columns: Sequence[str] | None) -> None:
        super().__init__(shared, where)
        self.action = action
        self.table = table
        self.label = f"{action} into {table}"
        self.mapping = dict(columns) if columns else None
        self.key_columns = tuple(key_columns) if key_columns else None
        self.update_columns = tuple(update_columns) if update_columns is not None else None
        self._getters: list[Getter] = []
        self._mapped: tuple[str, ...] = ()
        self._table_columns: frozenset[str] = frozenset()
        self._statements: dict[tuple[str, ...], str] = {}
        if self.mapping is not None:
            self._mapped = tuple(self.mapping)
            self._getters = [compile_field(v, f"{where}: columns.{k}")
                             for k, v in self.mapping.items()]

    async def _check(self, db: Database) -> None:
        ref = db.table(self.table)
        probe = f"SELECT * FROM {ref} WHERE 1 = 0"  # noqa: S608 - quoted identifiers
        names = await db.call(lambda: db.probe(probe),
                              f"reading the columns of table {self.table!r}")
        self._table_columns = frozenset(names)
        if self.action == "upsert" and self.key_columns is None:
            keys = await db.call(lambda: self._primary_key(db),
                                 f"reading the primary key of {self.table!r}")
            if not keys:
                raise FatalError(f"{self.where}: table {self.table!r} has no primary key",
                                 hint="set key_columns to the columns of a unique key")
            self.key_columns = tuple(keys)
        for option, cols in (("columns", self._mapped), ("key_columns", self.key_columns),
                             ("update_columns", self.update_columns)):
            for col in cols or ():
                if col not in self._table_columns:
                    raise FatalError(
                        f"{self.where}: {option}: {col!r} is not a column of table "
                        f"{self.table!r}",
                        hint=did_you_mean(col, names) or f"columns: {', '.join(names)}")
        if self.mapping is not None and self.action == "upsert":
            missing = [k for k in self.key_columns or () if k not in self.mapping]
            if missing:
                raise FatalError(f"{self.where}: columns must map the key column(s) "
                                 f"{', '.join(missing)}",
                                 hint="upsert finds the row to update by key_columns")

    def _primary_key(self, db: Database) -> list[str]:
        from sqlalchemy import inspect

        with db.engine.connect() as conn:
            pk = inspect(conn).get_pk_constraint(self.table, schema=db.settings.schema)
        return list(pk.get("constrained_columns") or [])

    def _context(self) -> dict[str, Any]:
        return {"table": self.table}

    def _row(self, payload: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        if self.mapping is not None:
            return self._mapped, tuple(to_bind(get(payload)) for get in self._getters)
        if not isinstance(payload, dict):
            raise RejectedError(
                f"{self.where}: {self.label}: the payload is "
                f"{type(payload).__name__}, not an object of column values",
                hint="map the message to an object, or set columns")
        if not payload:
            raise RejectedError(f"{self.where}: {self.label}: the payload has no fields")
        cols = tuple(payload)
        known = self._table_columns
        for col in cols:
            if col not in known:
                raise RejectedError(
                    f"{self.where}: {self.label}: field {col!r} is not a column of the "
                    "table", hint=did_you_mean(col, known)
                    or "drop it in a map step, or set columns", context=self._context())
        if self.action == "upsert":
            missing = [k for k in self.key_columns or () if k not in payload]
            if missing:
                raise RejectedError(
                    f"{self.where}: {self.label}: the payload has no value for key "
                    f"column(s) {', '.join(missing)}", context=self._context())
        return cols, tuple(to_bind(payload[c]) for c in cols)

    def _groups(self, payloads: Sequence[Any], errors: list[IntegratorError | None]
                ) -> list[_Group]:
        groups: list[_Group] = []
        last: tuple[str, ...] | None = None
        for i, payload in enumerate(payloads):
            try:
                cols, values = self._row(payload)
            except MessageError as exc:
                errors[i] = exc
                continue
            if cols != last:
                groups.append(_Group(self._statement(cols), [], []))
                last = cols
            groups[-1].indexes.append(i)
            groups[-1].rows.append(values)
        return groups

    def _statement(self, cols: tuple[str, ...]) -> str:
        sql = self._statements.get(cols)
        if sql is None:
            if len(self._statements) >= MAX_STATEMENTS:
                self._statements.clear()
            sql = self._statements[cols] = self._build(cols)
        return sql

    def _build(self, cols: tuple[str, ...]) -> str:
        db = self._db
        assert db is not None
        q = db.quote
        names = ", ".join(q(c) for c in cols)
        marks = ", ".join(MARK for _ in cols)
        sql = f"INSERT INTO {db.table(self.table)} ({names}) VALUES ({marks})"  # noqa: S608
        if self.action == "upsert":
            keys = self.key_columns or ()
            update = [c for c in cols if c not in keys and (
                self.update_columns is None or c in self.update_columns)]
            if db.dialect == "mysql":
                sets = ", ".join(f"{q(c)} = VALUES({q(c)})" for c in update) or \
                    f"{q(keys[0])} = {q(keys[0])}"
                sql += f" ON DUPLICATE KEY UPDATE {sets}"
            else:
                target = ", ".join(q(k) for k in keys)
                if update:
                    sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in update)
                    sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
                else:
                    sql += f" ON CONFLICT ({target}) DO NOTHING"
        return db.sql(sql)


class ProcedureSink(_BatchSink):
    """``procedure``: ``CALL name(args)`` (or ``SELECT name(args)`` for a function)
    once per delivery, the arguments from JMESPath expressions, in order."""

    def __init__(self, shared: SharedDatabase, where: str, *, procedure: str,
                 arguments: Sequence[str], call: str) -> None:
        super().__init__(shared, where)
        self.procedure = procedure
        self.call = call
        self.label = f"calling {procedure}"
        self._getters = [compile_field(a, f"{where}: arguments[{i}]")
                         for i, a in enumerate(arguments)]
        self._sql = ""

    async def _check(self, db: Database) -> None:
        if db.dialect not in ("postgresql", "mysql"):
            raise FatalError(f"{self.where}: {db.dialect} has no stored procedures",
                             hint="use insert or upsert")
        found = await db.call(lambda: self._exists(db),
                              f"looking up procedure {self.procedure!r}")
        if not found:
            kind = "function" if self.call == "function" else "procedure"
            raise FatalError(f"{self.where}: no {kind} named {self.procedure!r}",
                             hint="check the name and schema; unquoted PostgreSQL names "
                                  "are lower case")
        marks = ", ".join(MARK for _ in self._getters)
        verb = "SELECT" if self.call == "function" else "CALL"
        self._sql = db.sql(f"{verb} {db.table(self.procedure)}({marks})")

    def _exists(self, db: Database) -> bool:
        schema = db.settings.schema
        with db.engine.connect() as conn:
            if db.dialect == "postgresql":
                kind = "f" if self.call == "function" else "p"
                sql = ("SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "  # noqa: S608
                       "ON n.oid = p.pronamespace WHERE p.proname = %s AND p.prokind = %s "
                       + ("AND n.nspname = %s" if schema else
                          "AND n.nspname = ANY (current_schemas(false))"))
                params: tuple[Any, ...] = (self.procedure, kind) + ((schema,) if schema else ())
            else:
                kind = "FUNCTION" if self.call == "function" else "PROCEDURE"
                sql = ("SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_NAME = %s "  # noqa: S608
                       "AND ROUTINE_TYPE = %s AND ROUTINE_SCHEMA = "
                       + ("%s" if schema else "DATABASE()"))
                params = (self.procedure, kind) + ((schema,) if schema else ())
            return conn.exec_driver_sql(sql, params).first() is not None

    def _context(self) -> dict[str, Any]:
        return {"procedure": self.procedure}

    def _groups(self, payloads: Sequence[Any], errors: list[IntegratorError | None]
                ) -> list[_Group]:
        group = _Group(self._sql, [], [])
        for i, payload in enumerate(payloads):
            try:
                values = tuple(to_bind(get(payload)) for get in self._getters)
            except MessageError as exc:
                errors[i] = exc
                continue
            group.indexes.append(i)
            group.rows.append(values)
        return [group] if group.rows else []
