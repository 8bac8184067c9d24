"""The compiled, immutable form of a flow: what the engine runs.

Steps sit in a tuple in file order. A message moves from step ``i`` to
``successor[i]`` (the next step, unless ``i`` routes), or to the steps a route names.
The compiler proved the graph acyclic, so ``order`` — a topological order — lets the
engine push a whole batch through the graph step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrator.connectors.spec import Config

if TYPE_CHECKING:
    from integrator.connectors.base import Connector
    from integrator.flow.model import FlowModel
    from integrator.flow.problems import Problem
    from integrator.mapping.jmespath import Expression
    from integrator.steps.base import Step

__all__ = ["CompiledFlow", "ConnectionPlan", "LookupRef", "SinkPlan"]


@dataclass(frozen=True)
class ConnectionPlan:
    name: str
    connector: type[Connector]
    config: Config


@dataclass(frozen=True)
class SinkPlan:
    name: str
    connection: str
    action: str
    body: str
    options: Config
    concurrency: int
    batch_size: int
    on_error: str


@dataclass(frozen=True)
class LookupRef:
    """A lookup an enrich step uses; the engine opens one Lookup per distinct ref."""

    connection: str
    options: Config
    ref_id: str


@dataclass(frozen=True)
class CompiledFlow:
    model: FlowModel
    keys: tuple[tuple[str, Expression], ...]
    connections: dict[str, ConnectionPlan]
    source_connection: str
    source_options: Config
    steps: tuple[Step, ...]
    successor: tuple[int | None, ...]
    order: tuple[int, ...]
    sinks: dict[str, SinkPlan]
    lookups: tuple[LookupRef, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.model.meta.name

    @property
    def version(self) -> str:
        return self.model.meta.version

    def edges(self) -> list[tuple[str, str, str]]:
        """(from, to, label) for ``integrator graph``: source, steps and sinks."""
        out: list[tuple[str, str, str]] = []
        first = f"step:{self.steps[0].name}" if self.steps else None
        if first:
            out.append((f"source:{self.source_connection}", first, ""))
        for i, step in enumerate(self.steps):
            node = f"step:{step.name}"
            nxt = self.successor[i]
            if nxt is not None:
                out.append((node, f"step:{self.steps[nxt].name}", ""))
            for target, label in _step_targets(step):
                if target in self.sinks:
                    out.append((node, f"sink:{target}", label))
                else:
                    out.append((node, f"step:{target}", label))
        return out


def _step_targets(step: Any) -> list[tuple[str, str]]:
    from integrator.steps.routing import DeliverStep, RouteStep

    out: list[tuple[str, str]] = []
    if isinstance(step, RouteStep):
        for cond, t in step.rules:
            label = cond.source if cond is not None else ""
            out.extend((n, label) for n in t.names)
        if step.otherwise is not None:
            out.extend((n, "otherwise") for n in step.otherwise.names)
    elif isinstance(step, DeliverStep):
        out.extend((n, "") for n in step.to.names)
    return out
