"""What a run reports: counts per flow and per sink, and structured error records."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ErrorRecord", "RunReport", "SinkStats"]

MAX_KEPT_ERRORS = 100


@dataclass
class ErrorRecord:
    """One failure, with everything needed to answer "what happened to order 4711?"."""

    flow: str
    step: str
    message_id: str
    correlation_id: str
    keys: dict[str, Any]
    error_class: str
    error: str
    hint: str | None
    policy: str
    context: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SinkStats:
    """in: deliveries routed here; out: written; failed: write errors; dead_lettered."""

    name: str
    delivered_in: int = 0
    written: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"in": self.delivered_in, "out": self.written, "failed": self.failed,
                "dead_lettered": self.dead_lettered, "skipped": self.skipped}


@dataclass
class RunReport:
    """Counts of one run. ``status``: completed, failed (a fatal error or a step with
    ``on_error: fail``) or stopped (SIGINT/SIGTERM: the input was not read to its end)."""

    flow: str
    status: str = "running"
    read: int = 0
    completed: int = 0
    filtered: int = 0
    unrouted: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    acked: int = 0
    seconds: float = 0.0
    sinks: dict[str, SinkStats] = field(default_factory=dict)
    errors: list[ErrorRecord] = field(default_factory=list)
    errors_by_class: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    dead_letter_path: str | None = None
    dry_run: bool = False
    samples: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.failed == 0 and self.dead_lettered == 0

    def record(self, error: ErrorRecord) -> None:
        self.errors_by_class[error.error_class] = (
            self.errors_by_class.get(error.error_class, 0) + 1)
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "status": self.status, "read": self.read,
            "completed": self.completed, "filtered": self.filtered,
            "unrouted": self.unrouted, "failed": self.failed,
            "dead_lettered": self.dead_lettered, "skipped": self.skipped,
            "acked": self.acked, "seconds": round(self.seconds, 4),
            "rate": round(self.rate, 1), "fatal": self.fatal,
            "dead_letter_path": self.dead_letter_path, "dry_run": self.dry_run,
            "sinks": {n: s.as_dict() for n, s in self.sinks.items()},
            "errors_by_class": self.errors_by_class,
            "errors": [e.as_dict() for e in self.errors],
            **({"samples": self.samples} if self.dry_run else {}),
        }
