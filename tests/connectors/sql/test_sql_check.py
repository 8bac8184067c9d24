"""``check()`` of the sql connector, its registration, its spec, and life without the
driver installed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from sql_support import Db, connector, table_name

from integrator.connectors.protocols.sql import SqlConnector
from integrator.connectors.registry import default_registry
from integrator.security.secrets import Redactor, Secret

REPO = Path(__file__).resolve().parents[3]


def test_check_connects_and_finds_the_tables(pg: Db, my: Db, lite: Db,
                                             tmp_path: Path) -> None:
    for d in (pg, my, lite):
        name = table_name("checked")
        d.execute(f"CREATE TABLE {d.q(name)} (id INTEGER PRIMARY KEY)")
        result = asyncio.run(connector({**d.config, "tables": [name]}, tmp_path).check())
        assert result.status == "ok", result.detail
        assert f"tables {name} found" in result.detail
        assert d.kind in result.detail
        missing = asyncio.run(connector({**d.config, "tables": [name, "nope_table"]},
                                        tmp_path).check())
        assert missing.status == "misconfigured"
        assert "nope_table" in missing.detail


def test_check_reports_unreachable_and_refused(pg: Db, my: Db, tmp_path: Path) -> None:
    down = asyncio.run(connector({"url": "postgresql+psycopg://postgres@127.0.0.1:1/test",
                                  "connect_timeout": "2s"}, tmp_path).check())
    assert down.status == "unreachable"
    role = asyncio.run(connector({"url": "postgresql+psycopg://no_such_role@127.0.0.1/test"},
                                 tmp_path).check())
    assert role.status == "auth-failed"
    database = asyncio.run(connector(
        {"url": "postgresql+psycopg://postgres@127.0.0.1/no_such_database"}, tmp_path
    ).check())
    assert database.status == "misconfigured"
    secret = Secret("mysql+pymysql://root:Wr0ng-Pa55word@127.0.0.1:3306/test", "DB_URL",
                    Redactor())
    refused = asyncio.run(connector({"url": secret}, tmp_path).check())
    assert refused.status == "auth-failed"
    assert "Wr0ng-Pa55word" not in refused.detail


def test_check_reports_bad_urls(tmp_path: Path) -> None:
    garbage = asyncio.run(connector({"url": "not a url"}, tmp_path).check())
    assert garbage.status == "misconfigured"
    assert "not a database URL" in garbage.detail
    assert SqlConnector.check_config({"url": "not a url"})[0].key == "url"
    driver = asyncio.run(connector({"url": "oracle+cx_oracle://u@h/db"}, tmp_path).check())
    assert driver.status == "misconfigured"
    assert "not installed" in driver.detail and "integrator[sql]" in driver.detail


def test_registered_with_a_secret_url() -> None:
    assert default_registry().get("sql") is SqlConnector
    url = SqlConnector.spec.get("url")
    assert url is not None and url.secret and url.required
    assert SqlConnector.roles() == ["source", "sink", "lookup"]
    assert set(SqlConnector.actions) == {"insert", "upsert", "procedure"}
    schema = SqlConnector.spec.json_schema()
    assert "Secret" in schema["properties"]["url"]["description"]


def test_the_module_loads_without_sqlalchemy(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.modules["sqlalchemy"] = None  # as if not installed
        sys.modules["psycopg"] = None
        from pathlib import Path
        from integrator.connectors.registry import default_registry
        from integrator.connectors.base import Runtime
        from integrator.errors import FatalError
        from integrator.security.secrets import Redactor
        cls = default_registry().get("sql")
        config = cls.spec.parse({{"url": "sqlite:///x.db"}}, "c")
        runtime = Runtime("f", Path({str(tmp_path)!r}), Path({str(tmp_path)!r}), Redactor())
        conn = cls("db", config, runtime)
        sink = conn.sink("insert", cls.actions["insert"].options.parse({{"table": "t"}}, "s"))
        try:
            asyncio.run(sink.open())
        except FatalError as exc:
            print("FATAL", exc)
        print(asyncio.run(conn.check()).status)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "FATAL connection 'db' (sql): the sql connector needs SQLAlchemy" in out.stdout
    assert "pip install 'integrator[sql]'" in out.stdout
    assert out.stdout.strip().endswith("misconfigured")
