"""``SqlConnector``: the options of the ``sql`` connector, declared once, and its roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.connectors.base import Action, Capabilities, CheckResult, Connector, Runtime
from integrator.connectors.protocols.sql.database import Database, DbSettings, SharedDatabase
from integrator.connectors.protocols.sql.lookup import LookupSettings, SqlLookup
from integrator.connectors.protocols.sql.sink import ProcedureSink, TableSink
from integrator.connectors.protocols.sql.source import (
    FollowingSqlSource,
    SourceSettings,
    SqlSource,
)
from integrator.connectors.spec import Config, ConfigSpec, Option, OptionProblem
from integrator.errors import FatalError, RetriableError

__all__ = ["SqlConnector"]

_DECIMALS = Option(
    "decimals", "enum",
    "How NUMERIC/DECIMAL values arrive: `string` keeps every digit (\"12.50\"), `number` "
    "gives a float (may round).",
    choices=("string", "number"), default="string", examples=("number",))

CONNECTION_OPTIONS = ConfigSpec((
    Option("url", "string",
           "SQLAlchemy database URL: postgresql+psycopg://user@host:5432/db, "
           "mysql+pymysql://user@host:3306/db (MariaDB too), sqlite:///relative/path.db or "
           "sqlite:////absolute/path.db. Driver query parameters go after `?` "
           "(e.g. ?sslmode=require). Put the password in as ${secret:NAME}, or use "
           "the password option.",
           required=True, secret=True,
           examples=("postgresql+psycopg://erp:${secret:PG_PASSWORD}@db:5432/erp",
                     "mysql+pymysql://root@127.0.0.1:3306/shop", "sqlite:///data/local.db")),
    Option("password", "string",
           "The password, when it is not in url (no URL escaping needed).",
           default=None, secret=True, examples=("${secret:DB_PASSWORD}",)),
    Option("schema", "string",
           "Schema of the tables, procedures and functions named in sources, sinks and "
           "lookups. PostgreSQL: also the search_path (then public) for queries; "
           "MariaDB/MySQL: the database to use.",
           default=None, examples=("sales", "CDN")),
    Option("tables", "list",
           "Tables `integrator check` verifies (exist and readable). Sources, sinks and "
           "lookups check their own table when they open.",
           default=None, examples=(["orders", "order_lines"],)),
    Option("pool_size", "integer",
           "Database connections (and worker threads) this connection may hold at once.",
           default=5, minimum=1, maximum=100, examples=(5, 10)),
    Option("pool_timeout", "duration",
           "How long a call waits for a free pooled connection before it fails "
           "(retriable).", default="30s", examples=("30s",)),
    Option("pool_recycle", "duration",
           "Replace pooled connections older than this (servers and firewalls drop idle "
           "ones).", default="30m", examples=("30m", "1h")),
    Option("pool_pre_ping", "boolean",
           "Test a pooled connection (a round trip) before each use and replace it when "
           "the server dropped it.", default=True, examples=(False,)),
    Option("connect_timeout", "duration",
           "How long connecting may take. SQLite: how long to wait for another "
           "writer's lock.", default="10s", examples=("5s",)),
    Option("statement_timeout", "duration",
           "Cancel a statement that runs longer (a retriable error). PostgreSQL "
           "statement_timeout, MariaDB max_statement_time, MySQL max_execution_time "
           "(SELECT only), SQLite: interrupted. Default: no limit.",
           default=None, examples=("30s", "2m")),
))

SOURCE_OPTIONS = ConfigSpec((
    Option("query", "string",
           "A SELECT whose rows are read (plain SQL, no parameters; the connector wraps "
           "it to page by the watermark). Quote odd column names the database's way: "
           "SELECT \"Nr dokumentu\" AS nr FROM \"Zamówienia\" (PostgreSQL, SQLite) or "
           "`Nr dokumentu` (MariaDB).",
           default=None,
           examples=("SELECT id, status, updated_at FROM orders WHERE status <> 'draft'",)),
    Option("table", "string", "Read this table instead of a query.",
           default=None, examples=("orders",)),
    Option("columns", "list", "With table: the columns to read (default: all).",
           default=None, examples=(["id", "status", "updated_at"],)),
    Option("watermark_column", "string",
           "Read incrementally: rows are read in the order of this column, and the last "
           "acknowledged value is stored, so the next run reads only newer rows. Without "
           "it, every run reads the whole result.",
           default=None, examples=("updated_at", "id")),
    Option("key_column", "string",
           "A unique column that orders rows with the same watermark, so that a batch "
           "may end between them (recommended with a timestamp watermark). Without it, "
           "rows with equal watermarks always travel in one batch.",
           default=None, examples=("id",)),
    Option("initial_watermark", "any",
           "Where the first run starts when nothing is stored: only rows with a higher "
           "watermark are read (the database converts text to the column's type).",
           default=None, examples=("2024-01-01T00:00:00", 0)),
    Option("batch_size", "integer", "Rows per query (and per batch).",
           default=1000, minimum=1, maximum=100_000, examples=(1000, 5000)),
    Option("follow", "boolean",
           "false: read what is there now, then end (integrator run); true: keep polling "
           "every interval until stopped (integrator serve). Needs watermark_column.",
           default=False, examples=(True,)),
    Option("interval", "duration", "With follow: the pause after a poll that found "
           "everything read.", default="5s", examples=("5s", "1m")),
    _DECIMALS,
))

LOOKUP_OPTIONS = ConfigSpec((
    Option("table", "string", "Look up rows of this table by key_column.",
           default=None, examples=("products",)),
    Option("key_column", "string",
           "The column the key is matched against (with table, or with a :keys query).",
           default=None, examples=("sku",)),
    Option("columns", "list", "With table: the columns to answer with (default: all).",
           default=None, examples=(["sku", "name", "price"],)),
    Option("query", "string",
           "A SELECT with :key (run once per key) or :keys (run with a list of up to "
           "500 keys, e.g. WHERE sku IN :keys; needs key_column). SQLAlchemy text(): "
           "write \\: for a literal colon.",
           default=None, examples=("SELECT sku, name, price FROM products WHERE sku IN :keys",
                                   "SELECT * FROM customers WHERE lower(email) = lower(:key)")),
    Option("rows", "enum", "`one`: the first matching row; `all`: a list of every row.",
           choices=("one", "all"), default="one", examples=("all",)),
    _DECIMALS,
))

_COLUMNS = Option(
    "columns", "mapping",
    "Column → JMESPath expression on the payload (a field name JMESPath cannot spell, "
    "such as `Nr dokumentu`, is taken as the field). Default: each payload's own keys, "
    "which must all be columns.",
    default=None, examples=({"sku": "sku", "qty": "to_number(quantity)",
                             "Nr dokumentu": "order_no"},))
_TABLE = Option("table", "string", "The table to write to (in the connection's schema).",
                required=True, examples=("orders",))

ACTIONS: dict[str, Action] = {
    "insert": Action(
        "INSERT each payload as a row; a row that breaks a constraint is rejected alone.",
        ConfigSpec((_TABLE, _COLUMNS)),
    ),
    "upsert": Action(
        "Insert the row, or update it when a row with the same key exists "
        "(PostgreSQL/SQLite ON CONFLICT, MariaDB ON DUPLICATE KEY UPDATE).",
        ConfigSpec((
            _TABLE,
            Option("key_columns", "list",
                   "The columns of the unique key that identifies a row. Default: the "
                   "table's primary key.", default=None, examples=(["sku"],)),
            Option("update_columns", "list",
                   "The columns an existing row gets updated (default: every written "
                   "column except the keys).", default=None,
                   examples=(["qty", "updated_at"],)),
            _COLUMNS,
        )),
    ),
    "procedure": Action(
        "Call a stored procedure (or function) once per payload with mapped arguments "
        "(PostgreSQL, MariaDB/MySQL).",
        ConfigSpec((
            Option("procedure", "string", "The procedure's name (in the connection's "
                   "schema).", required=True, examples=("upsert_customer",)),
            Option("arguments", "list",
                   "The arguments, in order: JMESPath expressions on the payload (or "
                   "field names).", default=None,
                   examples=(["id", "name", "address.city"],)),
            Option("call", "enum",
                   "`procedure`: CALL name(...); `function`: SELECT name(...), result "
                   "ignored.", choices=("procedure", "function"), default="procedure",
                   examples=("function",)),
        )),
    ),
}


class SqlConnector(Connector):
    """PostgreSQL, MariaDB/MySQL and SQLite through SQLAlchemy Core."""

    type_name = "sql"
    summary = ("PostgreSQL, MariaDB/MySQL and SQLite: incremental reads by watermark, "
               "batched insert/upsert, stored procedures, key lookups.")
    spec = CONNECTION_OPTIONS
    source_options = SOURCE_OPTIONS
    lookup_options = LOOKUP_OPTIONS
    actions = ACTIONS
    default_action = None
    capabilities = Capabilities(batching=True, upsert=True, ordering=True)
    examples = (
        "connections:\n  erp:\n    type: sql\n"
        "    url: postgresql+psycopg://erp@db:5432/erp\n"
        "    password: ${secret:ERP_DB_PASSWORD}\n    schema: sales\n"
        "source:\n  connection: erp\n  options:\n"
        "    table: orders\n    watermark_column: updated_at\n    key_column: id\n",
        "sinks:\n  stock:\n    connection: shop_db\n    action: upsert\n"
        "    options:\n      table: stock_levels\n      key_columns: [sku]\n"
        "      columns: {sku: sku, qty: available, \"Magazyn\": location}\n",
    )

    def __init__(self, name: str, config: Config, runtime: Runtime) -> None:
        super().__init__(name, config, runtime)
        self._shared = SharedDatabase(self._database)

    def _where(self) -> str:
        return f"connection {self.name!r} (sql)"

    def _settings(self) -> DbSettings:
        c = self.config
        return DbSettings(
            url=c.url, password=c.password, schema=c.schema,
            pool_size=c.pool_size, pool_timeout=c.pool_timeout,
            pool_recycle=c.pool_recycle, pool_pre_ping=c.pool_pre_ping,
            connect_timeout=c.connect_timeout, statement_timeout=c.statement_timeout,
            application_name=f"integrator/{self.runtime.flow}",
        )

    def _database(self) -> Database:
        return Database(self._settings(), self._where())

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        url = raw.get("url")
        if isinstance(url, str) and "://" not in url and "${" not in url:
            return [OptionProblem("url", f"url {url!r} is not a database URL",
                                  "write dialect+driver://user@host:port/database")]
        return []

    async def check(self) -> CheckResult:
        """Connect, run SELECT 1, and read the columns of every table in ``tables``."""
        try:
            db = self._database()
        except FatalError as exc:
            return CheckResult("misconfigured", str(exc))
        tables: tuple[str, ...] = self.config.tables or ()
        try:
            return await db.call(lambda: _check(db, tables), "checking")
        except RetriableError as exc:
            return CheckResult("unreachable", str(exc))
        except FatalError as exc:
            status = "auth-failed" if exc.context.get("sql_reason") == "auth" \
                else "misconfigured"
            return CheckResult(status, str(exc))
        finally:
            await db.close()

    @classmethod
    def check_role_options(cls, role: str, raw: Mapping[str, Any],
                           action: str | None = None) -> list[OptionProblem]:
        """The rules SourceSettings and LookupSettings enforce at open, for lint."""
        spec = cls.source_options if role == "source" else cls.lookup_options
        if role not in ("source", "lookup"):
            return []
        try:
            values = dict(spec.parse(raw, role))
            if role == "source":
                SourceSettings.from_values(values, "\0")
            else:
                LookupSettings.from_values(values, "\0")
        except FatalError as exc:
            text = exc.message.split("\0", 1)[-1].lstrip(": ").removeprefix(f"{role}: ")
            return [OptionProblem(None, text, exc.hint)]
        return []

    def source(self, options: Config) -> SqlSource:
        settings = SourceSettings.from_values(dict(options), self._where())
        cls = FollowingSqlSource if settings.follow else SqlSource
        return cls(self._shared, settings, self.state, self._where())

    def sink(self, action: str, options: Config) -> TableSink | ProcedureSink:
        where = self._where()
        if action in ("insert", "upsert"):
            return TableSink(self._shared, where, action=action, table=options["table"],
                             columns=options.get("columns"),
                             key_columns=options.get("key_columns"),
                             update_columns=options.get("update_columns"))
        if action == "procedure":
            return ProcedureSink(self._shared, where, procedure=options["procedure"],
                                 arguments=options.get("arguments") or (),
                                 call=options.get("call") or "procedure")
        raise FatalError(f"{where}: unknown action {action!r}",
                         hint=f"actions: {', '.join(ACTIONS)}")

    def lookup(self, options: Config) -> SqlLookup:
        settings = LookupSettings.from_values(options, self._where())
        return SqlLookup(self._shared, settings, self._where())


def _check(db: Database, tables: tuple[str, ...]) -> CheckResult:
    """In a worker thread: SELECT 1, then each table's columns."""
    from sqlalchemy.exc import SQLAlchemyError

    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1").close()
        version = ".".join(str(v) for v in conn.dialect.server_version_info or ())
    found = []
    for table in tables:
        try:
            db.probe(f"SELECT * FROM {db.table(table)} WHERE 1 = 0")  # noqa: S608
        except SQLAlchemyError as exc:
            error = db.error(exc, f"reading table {table!r}")
            if isinstance(error, RetriableError):
                raise error from None
            return CheckResult("misconfigured", str(error))
        found.append(table)
    detail = f"{db.dialect} {version} at {db.display}".replace("  ", " ")
    if found:
        detail += f"; tables {', '.join(found)} found"
    return CheckResult("ok", detail)
