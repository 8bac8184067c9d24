"""Shared test helpers: compile a flow from text, run it on the memory connector.

Import them as ``from support import ...``: a uniquely named module, because every
folder's ``conftest.py`` is imported under the same name ``conftest``.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integrator.compiler import CompiledFlow, check_text
from integrator.connectors.builtin.memory import MemoryHub
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions
from integrator.flow.loader import LoadOptions
from integrator.flow.problems import Problem, format_text

REPO = Path(__file__).resolve().parents[1]


def shared_path(*parts: str) -> Path:
    """A path under the workplace's ``shared/`` folder (specs, conformance suites).

    ``$INTEGRATOR_SHARED_DIR`` wins; otherwise the first ``shared/`` next to this
    checkout or one of its parents, then ``/work/shared`` (where CI's clone may not be a
    sibling of it). Returns the first candidate when none exists, for the skip message.
    """
    env = os.environ.get("INTEGRATOR_SHARED_DIR")
    candidates = [Path(env)] if env else []
    candidates += [parent / "shared" for parent in REPO.parents]
    candidates.append(Path("/work/shared"))
    for base in candidates:
        if (base / Path(*parts)).exists():
            return base / Path(*parts)
    return candidates[0] / Path(*parts)


def compile_flow(text: str, workdir: Path | None = None,
                 env: dict[str, str] | None = None) -> CompiledFlow:
    """Compile flow text; fail the test with the formatted problems if it has errors."""
    text = textwrap.dedent(text)
    compiled, diag = check_text(text, "flow.yaml", options=LoadOptions(env=env or {}),
                                workdir=workdir or REPO)
    errors = [p for p in diag.problems if p.is_error]
    if compiled is None or errors:
        pytest.fail("flow has problems:\n" + format_text(errors, {"flow.yaml": text}))
    return compiled


def problems_of(text: str, env: dict[str, str] | None = None,
                workdir: Path | None = None) -> list[Problem]:
    text = textwrap.dedent(text)
    _, diag = check_text(text, "flow.yaml", options=LoadOptions(env=env or {}),
                         workdir=workdir or REPO)
    return diag.problems


@dataclass
class Outcome:
    report: RunReport
    hub: MemoryHub
    dead: MemoryDeadLetters
    engine: Engine

    def channel(self, name: str) -> list[Any]:
        return self.hub.channels.get(name, [])


def run_flow(text: str, tmp_path: Path, *, hub: MemoryHub | None = None,
             **options: Any) -> Outcome:
    compiled = compile_flow(text, workdir=options.pop("workdir", REPO))
    hub = hub or MemoryHub()
    dead = MemoryDeadLetters()
    engine = Engine(compiled, RunOptions(workdir=tmp_path, **options),
                    resources={"memory": hub}, dead_letters=dead)
    report = asyncio.run(engine.run())
    return Outcome(report, hub, dead, engine)
