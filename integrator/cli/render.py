"""How the CLI shows reports, graphs and connector specs (rich lives only in cli/)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from integrator.compiler.graph import CompiledFlow
from integrator.connectors.base import Connector
from integrator.engine.report import RunReport

__all__ = ["print_connector", "print_connectors", "print_report", "render_graph"]


def print_report(report: RunReport, console: Console) -> None:
    status_style = {"completed": "green", "failed": "red", "stopped": "yellow"}.get(
        report.status, "white")
    console.print(
        f"[bold]{report.flow}[/]: [{status_style}]{report.status}[/] — read {report.read:,} "
        f"in {report.seconds:.2f}s ({report.rate:,.0f} msg/s)"
        + (" — dry run, nothing written" if report.dry_run else "")
    )
    table = Table(box=None, pad_edge=False)
    for col in ("sink", "in", "out", "failed", "dead-lettered", "msg/s"):
        table.add_column(col, justify="left" if col == "sink" else "right")
    for name, s in report.sinks.items():
        rate = s.written / report.seconds if report.seconds > 0 else 0.0
        table.add_row(name, f"{s.delivered_in:,}", f"{s.written:,}", f"{s.failed:,}",
                      f"{s.dead_lettered:,}", f"{rate:,.0f}")
    console.print(table)
    console.print(
        f"messages: {report.completed:,} done · {report.filtered:,} filtered · "
        f"{report.unrouted:,} unrouted · {report.skipped:,} skipped · "
        f"{report.dead_lettered:,} dead-lettered · {report.failed:,} failed"
    )
    if report.errors_by_class:
        kinds = ", ".join(f"{k} ×{v}" for k, v in sorted(report.errors_by_class.items()))
        console.print(f"[yellow]errors:[/] {kinds}")
        for err in report.errors[:5]:
            keys = " ".join(f"{k}={v}" for k, v in err.keys.items())
            where = err.meta.get("file", "")
            if "line" in err.meta:
                where += f":{err.meta['line']}"
            console.print(f"  {err.step} {keys} {where} — {err.error}",
                          highlight=False, markup=False, style="dim")
        if len(report.errors) > 5:
            console.print(f"  … {sum(report.errors_by_class.values()) - 5:,} more")
    if report.dead_lettered and report.dead_letter_path:
        console.print(f"dead letters: {report.dead_letter_path}", highlight=False)
    if report.dry_run:
        for name, samples in report.samples.items():
            for payload in samples:
                console.print(f"[dim]{name} ←[/] "
                              + json.dumps(payload, ensure_ascii=False, default=str)[:400],
                              highlight=False)
    if report.fatal:
        console.print(f"[red]run failed:[/] {report.fatal}", highlight=False)


def _node_id(node: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in node)


def _node_label(node: str) -> str:
    kind, _, name = node.partition(":")
    return f"{kind} {name}"


def render_graph(flow: CompiledFlow, fmt: str) -> str:
    edges = flow.edges()
    nodes = list(dict.fromkeys(n for e in edges for n in e[:2]))
    kinds = {f"step:{s.name}": s.describe() for s in flow.steps}
    if fmt == "dot":
        lines = [f'digraph "{flow.name}" {{', "  rankdir=LR;"]
        for n in nodes:
            shape = {"source": "cds", "sink": "folder"}.get(n.split(":")[0], "box")
            label = _node_label(n) + (f"\\n({kinds[n]})" if n in kinds else "")
            lines.append(f'  {_node_id(n)} [label="{label}", shape={shape}];')
        for a, b, label in edges:
            attr = f' [label="{label.replace(chr(34), chr(39))}"]' if label else ""
            lines.append(f"  {_node_id(a)} -> {_node_id(b)}{attr};")
        lines.append("}")
        return "\n".join(lines)
    lines = ["flowchart LR"]
    for n in nodes:
        label = _node_label(n) + (f"<br/>{kinds[n]}" if n in kinds else "")
        label = label.replace('"', "'")
        kind = n.split(":")[0]
        left, right = {"source": ("[/", "/]"), "sink": ("[(", ")]")}.get(kind, ("[", "]"))
        lines.append(f'  {_node_id(n)}{left}"{label}"{right}')
    for a, b, label in edges:
        text = f'|"{label.replace(chr(34), chr(39))}"|' if label else ""
        lines.append(f"  {_node_id(a)} -->{text} {_node_id(b)}")
    return "\n".join(lines)


def print_connectors(classes: list[type[Connector]], console: Console) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("type")
    table.add_column("roles")
    table.add_column("actions")
    table.add_column("summary")
    for cls in classes:
        table.add_row(cls.type_name, ", ".join(cls.roles()), ", ".join(cls.actions),
                      cls.summary)
    console.print(table)


def _option_rows(spec: Any) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for o in spec:
        default = "" if not o.has_default or o.default is None else json.dumps(o.default)
        kind = o.type if o.type != "enum" else " | ".join(o.choices)
        flags = ("required " if o.required else "") + ("secret" if o.secret else "")
        rows.append((o.name, kind, default, flags.strip(), o.description))
    return rows


def print_connector(cls: type[Connector], console: Console) -> None:
    console.print(f"[bold]{cls.type_name}[/] — {cls.summary}")
    console.print(f"roles: {', '.join(cls.roles())}")
    caps = cls.capabilities
    console.print("capabilities: " + ", ".join(
        f"{k}={v}" for k, v in vars(caps).items() if v not in (False, None)) or "none")
    sections = [("connection options", cls.spec)]
    if "source" in cls.roles():
        sections.append(("source options", cls.source_options))
    if "lookup" in cls.roles():
        sections.append(("lookup options", cls.lookup_options))
    for name, action in cls.actions.items():
        sections.append((f"action {name}: {action.description}", action.options))
    for title, spec in sections:
        rows = _option_rows(spec)
        console.print(f"\n[bold]{title}[/]" + ("" if rows else ": none"))
        if rows:
            table = Table(box=None, pad_edge=False)
            for col in ("option", "type", "default", "", "description"):
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            console.print(table)
    for example in cls.examples:
        console.print(f"\n[bold]example[/]\n{example}", highlight=False)
