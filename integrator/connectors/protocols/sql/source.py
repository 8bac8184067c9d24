"""The sql source: rows of a table or query, incrementally by a watermark column.

Reading rule (how ties on the watermark never lose rows):

* **watermark_column + key_column** — keyset paging on the pair: each poll reads
  ``WHERE (wm, key) > (last_wm, last_key) ORDER BY wm, key LIMIT batch_size``. The
  committed position is the (watermark, key) of the last row up to which every row is
  acknowledged; a restart continues right after it. Rows are never read twice within
  a run and never skipped, however many share a watermark value.
* **watermark_column alone** — ties are kept together: a batch never ends inside a
  group of rows with the same watermark value (the last group of a full page is
  completed with ``WHERE wm = <value>``, at most 100 000 rows — more is a FatalError
  that asks for key_column). The committed position is a watermark value whose whole
  group is acknowledged; a restart reads ``WHERE wm > <value>``.
* **neither** — a snapshot: the whole result, streamed in batches, every run. Nothing
  is stored; ``follow`` is not available.

Rows whose watermark is NULL are never read. The watermark must grow with every change
that should be read again (a sequence, or a timestamp set by a trigger): a row that
commits later with a lower watermark (or, with key_column, the same watermark and a
lower key) than a position already read is not seen.

The position is stored in the connector state (``Connector.state``) under
``source:<table or query>:<watermark_column>[:<key_column>]`` only from ``ack``, so an
unacknowledged row is read again after a restart (at least once).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from integrator.connectors.base import Progress, Record, Source
from integrator.connectors.protocols.sql.database import MARK, Database, SharedDatabase
from integrator.connectors.protocols.sql.values import (
    decode_position,
    encode_position,
    json_safe,
    row_converter,
)
from integrator.connectors.state import StateStore
from integrator.errors import FatalError
from integrator.flow.suggest import did_you_mean

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult

__all__ = ["FollowingSqlSource", "SourceSettings", "SqlSource"]

MAX_TIE_ROWS = 100_000


@dataclass(frozen=True)
class SourceSettings:
    """The source options, parsed and checked once."""

    query: str | None
    table: str | None
    columns: tuple[str, ...] | None
    watermark_column: str | None
    key_column: str | None
    initial_watermark: Any
    batch_size: int
    follow: bool
    interval: float
    decimals_as_number: bool

    @staticmethod
    def problems(values: dict[str, Any]) -> list[str]:
        out = []
        query, table = values.get("query"), values.get("table")
        if bool(query) == bool(table):
            out.append("give either query or table (one of them)")
        if query and values.get("columns"):
            out.append("columns goes with table; with query, select the columns in it")
        if not values.get("watermark_column"):
            if values.get("follow"):
                out.append("follow needs watermark_column: without it every poll would "
                           "read the whole result again")
            if values.get("initial_watermark") is not None:
                out.append("initial_watermark needs watermark_column")
        return out

    @classmethod
    def from_values(cls, values: dict[str, Any], where: str) -> SourceSettings:
        problems = cls.problems(values)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FatalError(f"{where}: source: {problems[0]}{more}")
        query = values.get("query")
        if query is not None:
            query = query.strip().rstrip(";").rstrip()
        columns = values.get("columns")
        return cls(
            query=query,
            table=values.get("table"),
            columns=tuple(columns) if columns else None,
            watermark_column=values.get("watermark_column"),
            key_column=values.get("key_column"),
            initial_watermark=values.get("initial_watermark"),
            batch_size=values.get("batch_size") or 1000,
            follow=bool(values.get("follow")),
            interval=float(values.get("interval") or 5.0),
            decimals_as_number=values.get("decimals") == "number",
        )

    @property
    def state_key(self) -> str:
        parts = ["source", self.table or "query", self.watermark_column or ""]
        if self.key_column:
            parts.append(self.key_column)
        return ":".join(parts)


class SqlSource(Source):
    """Reads rows in batches; see the module docstring for the reading rule.

    ``ack`` tokens are read sequence numbers; the stored position advances to the last
    row up to which every earlier row is acknowledged (tokens may arrive out of order).
    """

    def __init__(self, shared: SharedDatabase, settings: SourceSettings, state: StateStore,
                 where: str) -> None:
        self.shared = shared
        self.s = settings
        self.state = state
        self.where = where
        self._db: Database | None = None
        self._from = ""
        self._columns: list[str] = []
        self._convert: Callable[[Sequence[Any]], dict[str, Any]] | None = None
        self._wm_index = -1
        self._key_index = -1
        self._after: tuple[Any, ...] | None = None
        self._committed: tuple[Any, ...] | None = None
        self._seq = 0
        self._pending: deque[tuple[int, tuple[Any, ...] | None]] = deque()
        self._acked: set[int] = set()
        self._read = 0
        self._stopped = False
        self._wake = asyncio.Event()
        self._stream: tuple[Connection, CursorResult[Any]] | None = None

    # -- opening ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, learn the result's columns (FatalError for a missing table or a
        watermark/key column the result lacks) and load the stored position. On
        failure the connection is released again."""
        db = self._db = self.shared.acquire()
        try:
            await self._open(db)
        except BaseException:
            await self.close()
            raise

    async def _open(self, db: Database) -> None:
        s = self.s
        if s.table is not None:
            cols = "*" if s.columns is None else ", ".join(
                db.quote(c) for c in self._select_columns())
            self._from = f"SELECT {cols} FROM {db.table(s.table)}"  # noqa: S608
            what = f"table {s.table!r}"
        else:
            assert s.query is not None
            self._from = f"SELECT * FROM ({s.query}) AS integrator_source"  # noqa: S608
            what = "the query"
        self._columns = await db.call(lambda: db.probe(f"{self._from} WHERE 1 = 0"),
                                      f"reading the columns of {what}")
        for option in ("watermark_column", "key_column"):
            name = getattr(s, option)
            if name is not None and name not in self._columns:
                raise FatalError(
                    f"{self.where}: {option} {name!r} is not a column of {what}",
                    hint=did_you_mean(name, self._columns)
                    or f"columns: {', '.join(self._columns)}")
        self._convert = row_converter(self._columns, s.decimals_as_number)
        if s.watermark_column is not None:
            self._wm_index = self._columns.index(s.watermark_column)
            if s.key_column is not None:
                self._key_index = self._columns.index(s.key_column)
            self._after = await self._stored_position()
            self._committed = self._after

    def _select_columns(self) -> list[str]:
        s = self.s
        cols = list(s.columns or ())
        for extra in (s.watermark_column, s.key_column):
            if extra is not None and extra not in cols:
                cols.append(extra)
        return cols

    async def _stored_position(self) -> tuple[Any, ...] | None:
        stored = await self.state.get(self.s.state_key)
        if stored is None:
            if self.s.initial_watermark is None:
                return None
            return (self.s.initial_watermark,)
        try:
            if not isinstance(stored, dict) or "watermark" not in stored:
                raise ValueError(f"expected an object with a watermark, got {stored!r}")
            position = [decode_position(stored["watermark"])]
            if self.s.key_column is not None and "key" in stored:
                position.append(decode_position(stored["key"]))
        except ValueError as exc:
            raise FatalError(
                f"{self.where}: the stored position {self.s.state_key!r} is unreadable: "
                f"{exc}", hint="delete it from the state file to read from the start"
            ) from None
        return tuple(position)

    # -- reading ---------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[list[Record]]:
        if self.s.watermark_column is None:
            async for records in self._snapshot():
                yield records
            return
        db = self._db
        assert db is not None
        s = self.s
        while not self._stopped:
            bodies, positions, full = await db.call(
                partial(self._poll, db, self._after), "reading rows")
            if bodies:
                records = self._records(bodies, positions)
                self._after = positions[-1]
                self._read += len(records)
                yield records
            if not full:
                if not s.follow:
                    return
                await self._sleep(s.interval)

    async def _sleep(self, seconds: float) -> None:
        if self._stopped:
            return
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    def _records(self, bodies: list[dict[str, Any]],
                 positions: list[tuple[Any, ...]]) -> list[Record]:
        """Records with sequence tokens; remembers which position each token commits."""
        keyed = self.s.key_column is not None
        dec = self.s.decimals_as_number
        records = []
        last = len(bodies) - 1
        pending = self._pending
        for i, (body, pos) in enumerate(zip(bodies, positions, strict=True)):
            self._seq += 1
            # Without a key, only the last row of a group of equal watermarks may commit
            # its watermark: committing earlier would skip the rest of the group.
            commits = keyed or i == last or positions[i + 1][0] != pos[0]
            pending.append((self._seq, pos if commits else None))
            meta = {"watermark": json_safe(pos[0], dec)}
            if keyed:
                meta["key"] = json_safe(pos[1], dec)
            records.append(Record(body, meta, self._seq))
        return records

    def _poll(self, db: Database, after: tuple[Any, ...] | None
              ) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]], bool]:
        """One page after ``after`` (in a worker thread): bodies, positions, and whether
        the page was full (more rows may follow)."""
        s = self.s
        limit = s.batch_size
        convert = self._convert
        assert convert is not None
        with db.engine.connect() as conn:
            sql, params = self._page_sql(db, after, limit)
            rows = list(conn.exec_driver_sql(sql, params).fetchall())
            full = len(rows) >= limit
            wi = self._wm_index
            if full and s.key_column is None:
                last = rows[-1][wi]
                sql, params = self._tie_sql(db, last)
                ties = list(conn.exec_driver_sql(sql, params).fetchall())
                if len(ties) > MAX_TIE_ROWS:
                    raise FatalError(
                        f"{self.where}: more than {MAX_TIE_ROWS} rows share the "
                        f"watermark value {json_safe(last)!r}",
                        hint="set key_column (a unique column) so that rows with equal "
                             "watermarks can be read in pages")
                rows = [r for r in rows if r[wi] != last] + ties
        ki = self._key_index
        positions: list[tuple[Any, ...]] = (
            [(r[wi],) for r in rows] if s.key_column is None
            else [(r[wi], r[ki]) for r in rows])
        return [convert(r) for r in rows], positions, full

    def _page_sql(self, db: Database, after: tuple[Any, ...] | None,
                  limit: int) -> tuple[str, tuple[Any, ...]]:
        s = self.s
        assert s.watermark_column is not None
        wm = db.quote(s.watermark_column)
        key = db.quote(s.key_column) if s.key_column is not None else None
        params: tuple[Any, ...]
        if after is None:
            where, params = f"{wm} IS NOT NULL", ()
        elif len(after) == 1 or key is None:
            where, params = f"{wm} > {MARK}", (after[0],)
        elif db.dialect == "mysql":  # row-value comparisons are not index ranges there
            where = f"({wm} > {MARK} OR ({wm} = {MARK} AND {key} > {MARK}))"
            params = (after[0], after[0], after[1])
        else:
            where, params = f"({wm}, {key}) > ({MARK}, {MARK})", (after[0], after[1])
        order = wm if key is None else f"{wm}, {key}"
        sql = f"{self._from} WHERE {where} ORDER BY {order} LIMIT {int(limit)}"
        return db.sql(sql), params

    def _tie_sql(self, db: Database, value: Any) -> tuple[str, tuple[Any, ...]]:
        assert self.s.watermark_column is not None
        wm = db.quote(self.s.watermark_column)
        sql = f"{self._from} WHERE {wm} = {MARK} LIMIT {MAX_TIE_ROWS + 1}"
        return db.sql(sql), (value,)

    async def _snapshot(self) -> AsyncIterator[list[Record]]:
        """The whole result once, streamed (a server-side cursor where there is one)."""
        db = self._db
        assert db is not None
        size = self.s.batch_size
        await db.call(lambda: self._stream_open(db), "reading rows")
        try:
            while not self._stopped:
                bodies = await db.call(lambda: self._stream_next(size), "reading rows")
                if not bodies:
                    return
                start = self._read
                self._read += len(bodies)
                yield [Record(body, {"row": start + i + 1}, None)
                       for i, body in enumerate(bodies)]
                if len(bodies) < size:
                    return
        finally:
            await self._stream_close()

    def _stream_open(self, db: Database) -> None:
        conn = db.engine.connect()
        try:
            result = conn.execution_options(
                stream_results=True, max_row_buffer=self.s.batch_size
            ).exec_driver_sql(db.sql(self._from))
        except BaseException:
            conn.close()
            raise
        self._stream = (conn, result)

    def _stream_next(self, size: int) -> list[dict[str, Any]]:
        assert self._stream is not None and self._convert is not None
        convert = self._convert
        return [convert(r) for r in self._stream[1].fetchmany(size)]

    async def _stream_close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None or self._db is None:
            return

        def close() -> None:
            stream[1].close()
            stream[0].close()

        await self._db.call(close, "closing the result")

    # -- acknowledging ---------------------------------------------------------------

    async def ack(self, tokens: Sequence[Any]) -> None:
        """Advance the stored position over every row acknowledged without a gap."""
        if self.s.watermark_column is None:
            return
        acked = self._acked
        acked.update(tokens)
        pending = self._pending
        position = None
        while pending and pending[0][0] in acked:
            seq, pos = pending.popleft()
            acked.discard(seq)
            if pos is not None:
                position = pos
        if position is None or position == self._committed:
            return
        try:
            value = {"watermark": encode_position(position[0])}
            if len(position) > 1:
                value["key"] = encode_position(position[1])
        except TypeError as exc:
            raise FatalError(f"{self.where}: cannot store the position: {exc}",
                             hint="use a watermark column of a number, text, date or "
                                  "timestamp type") from None
        await self.state.put(self.s.state_key, value)
        self._committed = position

    @property
    def committed(self) -> tuple[Any, ...] | None:
        """The last stored position (watermark[, key]), None before the first."""
        return self._committed

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def progress(self) -> Progress:
        return Progress(self._read, None)

    async def close(self) -> None:
        self._stopped = True
        try:
            await self._stream_close()
        finally:
            if self._db is not None:
                self._db = None
                await self.shared.release()


class FollowingSqlSource(SqlSource):
    """A source with ``follow: true``: polls every ``interval`` until stopped."""

    finite = False

