"""The command line: lint, graph, schema, render, connectors, version and help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integrator import __version__
from integrator.cli.main import cli
from integrator.flow.schema import render_schema

REPO = Path(__file__).resolve().parents[2]

BROKEN = """\
flow: broken
connections:
  src: {type: memory}
  out: {type: memroy}
source: {connection: src}
steps:
  - filter: "a.["
  - deliver: [nowhere]
"""

SECRET_FLOW = """\
flow: secret
connections:
  src: {type: memory, channel: "${secret:CHANNEL_TOKEN}"}
  out: {type: memory}
source: {connection: src}
steps:
  - deliver: [s]
sinks:
  s: {connection: out}
"""


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "flows" / "broken.yaml"
    path.parent.mkdir()
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_lint_clean_bundled_flows_exit_0() -> None:
    result = invoke("lint", str(REPO / "flows"), str(REPO / "examples"))
    assert result.exit_code == 0, result.output


def test_lint_reports_all_problems_exit_1(broken: Path) -> None:
    result = invoke("lint", str(broken))
    assert result.exit_code == 1
    out = result.stdout
    assert f"{broken}:4:15: error[unknown-connector]: unknown connector type 'memroy'" in out
    assert f"{broken}:7:17: error[expression-syntax]" in out
    assert f"{broken}:4:3: warning[unused-connection]" in out
    assert f"{broken}:8:15: error[undefined-target]" in out
    assert "   7 |   - filter: \"a.[\"" in out and "hint: did you mean 'memory'?" in out


def test_lint_github_annotations(broken: Path) -> None:
    result = invoke("lint", "--output", "github", str(broken))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"::warning file={broken},line=4,col=3,title=unused-connection::")
    assert lines[1] == (f"::error file={broken},line=4,col=15,title=unknown-connector::"
                        "unknown connector type 'memroy' (hint: did you mean 'memory'?)")
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)


def test_lint_json_output(broken: Path) -> None:
    result = invoke("lint", "--output", "json", str(broken))
    problems = json.loads(result.stdout)
    assert {p["code"] for p in problems} >= {"unknown-connector", "expression-syntax",
                                             "undefined-target"}
    assert all({"file", "line", "col", "severity", "message", "hint"} <= set(p)
               for p in problems)


def test_lint_folders_and_globs(broken: Path) -> None:
    (broken.parent / "notes.yaml").write_text("just: yaml\n", encoding="utf-8")
    result = invoke("lint", "--output", "json", str(broken.parent))
    assert {p["file"] for p in json.loads(result.stdout)} == {str(broken)}
    result = invoke("lint", "--output", "json", str(broken.parent / "*.yaml"))
    files = {p["file"] for p in json.loads(result.stdout)}
    assert str(broken) in files


def test_lint_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("lint", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr


def test_lint_env_check_can_be_skipped(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(SECRET_FLOW, encoding="utf-8")
    assert invoke("lint", str(path), env={"CHANNEL_TOKEN": ""}).exit_code in (0, 1)
    result = invoke("lint", "--output", "json", str(path))
    codes = [p["code"] for p in json.loads(result.stdout)]
    assert "unset-secret" in codes
    assert invoke("lint", "--skip-env-check", str(path)).exit_code == 0


def test_graph_mermaid_and_dot() -> None:
    flow = str(REPO / "flows" / "order.yaml")
    mermaid = invoke("graph", flow)
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("flowchart LR")
    assert 'step_route_5 -->|"market == \'PL\'"| sink_erp_pl' in mermaid.stdout
    dot = invoke("graph", "--format", "dot", flow)
    assert dot.stdout.startswith('digraph "order"')
    assert "step_crm_account -> step_deliver_7;" in dot.stdout


def test_schema_check_detects_drift(tmp_path: Path) -> None:
    target = tmp_path / "flow.schema.json"
    assert invoke("schema", "--path", str(target)).exit_code == 0
    assert invoke("schema", "--check", "--path", str(target)).exit_code == 0
    target.write_text("{}", encoding="utf-8")
    assert invoke("schema", "--check", "--path", str(target)).exit_code == 1


def test_committed_schema_matches_the_code() -> None:
    committed = (REPO / "schemas" / "flow.schema.json").read_text(encoding="utf-8")
    assert committed == render_schema(), "run `integrator schema` and commit the result"


def test_render_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(SECRET_FLOW, encoding="utf-8")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("CHANNEL_TOKEN=very-secret-token\n", encoding="utf-8")
    result = invoke("render", str(path), "--secrets", str(secrets))
    assert result.exit_code == 0, result.output
    assert "very-secret-token" not in result.output
    assert "channel: '********'" in result.stdout


def test_connectors_list_and_show() -> None:
    listing = invoke("connectors", "list")
    assert {"file", "memory", "stdin", "stdout"} <= set(listing.stdout.split())
    shown = invoke("connectors", "show", "file")
    assert "max_record_size" in shown.stdout and "lookup options" in shown.stdout
    unknown = invoke("connectors", "show", "fiel")
    assert unknown.exit_code == 2 and "did you mean 'file'" in unknown.stderr


def test_version_and_help_everywhere() -> None:
    assert invoke("--version").stdout.strip() == f"integrator, version {__version__}"
    for command in ([], ["run"], ["lint"], ["graph"], ["schema"], ["render"],
                    ["connectors"], ["connectors", "show"]):
        result = invoke(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_run_with_an_invalid_flow_exits_2(broken: Path) -> None:
    result = invoke("run", str(broken))
    assert result.exit_code == 2
    assert "error[unknown-connector]" in result.stderr


def test_committed_reference_pages_match_the_code() -> None:
    from integrator.flow.reference import render_pages

    for rel, text in render_pages().items():
        committed = (REPO / rel).read_text(encoding="utf-8")
        assert committed == text, f"{rel} drifted: run `integrator docs` and commit"


def test_docs_check_detects_drift(tmp_path: Path) -> None:
    assert invoke("docs", "--root", str(tmp_path)).exit_code == 0
    assert invoke("docs", "--check", "--root", str(tmp_path)).exit_code == 0
    (tmp_path / "docs/reference/steps.md").write_text("old", encoding="utf-8")
    result = invoke("docs", "--check", "--root", str(tmp_path))
    assert result.exit_code == 1 and "steps.md" in result.stderr


def test_check_reports_each_connection(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "flow: chk\n"
        "connections:\n"
        f"  present: {{type: file, path: {REPO / 'examples/data/orders.jsonl'}}}\n"
        f"  missing: {{type: file, path: {tmp_path / 'nope.jsonl'}}}\n"
        f"  out: {{type: file, path: {REPO / 'README.md'}/x.jsonl}}\n"  # a file as folder
        "source: {connection: present}\n"
        "steps: [{deliver: [s]}]\n"
        "sinks: {s: {connection: out}, t: {connection: missing}}\n", encoding="utf-8")
    result = invoke("check", str(flow), "--output", "json")
    found = json.loads(result.stdout)
    assert found["present"]["status"] == "ok" and "1 file(s)" in found["present"]["detail"]
    assert found["missing"]["status"] == "ok"  # a sink may create it: the folder is writable
    assert found["out"]["status"] == "misconfigured"
    assert result.exit_code == 1
