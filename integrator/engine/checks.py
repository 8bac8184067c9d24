"""``integrator check``: ask every connection of a flow whether it can work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from integrator.compiler.graph import CompiledFlow
from integrator.connectors.base import CheckResult, Connector, Runtime
from integrator.errors import IntegratorError
from integrator.security.secrets import Redactor

__all__ = ["check_connections"]


async def _one(conn: Connector, timeout: float, redactor: Redactor) -> CheckResult:
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(conn.check(), timeout)
    except TimeoutError:
        result = CheckResult("unreachable", f"no answer within {timeout:g}s")
    except IntegratorError as exc:
        result = CheckResult("error", redactor(str(exc)))
    took = time.perf_counter() - started
    return CheckResult(result.status, redactor(result.detail), round(took, 3))


async def check_connections(flow: CompiledFlow, *, timeout: float = 10.0,
                            workdir: Path | None = None,
                            redactor: Redactor | None = None
                            ) -> dict[str, tuple[str, CheckResult]]:
    """Connection name → (connector type, result), checked concurrently."""
    redactor = redactor or Redactor()
    workdir = workdir or Path.cwd()
    runtime = Runtime(flow=flow.name, workdir=workdir,
                      state_dir=workdir / ".integrator", redactor=redactor)
    plans = list(flow.connections.values())
    connectors = [p.connector(p.name, p.config, runtime) for p in plans]
    results = await asyncio.gather(*(_one(c, timeout, redactor) for c in connectors))
    return {p.name: (p.connector.type_name, r) for p, r in zip(plans, results, strict=True)}
