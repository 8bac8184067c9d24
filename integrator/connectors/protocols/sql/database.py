"""One database behind one connection: a SQLAlchemy engine and the threads that use it.

SQLAlchemy's engines, psycopg's, PyMySQL's and sqlite3's connections are blocking. They
are adapted at this edge (STYLE 12): every database call runs on a thread pool that
belongs to this connection, with as many threads as the connection pool has
connections (``pool_size``), so a call never waits for a thread while holding a
connection, and the event loop never waits for the database. The asyncio extension of
SQLAlchemy was not used: it needs an async driver per database (psycopg async works,
but aiomysql and aiosqlite are not installed), which would make two code paths — one
per kind of driver — for the same connector.

Per dialect, on every new connection (SQLAlchemy ``connect`` event):

* PostgreSQL: ``SET statement_timeout``, ``SET search_path TO <schema>, public``
  (autocommit, so a rollback cannot undo them); ``application_name`` is the flow.
* MariaDB/MySQL: ``SET SESSION max_statement_time`` (MariaDB, seconds) or
  ``max_execution_time`` (MySQL, milliseconds, SELECT only); ``schema`` replaces the
  URL's database.
* SQLite: the driver's own transaction handling is switched off and SQLAlchemy emits
  ``BEGIN`` itself (the recipe from SQLAlchemy's documentation), so savepoints and
  rollbacks work; ``statement_timeout`` interrupts a statement through a progress
  handler; ``connect_timeout`` is the busy timeout (waiting for another writer's lock).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from integrator.connectors.protocols.sql.failures import translate
from integrator.errors import FatalError, IntegratorError
from integrator.security.secrets import Secret

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

__all__ = ["INSTALL_HINT", "MARK", "Database", "DbSettings", "SharedDatabase"]

T = TypeVar("T")

INSTALL_HINT = "pip install 'integrator[sql]'"
#: Placeholder marker in SQL templates; :meth:`Database.sql` turns it into the driver's.
MARK = "\x00"

_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                    "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


@dataclass(frozen=True)
class DbSettings:
    """Connection options, parsed once."""

    url: str | Secret
    password: str | Secret | None = None
    schema: str | None = None
    pool_size: int = 5
    pool_timeout: float = 30.0
    pool_recycle: float = 1800.0
    pool_pre_ping: bool = True
    connect_timeout: float = 10.0
    statement_timeout: float | None = None
    application_name: str = "integrator"


def _reveal(value: str | Secret | None) -> str | None:
    return value.reveal() if isinstance(value, Secret) else value


class Database:
    """A SQLAlchemy engine and its worker threads. Creating it does no I/O.

    ``call`` runs a blocking function on one of the threads and translates every
    database error into :mod:`integrator.errors` (see :mod:`.failures`); ``close``
    waits for running calls, then closes every pooled connection.
    """

    def __init__(self, settings: DbSettings, where: str) -> None:
        try:
            import sqlalchemy
            from sqlalchemy.engine import make_url
        except ImportError:
            raise FatalError(f"{where}: the sql connector needs SQLAlchemy",
                             hint=INSTALL_HINT) from None
        self.where = where
        self.settings = settings
        try:
            url = make_url(_reveal(settings.url) or "")
        except sqlalchemy.exc.ArgumentError:
            raise FatalError(f"{where}: url is not a database URL",
                             hint="write dialect+driver://user@host:port/database, e.g. "
                                  "postgresql+psycopg://app@db:5432/erp, "
                                  "mysql+pymysql://app@db/erp or sqlite:///data/erp.db"
                             ) from None
        url = self._adjust(url)
        self.display = url.render_as_string(hide_password=True)
        self.engine = self._create(url)
        self.dialect = "mysql" if self.engine.dialect.name in ("mysql", "mariadb") \
            else self.engine.dialect.name
        self.paramstyle = self.engine.dialect.paramstyle
        self._preparer = self.engine.dialect.identifier_preparer
        self._threads = ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="integrator-sql")
        self._closed = False

    # -- building --------------------------------------------------------------------

    def _adjust(self, url: URL) -> URL:
        s = self.settings
        driver = _DEFAULT_DRIVERS.get(url.drivername)
        if driver is not None:
            url = url.set(drivername=driver)
        if s.password is not None:
            url = url.set(password=_reveal(s.password))
        backend = url.get_backend_name()
        if s.schema and backend in ("mysql", "mariadb"):
            url = url.set(database=s.schema)
        return url

    def _create(self, url: URL) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.pool import StaticPool

        s = self.settings
        backend = url.get_backend_name()
        kwargs: dict[str, Any] = {}
        connect_args: dict[str, Any] = {}
        self.threads = s.pool_size
        if backend == "sqlite":
            connect_args["timeout"] = s.connect_timeout
            connect_args["check_same_thread"] = False
            if url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one in-memory database, one connection
                self.threads = 1
        elif backend == "postgresql":
            connect_args["connect_timeout"] = max(2, math.ceil(s.connect_timeout))
            connect_args["application_name"] = s.application_name[:63]
        elif backend in ("mysql", "mariadb"):
            connect_args["connect_timeout"] = max(1, math.ceil(s.connect_timeout))
        if "poolclass" not in kwargs:
            kwargs.update(pool_size=s.pool_size, max_overflow=0,
                          pool_timeout=s.pool_timeout, pool_recycle=int(s.pool_recycle))
        try:
            engine = create_engine(url, pool_pre_ping=s.pool_pre_ping,
                                   connect_args=connect_args, **kwargs)
        except ImportError as exc:
            raise FatalError(f"{self.where}: the database driver for "
                             f"{url.drivername} is not installed ({exc.name})",
                             hint=INSTALL_HINT) from None
        except Exception as exc:  # SQLAlchemy: unknown dialect, bad argument
            raise FatalError(f"{self.where}: cannot use url {self.display}: {exc}",
                             hint="supported: postgresql+psycopg, mysql+pymysql, "
                                  "mariadb+pymysql, sqlite") from None
        if backend == "postgresql":
            event.listen(engine, "connect", self._on_connect_pg)
        elif backend in ("mysql", "mariadb"):
            event.listen(engine, "connect", self._on_connect_mysql)
        elif backend == "sqlite":
            event.listen(engine, "connect", self._on_connect_sqlite)
            event.listen(engine, "begin", _sqlite_begin)
            if s.statement_timeout:
                event.listen(engine, "before_cursor_execute", self._sqlite_deadline)
                for name in ("commit", "rollback"):
                    event.listen(engine, name, _sqlite_no_deadline)
                event.listen(engine, "reset", _sqlite_reset_deadline)
        return engine

    def _on_connect_pg(self, dbapi_connection: Any, record: Any) -> None:
        s = self.settings
        statements = []
        if s.statement_timeout:
            statements.append(f"SET statement_timeout = {max(1, int(s.statement_timeout * 1000))}")
        if s.schema:
            statements.append(f"SET search_path TO {self.quote(s.schema)}, public")
        if not statements:
            return
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
        finally:
            dbapi_connection.autocommit = autocommit

    def _on_connect_mysql(self, dbapi_connection: Any, record: Any) -> None:
        timeout = self.settings.statement_timeout
        if not timeout:
            return
        info = dbapi_connection.get_server_info()
        if "mariadb" in info.lower():
            sql = f"SET SESSION max_statement_time = {timeout:.3f}"
        else:
            sql = f"SET SESSION max_execution_time = {max(1, int(timeout * 1000))}"
        with dbapi_connection.cursor() as cursor:
            cursor.execute(sql)

    def _on_connect_sqlite(self, dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_begin)
        if self.settings.statement_timeout:
            deadline = [math.inf]
            record.info["integrator_deadline"] = deadline
            dbapi_connection.set_progress_handler(
                lambda: 1 if time.monotonic() > deadline[0] else 0, 10_000)

    def _sqlite_deadline(self, conn: Connection, cursor: Any, statement: str,
                         parameters: Any, context: Any, executemany: bool) -> None:
        deadline = conn.connection.info.get("integrator_deadline")
        if deadline is not None and self.settings.statement_timeout:
            deadline[0] = time.monotonic() + self.settings.statement_timeout

    # -- SQL text ----------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """``name`` as an identifier, quoted when it needs to be (spaces, capitals,
        non-ASCII letters, reserved words): ``Nr dokumentu`` → ``"Nr dokumentu"``."""
        return str(self._preparer.quote(name))

    def table(self, name: str, schema: str | None = None) -> str:
        """A table (or procedure) name, qualified with ``schema`` (default: the
        connection's)."""
        schema = schema if schema is not None else self.settings.schema
        if schema:
            return f"{self.quote(schema)}.{self.quote(name)}"
        return self.quote(name)

    def sql(self, template: str) -> str:
        """Driver SQL from a template whose parameters are :data:`MARK`.

        For ``%s`` drivers (psycopg, PyMySQL) a literal ``%`` is doubled: SQLAlchemy
        always hands them a parameter tuple, even an empty one, so they always parse.
        """
        if self.paramstyle in ("format", "pyformat"):
            return template.replace("%", "%%").replace(MARK, "%s")
        if self.paramstyle == "qmark":
            return template.replace(MARK, "?")
        raise FatalError(f"{self.where}: the driver's parameter style "
                         f"{self.paramstyle!r} is not supported",
                         hint="use postgresql+psycopg, mysql+pymysql or sqlite")

    def probe(self, sql: str) -> list[str]:
        """The column names of a query's result, read without fetching rows (give it a
        ``WHERE 1 = 0`` query). Blocking: call it through :meth:`call`."""
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql(self.sql(sql))
            try:
                return list(result.keys())
            finally:
                result.close()

    # -- running -----------------------------------------------------------------------

    async def call(self, fn: Callable[[], T], doing: str) -> T:
        """Run ``fn`` on a worker thread; database errors become integrator errors
        whose message starts with ``where: doing``."""
        if self._closed:
            raise FatalError(f"{self.where}: {doing} after the connection was closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._guarded, fn, doing)

    def _guarded(self, fn: Callable[[], T], doing: str) -> T:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn()
        except IntegratorError:
            raise
        except (SQLAlchemyError, OverflowError) as exc:
            raise self.error(exc, doing) from None

    def error(self, exc: BaseException, doing: str,
              context: dict[str, Any] | None = None) -> IntegratorError:
        """The integrator error for a database exception raised while ``doing``."""
        return translate(exc, self.where, doing, self.dialect, context)

    async def close(self) -> None:
        """Wait for running calls, then close every pooled connection."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._threads.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_no_deadline(conn: Connection) -> None:
    deadline = conn.connection.info.get("integrator_deadline")
    if deadline is not None:
        deadline[0] = math.inf


def _sqlite_reset_deadline(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    deadline = record.info.get("integrator_deadline")
    if deadline is not None:
        deadline[0] = math.inf


class SharedDatabase:
    """The connection's one :class:`Database`, shared by its source, sinks and lookups:
    made by the first ``acquire``, closed by the last ``release``."""

    def __init__(self, factory: Callable[[], Database]) -> None:
        self._factory = factory
        self._db: Database | None = None
        self._users = 0

    def acquire(self) -> Database:
        if self._db is None:
            self._db = self._factory()
        self._users += 1
        return self._db

    async def release(self) -> None:
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0 and self._db is not None:
            db, self._db = self._db, None
            await db.close()
