"""Progress while a flow runs: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from integrator.engine.runner import Engine

__all__ = ["watch_progress"]

PLAIN_INTERVAL = 2.0


def _counts(engine: Engine) -> str:
    r = engine.report
    return f"read {r.read:,} · done {r.completed:,} · failed {r.dead_lettered + r.failed:,}"


async def _rich(engine: Engine, console: Console) -> None:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(engine.flow.name, total=None, counts="", rate="")
        while True:
            prog = engine.source.progress() if engine.source is not None else None
            elapsed = max(time.perf_counter() - started, 1e-6)
            rate = f"{engine.report.read / elapsed:,.0f} msg/s"
            if prog is not None and prog.total:
                bar.update(task, total=prog.total, completed=prog.done, counts=_counts(engine),
                           rate=rate)
            else:
                bar.update(task, counts=_counts(engine), rate=rate)
            await asyncio.sleep(0.1)


async def _plain(engine: Engine) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(PLAIN_INTERVAL)
        elapsed = time.perf_counter() - started
        prog = engine.source.progress() if engine.source is not None else None
        pct = f" {100 * prog.done / prog.total:.0f}%" if prog and prog.total else ""
        print(f"{engine.flow.name}:{pct} {_counts(engine)} · "
              f"{engine.report.read / elapsed:,.0f} msg/s", file=sys.stderr, flush=True)


async def watch_progress(engine: Engine, console: Console) -> None:
    """Runs until cancelled; the caller cancels it when the engine finishes."""
    if console.is_terminal:
        await _rich(engine, console)
    else:
        await _plain(engine)
