"""Driver exceptions → integrator errors, decided by the database's own error codes.

=========================================  ================  ===================
what the database said                     outcome           examples
=========================================  ================  ===================
constraint violated, value does not fit    ``reject``        PostgreSQL class 23
the column, a procedure raised an error    (RejectedError)   and 22, 42804, P0001;
                                                             MariaDB 1062, 1048,
                                                             4025, 1366, 1644;
                                                             SQLite CONSTRAINT,
                                                             MISMATCH, TOOBIG
connection refused or lost, deadlock,      ``retry``         08xxx, 40001, 40P01,
serialization failure, lock or statement   (RetriableError)  57014, 57P0x, 53xxx;
timeout, server shutting down, too many                      1205, 1213, 1040,
connections, pool exhausted                                  2003, 2006, 2013,
                                                             1969; BUSY, LOCKED
unknown table, column, schema, database    ``fatal``         42P01, 42703, 42883,
or procedure, syntax, missing privilege,   (FatalError)      28xxx, 3D000; 1146,
authentication refused, read-only                            1054, 1305, 1045;
database, driver missing                                     ERROR, CANTOPEN,
                                                             READONLY
=========================================  ================  ===================

Codes not in the tables fall back on the DB-API exception class: IntegrityError and
DataError reject, ProgrammingError and NotSupportedError are fatal, everything else
(OperationalError, InternalError, InterfaceError) is retriable — the delivery layer's
bounded retries then end in a dead letter rather than stopping the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError

__all__ = ["Failure", "classify", "to_error", "translate"]

MAX_DETAIL = 500

REJECT = "reject"
RETRY = "retry"
FATAL = "fatal"

# PostgreSQL SQLSTATE: exact codes first, then the two-character class.
_PG_CODES: dict[str, tuple[str, str]] = {
    "23505": (REJECT, "unique"), "23502": (REJECT, "not-null"),
    "23503": (REJECT, "foreign-key"), "23514": (REJECT, "check"),
    "23P01": (REJECT, "exclusion"), "42804": (REJECT, "data"),
    "P0001": (REJECT, "procedure"), "P0004": (REJECT, "procedure"),
    "40001": (RETRY, "serialization"), "40P01": (RETRY, "deadlock"),
    "55P03": (RETRY, "lock"), "57014": (RETRY, "timeout"),
    "57P01": (RETRY, "connection"), "57P02": (RETRY, "connection"),
    "57P03": (RETRY, "connection"), "25006": (FATAL, "read-only"),
    "42501": (FATAL, "privilege"), "42P01": (FATAL, "missing"),
    "42703": (FATAL, "missing"), "42883": (FATAL, "missing"), "3F000": (FATAL, "missing"),
    "3D000": (FATAL, "missing"), "42P18": (REJECT, "data"),
}
_PG_CLASSES: dict[str, tuple[str, str]] = {
    "23": (REJECT, "constraint"), "22": (REJECT, "data"), "08": (RETRY, "connection"),
    "53": (RETRY, "resources"), "40": (RETRY, "serialization"),
    "28": (FATAL, "auth"), "42": (FATAL, "syntax"), "0A": (FATAL, "unsupported"),
    "2D": (FATAL, "transaction"), "3D": (FATAL, "missing"), "3F": (FATAL, "missing"),
}

# MariaDB / MySQL error numbers.
_MY_CODES: dict[int, tuple[str, str]] = {
    1062: (REJECT, "unique"), 1586: (REJECT, "unique"), 1048: (REJECT, "not-null"),
    1364: (REJECT, "not-null"), 1451: (REJECT, "foreign-key"),
    1452: (REJECT, "foreign-key"), 1216: (REJECT, "foreign-key"),
    1217: (REJECT, "foreign-key"), 4025: (REJECT, "check"), 3819: (REJECT, "check"),
    1264: (REJECT, "data"), 1265: (REJECT, "data"), 1292: (REJECT, "data"),
    1366: (REJECT, "data"), 1367: (REJECT, "data"), 1406: (REJECT, "data"),
    1411: (REJECT, "data"), 1690: (REJECT, "data"), 3140: (REJECT, "data"),
    4038: (REJECT, "data"), 1644: (REJECT, "procedure"),
    1205: (RETRY, "lock"), 1213: (RETRY, "deadlock"), 1040: (RETRY, "resources"),
    1053: (RETRY, "connection"), 1927: (RETRY, "connection"), 2002: (RETRY, "connection"),
    2003: (RETRY, "connection"), 2005: (RETRY, "connection"), 2006: (RETRY, "connection"),
    2013: (RETRY, "connection"), 2055: (RETRY, "connection"), 1969: (RETRY, "timeout"),
    3024: (RETRY, "timeout"), 1317: (RETRY, "timeout"),
    1044: (FATAL, "auth"), 1045: (FATAL, "auth"), 1698: (FATAL, "auth"),
    1049: (FATAL, "missing"), 1146: (FATAL, "missing"), 1054: (FATAL, "missing"),
    1305: (FATAL, "missing"), 1051: (FATAL, "missing"), 1109: (FATAL, "missing"),
    1064: (FATAL, "syntax"), 1136: (FATAL, "syntax"), 1110: (FATAL, "syntax"),
    1318: (FATAL, "syntax"), 1142: (FATAL, "privilege"), 1143: (FATAL, "privilege"),
    1227: (FATAL, "privilege"), 1370: (FATAL, "privilege"), 1290: (FATAL, "read-only"),
    1792: (FATAL, "read-only"),
}

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_CODES: dict[int, tuple[str, str]] = {
    19: (REJECT, "constraint"), 20: (REJECT, "data"), 18: (REJECT, "data"),
    5: (RETRY, "lock"), 6: (RETRY, "lock"), 9: (RETRY, "timeout"), 10: (RETRY, "io"),
    15: (RETRY, "lock"), 1: (FATAL, "syntax"), 3: (FATAL, "privilege"),
    8: (FATAL, "read-only"), 11: (FATAL, "corrupt"), 13: (FATAL, "disk-full"),
    14: (FATAL, "missing"), 23: (FATAL, "auth"), 26: (FATAL, "corrupt"),
    21: (FATAL, "syntax"), 25: (FATAL, "syntax"),
}

_CLASS_FALLBACK: dict[str, tuple[str, str]] = {
    "IntegrityError": (REJECT, "constraint"), "DataError": (REJECT, "data"),
    "ProgrammingError": (FATAL, "syntax"), "NotSupportedError": (FATAL, "unsupported"),
    "OperationalError": (RETRY, "unknown"), "InternalError": (RETRY, "unknown"),
    "InterfaceError": (RETRY, "connection"), "DatabaseError": (RETRY, "unknown"),
}

_HINTS: dict[str, str] = {
    "unique": "a row with this key exists already: use action upsert, or fix the data",
    "not-null": "the column needs a value: map one, or give the column a default",
    "foreign-key": "the row refers to a row that does not exist (yet), or is still "
                   "referenced",
    "check": "the value breaks a CHECK constraint of the table",
    "exclusion": "the row overlaps another one (exclusion constraint)",
    "constraint": "the row breaks a constraint of the table",
    "data": "the value does not fit the column's type or size: convert it in a map step",
    "procedure": "the procedure refused these arguments",
    "connection": "the database is unreachable or dropped the connection; the delivery "
                  "layer tries again",
    "serialization": "a concurrent transaction conflicted; trying again usually succeeds",
    "deadlock": "a concurrent transaction deadlocked with this one; trying again usually "
                "succeeds",
    "lock": "the row or database was locked by another transaction; it is tried again",
    "timeout": "the statement ran longer than statement_timeout (or was cancelled)",
    "resources": "the server is out of connections or resources; it is tried again",
    "io": "the database file could not be read or written; it is tried again",
    "pool": "all pool_size connections were busy for pool_timeout: raise pool_size, or "
            "lower the sinks' concurrency",
    "auth": "check the user and password in url (or the password option) and the "
            "server's access rules",
    "missing": "check the table, column, schema, database or procedure name; quoted "
               "names are case-sensitive",
    "syntax": "the SQL the connector ran was refused: check query, table and column "
              "names",
    "privilege": "grant the user the privilege this statement needs",
    "read-only": "the database (or this server) only accepts reads",
    "unsupported": "the database does not support this statement",
    "transaction": "a procedure may not commit or roll back inside the sink's "
                   "transaction",
    "corrupt": "the database file is damaged or not a database",
    "disk-full": "the disk holding the database is full",
    "driver": "install the driver: pip install 'integrator[sql]'",
    "config": "check the url: dialect+driver://user@host:port/database",
    "unknown": "an unexpected database error; it is tried again, then dead-lettered",
}

_DB_NAMES = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}


@dataclass(frozen=True)
class Failure:
    """What went wrong, decided once: ``outcome`` (reject / retry / fatal), ``reason``
    (unique, connection, missing ...), the database's ``code`` and its message."""

    outcome: str
    reason: str
    code: str
    detail: str


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _pg(orig: Any) -> Failure | None:
    state = getattr(orig, "sqlstate", None)
    diag = getattr(orig, "diag", None)
    if state is None:
        text = str(orig)
        if type(orig).__name__ != "OperationalError":
            return None
        # connection-time errors carry no SQLSTATE: read libpq's message
        lowered = text.lower()
        if ("authentication failed" in lowered or "no password supplied" in lowered
                or "pg_hba.conf" in lowered or ('role "' in lowered
                                                and "does not exist" in lowered)):
            return Failure(FATAL, "auth", "connect", _clip(text))
        if "database" in lowered and "does not exist" in lowered:
            return Failure(FATAL, "missing", "connect", _clip(text))
        return Failure(RETRY, "connection", "connect", _clip(text))
    outcome = _PG_CODES.get(state) or _PG_CLASSES.get(state[:2])
    if outcome is None:
        return None
    primary = getattr(diag, "message_primary", None) or str(orig).split("\n")[0]
    detail = getattr(diag, "message_detail", None)
    text = f"{primary}. {detail}" if detail else primary
    return Failure(outcome[0], outcome[1], state, _clip(text))


def _mysql(orig: Any) -> Failure | None:
    args = getattr(orig, "args", ())
    if not args or not isinstance(args[0], int):
        return None
    errno = args[0]
    text = str(args[1]) if len(args) > 1 else str(orig)
    outcome = _MY_CODES.get(errno)
    if outcome is None:
        state = getattr(orig, "sqlstate", None) or ""
        if state == "45000":
            outcome = (REJECT, "procedure")
        elif state.startswith("23"):
            outcome = (REJECT, "constraint")
        elif state.startswith("22"):
            outcome = (REJECT, "data")
        elif state.startswith("42"):
            outcome = (FATAL, "syntax")
        elif state.startswith(("08", "40")):
            outcome = (RETRY, "connection" if state.startswith("08") else "deadlock")
        else:
            return None
    return Failure(outcome[0], outcome[1], str(errno), _clip(text))


def _sqlite(orig: Any) -> Failure | None:
    code = getattr(orig, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    name = getattr(orig, "sqlite_errorname", "") or f"SQLITE_{code}"
    text = str(orig)
    outcome = _SQLITE_CODES.get(code & 0xFF)
    if outcome is None:
        return None
    if outcome == (FATAL, "syntax") and text.startswith(("no such table", "no such column",
                                                         "unknown database")):
        outcome = (FATAL, "missing")
    if name == "unknown":  # names Python's sqlite3 does not know yet
        name = "SQLITE_CONSTRAINT_DATATYPE" if code == 3091 else f"SQLITE_{code}"
    return Failure(outcome[0], outcome[1], name, _clip(text))


def classify(exc: BaseException) -> Failure:
    """Decide what ``exc`` (from SQLAlchemy or a driver) means for the engine."""
    try:
        import sqlalchemy.exc as sa_exc
    except ImportError:  # pragma: no cover - without SQLAlchemy nothing reaches here
        sa_exc = None  # type: ignore[assignment]
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        orig: Any = exc.orig
        module = type(orig).__module__
        failure = None
        if module.startswith("psycopg"):
            failure = _pg(orig)
        elif module.startswith("pymysql"):
            failure = _mysql(orig)
        elif module.startswith("sqlite3"):
            failure = _sqlite(orig)
        if failure is None and exc.connection_invalidated:
            failure = Failure(RETRY, "connection", "disconnect", _clip(str(orig)))
        if failure is None:
            outcome = next((v for k, v in _CLASS_FALLBACK.items()
                            if any(c.__name__ == k for c in type(orig).__mro__)),
                           (RETRY, "unknown"))
            failure = Failure(outcome[0], outcome[1], type(orig).__name__, _clip(str(orig)))
        return failure
    if sa_exc is not None and isinstance(exc, sa_exc.TimeoutError):
        return Failure(RETRY, "pool", "pool-timeout", _clip(str(exc).split(" (")[0]))
    if sa_exc is not None and isinstance(exc, sa_exc.StatementError):
        inner = exc.orig if exc.orig is not None else exc
        return Failure(REJECT, "data", type(inner).__name__, _clip(str(inner)))
    if sa_exc is not None and isinstance(exc, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        return Failure(FATAL, "config", type(exc).__name__, _clip(str(exc)))
    if isinstance(exc, OverflowError):
        return Failure(REJECT, "data", "overflow", _clip(str(exc)))
    if isinstance(exc, ImportError):
        return Failure(FATAL, "driver", "import", _clip(str(exc)))
    if isinstance(exc, TimeoutError | ConnectionError):
        return Failure(RETRY, "connection", type(exc).__name__, _clip(str(exc)))
    return Failure(FATAL, "unknown", type(exc).__name__, _clip(str(exc)))


def to_error(failure: Failure, where: str, doing: str, dialect: str,
             context: dict[str, Any] | None = None) -> IntegratorError:
    """The integrator error for a classified failure, with place, code and hint."""
    db = _DB_NAMES.get(dialect, dialect)
    message = f"{where}: {doing}: {db} answered [{failure.code}] {failure.detail}"
    ctx = {"sql_reason": failure.reason, "sql_code": failure.code, **(context or {})}
    hint = _HINTS.get(failure.reason)
    if failure.outcome == REJECT:
        return RejectedError(message, hint=hint, context=ctx)
    if failure.outcome == RETRY:
        return RetriableError(message, hint=hint, context=ctx)
    return FatalError(message, hint=hint, context=ctx)


def translate(exc: BaseException, where: str, doing: str, dialect: str,
              context: dict[str, Any] | None = None) -> IntegratorError:
    """``to_error(classify(exc), ...)``: the one call most places need."""
    return to_error(classify(exc), where, doing, dialect, context)
