"""A connector from an installed package: found by entry point, listed, linted, run.

The tiny plugin package in acme-connector/ is installed once per session into a
temporary folder (never into the venv): setuptools generates its metadata from its
pyproject.toml (``egg_info``: the entry points exactly as a build writes them — a wheel
build would need the ``wheel`` package, which a fresh Python 3.11 venv lacks, and pip
has no offline path without it) and the package is copied beside it. That folder is on
``sys.path`` only during each test of this module: ``importlib.metadata`` then finds
the ``integrator.connectors`` entry point as for any pip-installed plugin. Afterwards
``sys.path``, the imported module and the process-wide registry are restored, so no
other test sees the plugin.

The plugin's own conformance test class is imported below, so pytest runs it here,
with the plugin installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from integrator.cli.main import cli
from integrator.compiler import check_text
from integrator.connectors import registry
from integrator.connectors.builtin.memory import MemoryHub
from integrator.connectors.registry import Registry, default_registry
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.runner import Engine, RunOptions
from integrator.flow.loader import LoadOptions

PLUGIN = Path(__file__).resolve().parent / "acme-connector"


def _load_plugin_tests() -> type:
    spec = importlib.util.spec_from_file_location(
        "acme_connector_conformance", PLUGIN / "tests" / "acme_conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type = module.TestAcmeConformance
    return cls


# The plugin's conformance tests, collected in this module (and so with its fixtures).
TestAcmeConformance = _load_plugin_tests()


@pytest.fixture(scope="session")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed plugin: ``acme_connector/`` and its metadata."""
    source = tmp_path_factory.mktemp("acme-src") / "acme-connector"
    # build from a copy: a build in the tree would leave *.egg-info in the repository
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info"))
    target = tmp_path_factory.mktemp("acme-site")
    done = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()",
         "--quiet", "egg_info", "--egg-base", str(target)],
        cwd=source, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        pytest.fail(f"building the plugin's metadata failed:\n{done.stdout}\n{done.stderr}")
    shutil.copytree(source / "acme_connector", target / "acme_connector")
    return target


@pytest.fixture(autouse=True)
def acme_installed(acme_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(acme_site))  # also invalidates the import caches
    monkeypatch.setattr(registry, "_default", None)  # rebuilt with the entry point
    yield acme_site
    for name in [m for m in sys.modules if m.split(".")[0] == "acme_connector"]:
        del sys.modules[name]


def test_the_entry_point_is_found(acme_installed: Path) -> None:
    found = {ep.name: ep.value for ep in entry_points(group="integrator.connectors")}
    assert found.get("acme") == "acme_connector:AcmeConnector"
    cls = Registry().get("acme")
    assert cls.__name__ == "AcmeConnector" and cls.type_name == "acme"
    module_file = sys.modules[cls.__module__].__file__
    assert module_file is not None
    assert Path(module_file).is_relative_to(acme_installed)  # the installed copy
    assert default_registry().get("acme") is cls
    assert "acme" in Registry().names()
    assert "acme" not in Registry(load_entry_points=False)


def test_connectors_list_and_show_include_the_plugin() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["connectors", "list"])
    assert listed.exit_code == 0, listed.output
    assert "acme" in listed.output and "Acme ledger" in listed.output
    assert "file" in listed.output  # the built-ins are still there
    shown = runner.invoke(cli, ["connectors", "show", "acme"])
    assert shown.exit_code == 0, shown.output
    for text in ("ledger", "currency", "post", "memo", "follow"):
        assert text in shown.output


FLOW = """\
flow: ledger-post
connections:
  orders:
    type: memory
    records:
      - {id: o-1, total: 12.5}
      - {id: o-2, total: 7}
      - {id: o-3, total: 3}
  ledger:
    type: acme
    ledger: LEDGER
    currency: PLN
  collected: {type: memory}
source: {connection: orders}
steps:
  - filter: "total > `5`"
  - deliver: [book]
sinks:
  book:
    connection: ledger
    action: post
    options: {memo: nightly}
"""


def lint(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["lint", str(path)])
    return result.exit_code, result.output


def test_lint_accepts_the_plugins_options_and_checks_them(tmp_path: Path) -> None:
    code, output = lint(tmp_path, FLOW.replace("LEDGER", "ledger.jsonl"))
    assert code == 0, output
    code, output = lint(tmp_path, FLOW.replace("LEDGER", "ledger.jsonl")
                        .replace("currency: PLN", "curency: PLN"))
    assert code == 1
    assert "unknown option 'curency'" in output and "did you mean 'currency'?" in output
    code, output = lint(tmp_path, FLOW.replace("LEDGER", "ledger.jsonl")
                        .replace("currency: PLN", "currency: GBP"))
    assert code == 1
    assert "option 'currency': expected one of EUR, PLN, USD; got 'GBP'" in output
    code, output = lint(tmp_path, FLOW.replace("LEDGER", "ledger.jsonl")
                        .replace("action: post", "action: pots"))
    assert code == 1 and "pots" in output


def run(text: str, tmp_path: Path, hub: MemoryHub) -> Engine:
    compiled, diag = check_text(textwrap.dedent(text), "flow.yaml",
                                options=LoadOptions(env={}), workdir=tmp_path)
    assert compiled is not None, [p.message for p in diag.problems]
    engine = Engine(compiled, RunOptions(workdir=tmp_path), resources={"memory": hub},
                    dead_letters=MemoryDeadLetters())
    report = asyncio.run(engine.run())
    assert report.status == "completed", report
    return engine


def test_a_flow_posts_to_the_plugin_and_reads_back_from_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    hub = MemoryHub()
    run(FLOW.replace("LEDGER", str(ledger)), tmp_path, hub)
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert entries == [
        {"seq": 1, "currency": "PLN", "entry": {"id": "o-1", "total": 12.5},
         "memo": "nightly"},
        {"seq": 2, "currency": "PLN", "entry": {"id": "o-2", "total": 7}, "memo": "nightly"},
    ]
    read_back = f"""\
        flow: ledger-read
        connections:
          ledger: {{type: acme, ledger: {ledger}}}
          out: {{type: memory}}
        source: {{connection: ledger}}
        steps:
          - deliver: [copy]
        sinks:
          copy: {{connection: out}}
    """
    run(read_back, tmp_path, hub)
    assert hub.channels["out"] == [{"id": "o-1", "total": 12.5}, {"id": "o-2", "total": 7}]
    # the plugin kept its position in the connection's state: a second run reads nothing
    run(read_back, tmp_path, hub)
    assert len(hub.channels["out"]) == 2
    state = json.loads((tmp_path / ".integrator/ledger-read/state.json").read_text())
    assert state == {"ledger/offset": 2}
