"""The ``sql`` connector: PostgreSQL, MariaDB/MySQL and SQLite through SQLAlchemy Core.

Datasheet
=========
:drivers:  PostgreSQL via psycopg 3 (``postgresql+psycopg://``), MariaDB and MySQL via
           PyMySQL (``mysql+pymysql://``, ``mariadb+pymysql://``), SQLite via the
           standard library (``sqlite:///path``). ``postgresql://`` and ``mysql://``
           pick these drivers. Extra: ``pip install 'integrator[sql]'``; the spec loads
           without it, using the connector without it is a FatalError naming the extra.
:threads:  blocking drivers on a thread pool of ``pool_size`` threads per connection
           (the size of its connection pool) — see :mod:`.database` for why not the
           asyncio extension.
:roles:    source · sinks ``insert``, ``upsert``, ``procedure`` · lookup.
:source:   ``query`` or ``table`` (+ ``columns``); incremental by ``watermark_column``
           with an optional ``key_column`` tiebreak (keyset paging, :mod:`.source`);
           ``follow`` polls every ``interval``; rows become JSON-safe dicts keyed by
           the column names as the database spells them (:mod:`.values`).
:sinks:    one transaction per batch, ``executemany``; a row the database refuses
           (constraint, type, procedure error) is rejected alone: the batch is written
           again row by row in savepoints (:mod:`.sink`).
:lookup:   ``table`` + ``key_column`` or a ``query`` with ``:key`` / ``:keys``; batched
           ``IN (...)`` of up to 500 keys (:mod:`.lookup`).
:errors:   by the database's own codes (SQLSTATE, MariaDB errno, SQLite result code):
           reject / retry / fatal, :mod:`.failures`.
:check:    connects, ``SELECT 1``, reads the columns of every table in ``tables``.

Guarantees
----------
* At least once: the source stores its watermark only from ``ack`` — the highest
  position up to which every row is acknowledged — so unacknowledged rows are read
  again by the next run. Ties on the watermark never lose rows (see :mod:`.source`).
* A sink batch is atomic except for rows rejected on their own: after ``write_batch``
  returns, every row it reports as written is committed.
* Sink upserts are idempotent: a redelivered batch leaves the same table contents.
* Errors never leak driver types; messages name the connection, the table or
  procedure, the database's code and its message (≤ 500 characters), with a hint.
  Passwords never appear: URLs are shown with ``***``.

Legacy databases
----------------
Column names with spaces or Polish letters (``"Nr dokumentu"``, ``"Ilość"``) are read
through a query with quoted identifiers and arrive under those exact names;
``watermark_column``, ``key_column``, sink ``columns`` keys and ``key_columns`` take the
names as they are and the connector quotes them. In a sink's ``columns`` mapping, a
value such as ``Nr dokumentu`` that JMESPath cannot parse is read as a field name.

Not built: other dialects (SQL Server, Oracle: their drivers are not installed and
upsert is not written for them), streaming a source's rows through one long
transaction, statement-level retries (the delivery layer decides).
"""

from __future__ import annotations

from integrator.connectors.protocols.sql.connector import SqlConnector

__all__ = ["SqlConnector"]
