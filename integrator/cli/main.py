"""The ``integrator`` command line. Every command is a thin layer over the library."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console

from integrator import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _secrets(path: str | None) -> Any:
    from integrator.flow.references import SecretStore, load_secrets_file

    if path is None:
        return None
    import os

    return SecretStore(load_secrets_file(Path(path)), os.environ)


def _load(flow: str, secrets: str | None, console: Console) -> Any:
    from integrator.compiler import load_flow
    from integrator.errors import FatalError, FlowError
    from integrator.flow.problems import format_text

    try:
        return load_flow(flow, secrets=_secrets(secrets))
    except FlowError as exc:
        text = Path(flow).read_text(encoding="utf-8", errors="replace")
        console.print(format_text(exc.problems, {flow: text}), markup=False, highlight=False)
        console.print(f"[red]{len(exc.problems)} problem(s)[/]; `integrator lint {flow}` "
                      "lists them too")
        raise SystemExit(EXIT_USAGE) from None
    except FatalError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise SystemExit(EXIT_USAGE) from None


class _JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"level": record.levelname.lower(), "logger": record.name,
                               "message": record.getMessage()}
        extra = getattr(record, "integrator", None)
        if isinstance(extra, dict):
            out.update(extra)
        return json.dumps(out, ensure_ascii=False, default=str)


def _configure_logging(level: str, fmt: str) -> None:
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonLogFormatter())
    else:
        from rich.logging import RichHandler

        handler = RichHandler(console=_stderr(), show_path=False, markup=False)
    root = logging.getLogger("integrator")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="integrator")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="error", show_default=True, help="Log messages from this level up.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one JSON object per log line (for log stores).")
def cli(log_level: str, log_format: str) -> None:
    """integrator — declarative system integration.

    Describe each integration as a YAML flow (source → steps → sinks); integrator
    checks it, compiles it once and runs it.
    """
    _configure_logging(log_level, log_format)


def _tune_gc() -> None:
    """Keep the cyclic GC from re-scanning what stays alive for the whole run.

    Everything loaded so far (modules, the compiled flow) lives until exit: freezing it
    takes it out of every later collection. In-flight messages are many small dicts that
    die young; a larger first-generation threshold collects them in fewer, cheaper passes.
    This is process-wide, so the CLI does it, not the engine (a library).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@cli.command()
@click.argument("flow", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Read this file instead of the flow's source (format from its extension).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N messages.")
@click.option("--dry-run", is_flag=True, help="Run every step, write nothing, ack nothing; "
              "show sample payloads per sink.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format (json goes to stdout).")
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False),
              help="Secrets file: NAME=value lines or a YAML mapping.")
@click.option("--max-in-flight", type=click.IntRange(min=1),
              help="Override settings.max_in_flight.")
@click.option("--no-progress", is_flag=True, help="Do not show progress.")
def run(flow: str, input_path: str | None, limit: int | None, dry_run: bool, output: str,
        secrets: str | None, max_in_flight: int | None, no_progress: bool) -> None:
    """Run FLOW until its source is exhausted (or SIGINT/SIGTERM).

    Exit status: 0 all messages done, 1 some failed or were dead-lettered (or the run
    failed), 2 the flow is invalid or cannot start.
    """
    from integrator.cli.progress import watch_progress
    from integrator.cli.render import print_report
    from integrator.engine.runner import Engine, RunOptions

    err = _stderr()
    compiled = _load(flow, secrets, err)
    for warning in compiled.warnings:
        err.print(f"[yellow]{warning}[/]", highlight=False)
    _tune_gc()
    options = RunOptions(limit=limit, dry_run=dry_run,
                         input=Path(input_path) if input_path else None,
                         max_in_flight=max_in_flight)

    async def main() -> Any:
        engine = Engine(compiled, options)
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                err.print("[yellow]stopping: finishing what was read (again to abort)[/]")
                engine.stop()
            else:
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        task = asyncio.create_task(engine.run())
        progress = None if no_progress or output == "json" else asyncio.create_task(
            watch_progress(engine, err))
        try:
            return await task
        finally:
            if progress is not None:
                progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress

    try:
        report = asyncio.run(main())
    except asyncio.CancelledError:
        err.print("[red]aborted[/]: outputs are incomplete")
        raise SystemExit(130) from None
    if output == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    else:
        print_report(report, Console(highlight=False))
    if report.status == "stopped":
        raise SystemExit(130 if report.fatal is None else EXIT_FINDINGS)
    raise SystemExit(EXIT_OK if report.ok else EXIT_FINDINGS)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--output", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="github: workflow annotations for GitHub Actions.")
@click.option("--skip-env-check", is_flag=True,
              help="Do not report unset ${env:...} and ${secret:...} references.")
@click.option("--strict", is_flag=True, help="Warnings count as findings too.")
def lint(paths: tuple[str, ...], output: str, skip_env_check: bool, strict: bool) -> None:
    """Check flow files: PATHS are files, folders (recursive) or glob patterns.

    Reports every problem as path:line:col: error[CODE]: message. Exit status: 0 clean,
    1 findings, 2 a path is missing or unreadable.
    """
    from integrator.flow.lint import lint_paths
    from integrator.flow.problems import format_github, format_json, format_text

    result = lint_paths(paths, check_env=not skip_env_check)
    err = _stderr()
    for line in result.unreadable:
        err.print(f"[red]cannot read[/] {line}")
    if output == "json":
        click.echo(format_json(result.problems))
    elif output == "github":
        if result.problems:
            click.echo(format_github(result.problems))
    else:
        if result.problems:
            click.echo(format_text(result.problems, result.sources))
        n_err, n_warn = len(result.errors), len(result.warnings)
        summary = (f"{len(result.files)} flow file(s) checked: {n_err} error(s), "
                   f"{n_warn} warning(s)")
        err.print(summary if n_err or n_warn else f"[green]{summary}[/]")
    if result.unreadable:
        raise SystemExit(EXIT_USAGE)
    findings = result.errors or (strict and result.warnings)
    raise SystemExit(EXIT_FINDINGS if findings else EXIT_OK)


@cli.command()
@click.argument("flow", type=click.Path(dir_okay=False))
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False))
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds each connection may take.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def check(flow: str, secrets: str | None, timeout: float, output: str) -> None:
    """Connect to every connection of FLOW and report reachable / auth ok / failing.

    Nothing is read or written. Exit status: 0 all ok, 1 some failed, 2 invalid flow.
    """
    from integrator.engine.checks import check_connections

    compiled = _load(flow, secrets, _stderr())
    results = asyncio.run(check_connections(compiled, timeout=timeout))
    if output == "json":
        click.echo(json.dumps({name: {"type": t, "status": r.status, "detail": r.detail,
                                      "seconds": r.seconds}
                               for name, (t, r) in results.items()}, ensure_ascii=False))
    else:
        console = Console(highlight=False)
        styles = {"ok": "green", "skipped": "dim"}
        for name, (type_name, r) in results.items():
            style = styles.get(r.status, "red")
            took = f" ({r.seconds:.2f}s)" if r.seconds is not None else ""
            console.print(f"{name} ({type_name}): [{style}]{r.status}[/]{took} — {r.detail}")
    raise SystemExit(EXIT_OK if all(r.ok for _, r in results.values()) else EXIT_FINDINGS)


@cli.command()
@click.argument("flow", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
def graph(flow: str, fmt: str) -> None:
    """Print the step graph of FLOW as Mermaid or Graphviz dot."""
    from integrator.cli.render import render_graph

    click.echo(render_graph(_load(flow, None, _stderr()), fmt))


@cli.command()
@click.option("--check", is_flag=True, help="Fail (exit 1) when the file differs from the "
              "code instead of writing it.")
@click.option("--path", "target", default="schemas/flow.schema.json", show_default=True,
              type=click.Path(dir_okay=False))
def schema(check: bool, target: str) -> None:
    """Write (or --check) the flow JSON Schema generated from the code.

    Editors autocomplete flows that start with
    `# yaml-language-server: $schema=<relative path>/schemas/flow.schema.json`.
    """
    from integrator.flow.schema import render_schema

    text = render_schema()
    path = Path(target)
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            _stderr().print(f"[red]{path} is out of date[/]: run `integrator schema`")
            raise SystemExit(EXIT_FINDINGS)
        click.echo(f"{path} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--check", is_flag=True, help="Fail (exit 1) when a page differs from the "
              "code instead of writing it.")
@click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The project folder the pages are written under.")
def docs(check: bool, root: str) -> None:
    """Write (or --check) docs/reference/*.md, generated from step and connector specs."""
    from integrator.flow.reference import render_pages

    stale = []
    for rel, text in render_pages().items():
        path = Path(root) / rel
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
    if stale:
        _stderr().print(f"[red]out of date:[/] {', '.join(stale)}; run `integrator docs`")
        raise SystemExit(EXIT_FINDINGS)
    if check:
        click.echo("reference pages are up to date")


@cli.command()
@click.argument("flow", type=click.Path(exists=True, dir_okay=False))
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False))
def render(flow: str, secrets: str | None) -> None:
    """Print FLOW with ${env:...} resolved and secrets masked as ********."""
    from integrator.compiler import check_text
    from integrator.flow.loader import LoadOptions
    from integrator.flow.problems import format_text

    text = Path(flow).read_text(encoding="utf-8")
    options = LoadOptions(check_env=True, mask_secrets=True)
    if secrets:
        options.secrets = _secrets(secrets)
    compiled, diag = check_text(text, flow, options=options)
    errors = [p for p in diag.problems if p.is_error]
    if compiled is None or errors:
        _stderr().print(format_text(errors, {flow: text}), markup=False)
        raise SystemExit(EXIT_USAGE)
    click.echo(yaml.safe_dump(compiled.model.raw, sort_keys=False, allow_unicode=True,
                              width=100), nl=False)


@cli.group()
def connectors() -> None:
    """List connector types and show their options."""


@connectors.command("list")
def connectors_list() -> None:
    """All connector types: built-in and installed plugins."""
    from integrator.cli.render import print_connectors
    from integrator.connectors.registry import default_registry

    print_connectors(list(default_registry()), Console())


@connectors.command("show")
@click.argument("type_name")
def connectors_show(type_name: str) -> None:
    """Options, actions and examples of one connector type."""
    from integrator.cli.render import print_connector
    from integrator.connectors.registry import default_registry
    from integrator.errors import FatalError

    try:
        cls = default_registry().get(type_name)
    except FatalError as exc:
        _stderr().print(f"[red]{exc}[/]")
        raise SystemExit(EXIT_USAGE) from None
    print_connector(cls, Console())


def main() -> None:
    cli(prog_name="integrator")


if __name__ == "__main__":
    main()
