"""What the broker tests share: reaching the machine's real services, building connectors
and deliveries, reading a source to its end, and running a flow through the engine.

Not a conftest: pytest imports every folder's conftest as the module ``conftest``, so a
second one would shadow the root conftest that other tests import from.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from integrator.compiler import CompiledFlow, check_text
from integrator.connectors.base import Connector, Delivery, Record, Runtime, Source
from integrator.connectors.builtin.memory import MemoryHub
from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions
from integrator.flow.loader import LoadOptions
from integrator.flow.problems import format_text
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor

REPO = Path(__file__).resolve().parents[3]


def require(service: str, port: int) -> None:
    """Skip when ``service`` is not listening on 127.0.0.1:``port`` — or fail, in CI."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return
    except OSError:
        pass
    message = f"{service} not reachable on 127.0.0.1:{port}"
    if (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("INTEGRATOR_REQUIRE_SERVICES") == "1"):
        pytest.fail(message + " (CI=true / INTEGRATOR_REQUIRE_SERVICES=1: services are required)")
    pytest.skip(message)


def suffix() -> str:
    return secrets.token_hex(4)


def runtime(tmp_path: Path, flow: str = "broker-test") -> Runtime:
    return Runtime(flow=flow, workdir=tmp_path, state_dir=tmp_path / ".state",
                   redactor=Redactor())


def make(cls: type[Connector], raw: dict[str, Any], tmp_path: Path,
         name: str = "broker") -> Any:
    """A connector of ``cls`` with ``raw`` options parsed by its own spec."""
    config = cls.spec.parse(raw, f"connection {name!r}")
    return cls(name, config, runtime(tmp_path))


def source_of(conn: Connector, **options: Any) -> Any:
    return conn.source(type(conn).source_options.parse(options, "source"))


def sink_of(conn: Connector, action: str | None = None, **options: Any) -> Any:
    cls = type(conn)
    action = action or cls.default_action
    assert action is not None
    return conn.sink(action, cls.actions[action].options.parse(options, "sink"))


def deliveries(payloads: Sequence[Any], bodies: Sequence[Any] | None = None) -> list[Delivery]:
    """Deliveries of ``payloads``; the messages' bodies are ``bodies`` (or the payloads)."""
    ids = IdFactory()
    bodies = bodies if bodies is not None else payloads
    return [Delivery(p, Message(b, ids)) for p, b in zip(payloads, bodies, strict=True)]


async def read_all(source: Source, *, limit: int | None = None,
                   ack: bool = True) -> list[Record]:
    """Every record the (non-following) source yields; acks each batch when ``ack``.

    With ``limit``, stops once that many records arrived (without waiting for the end).
    """
    out: list[Record] = []
    async for batch in source.batches():
        out.extend(batch)
        if ack:
            await source.ack([r.ack for r in batch])
        if limit is not None and len(out) >= limit:
            source.stop()
            break
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def compile_flow(text: str, workdir: Path = REPO) -> CompiledFlow:
    text = textwrap.dedent(text)
    compiled, diag = check_text(text, "flow.yaml", options=LoadOptions(env={}),
                                workdir=workdir)
    errors = [p for p in diag.problems if p.is_error]
    if compiled is None or errors:
        pytest.fail("flow has problems:\n" + format_text(errors, {"flow.yaml": text}))
    return compiled


def run_flow(text: str, tmp_path: Path) -> tuple[RunReport, MemoryHub, MemoryDeadLetters]:
    """Compile and run a flow through the real engine; returns report, hub, dead letters."""
    compiled = compile_flow(text)
    hub = MemoryHub()
    dead = MemoryDeadLetters()
    engine = Engine(compiled, RunOptions(workdir=tmp_path), resources={"memory": hub},
                    dead_letters=dead)
    report = asyncio.run(engine.run())
    return report, hub, dead
