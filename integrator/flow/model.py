"""The typed model of a flow file, built from validated YAML data.

The model is what a flow *says*; the compiler turns it into what a flow *does* (a step
graph). Every part keeps its ``path`` in the document, so later problems can point at
their ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ERROR_POLICIES",
    "ConnectionDef",
    "FlowMeta",
    "FlowModel",
    "Settings",
    "SinkDef",
    "SourceDef",
    "StepDef",
]

Path = tuple[str | int, ...]

ERROR_POLICIES = ("dead-letter", "skip", "fail")
STEP_COMMON_KEYS = ("id", "description", "on_error")


@dataclass(frozen=True)
class FlowMeta:
    name: str
    description: str = ""
    version: str = ""
    tags: tuple[str, ...] = ()
    owner: str = ""


@dataclass(frozen=True)
class Settings:
    on_error: str = "dead-letter"
    max_in_flight: int = 10_000
    batch_size: int = 500


@dataclass(frozen=True)
class ConnectionDef:
    name: str
    type: str
    config: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class SourceDef:
    connection: str
    options: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class StepDef:
    index: int
    kind: str
    config: Any
    path: Path
    id: str | None = None
    on_error: str | None = None
    description: str = ""

    @property
    def name(self) -> str:
        return self.id or f"{self.kind}#{self.index + 1}"


@dataclass(frozen=True)
class SinkDef:
    name: str
    connection: str
    action: str | None
    body: str
    options: dict[str, Any]
    path: Path
    concurrency: int = 1
    batch_size: int = 500
    on_error: str | None = None
    description: str = ""


@dataclass(frozen=True)
class FlowModel:
    file: str
    meta: FlowMeta
    settings: Settings
    keys: dict[str, str]
    connections: dict[str, ConnectionDef]
    source: SourceDef | None
    steps: list[StepDef]
    sinks: dict[str, SinkDef]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
