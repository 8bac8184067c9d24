"""Compile flow files into step graphs: ``load_flow`` for running, ``check_text`` for lint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from integrator.compiler.compile import Compiler
from integrator.compiler.graph import CompiledFlow
from integrator.connectors.registry import Registry, default_registry
from integrator.errors import FatalError, FlowError
from integrator.flow.loader import Diagnostics, LoadOptions, load_model
from integrator.flow.problems import sort_problems
from integrator.flow.references import SecretStore
from integrator.flow.schema import flow_schema
from integrator.flow.validation import SchemaChecker
from integrator.security.secrets import Redactor

__all__ = ["CompiledFlow", "check_text", "load_flow"]

_checkers: dict[int, SchemaChecker] = {}


def _checker(registry: Registry) -> SchemaChecker:
    key = id(registry)
    checker = _checkers.get(key)
    if checker is None:
        checker = _checkers[key] = SchemaChecker(flow_schema(registry))
    return checker


def check_text(text: str, file: str, *, options: LoadOptions | None = None,
               registry: Registry | None = None,
               workdir: Path | None = None) -> tuple[CompiledFlow | None, Diagnostics]:
    """Load and compile one flow; every problem is in the returned Diagnostics."""
    registry = registry or default_registry()
    options = options or LoadOptions()
    checker = _checker(registry)
    model, diag = load_model(text, file, checker, options)
    if model is None:
        return None, diag
    compiled = Compiler(model, diag, registry, checker, workdir or Path.cwd()).compile()
    diag.problems = sort_problems(diag.problems)
    return compiled, diag


def load_flow(path: str | Path, *, env: Mapping[str, str] | None = None,
              secrets: SecretStore | None = None, registry: Registry | None = None,
              workdir: Path | None = None, redactor: Redactor | None = None) -> CompiledFlow:
    """Load, check and compile a flow file for running; FlowError lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FatalError(f"cannot read flow {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise FatalError(f"flow {path} is not UTF-8 text: {exc.reason} at byte "
                         f"{exc.start}") from exc
    env = dict(os.environ) if env is None else env
    options = LoadOptions(env=env, secrets=secrets or SecretStore(env=env),
                          redactor=redactor or Redactor())
    compiled, diag = check_text(text, str(path), options=options, registry=registry,
                                workdir=workdir)
    errors = [p for p in diag.problems if p.is_error]
    if compiled is None or errors:
        raise FlowError(f"{path}: {len(errors)} problem(s) in the flow", errors)
    return compiled
