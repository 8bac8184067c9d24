"""Circuit breaker, one per connection: stop hammering a peer that is down.

``closed`` (normal) → after ``failures`` consecutive failed writes → ``open``: nothing is
sent, deliveries wait in their queue and spend no attempts → after ``cooldown`` →
``half-open``: one probe batch goes out; success closes the circuit, failure opens it
again for another cooldown.

Only temporary failures of the peer count (timeouts, 5xx, connection refused); a
permanent refusal of one message (4xx) means the peer is up and resets the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CIRCUIT_SCHEMA", "CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

CIRCUIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Circuit breaker of this connection's sinks.",
    "properties": {
        "failures": {"type": "integer", "minimum": 1, "default": 5,
                     "description": "Consecutive failed writes that open the circuit."},
        "cooldown": {"description": "How long it stays open before a probe, e.g. 30s.",
                     "default": "30s", "anyOf": [{"type": "number", "minimum": 0},
                                                 {"type": "string"}]},
    },
    "additionalProperties": False,
}


@dataclass
class CircuitBreaker:
    name: str
    failures: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: str = CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    opened_times: int = 0
    _probing: bool = False

    def allow(self) -> bool:
        """May a write go out now? In half-open, only one probe at a time."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self.clock() - self.opened_at < self.cooldown:
                return False
            self.state = HALF_OPEN
        if self._probing:
            return False
        self._probing = True
        return True

    def wait_time(self) -> float:
        """Seconds until a write may be tried (0 when it may go now)."""
        if self.state == OPEN:
            return max(0.0, self.cooldown - (self.clock() - self.opened_at))
        return 0.0

    def success(self) -> None:
        self.state = CLOSED
        self.consecutive = 0
        self._probing = False

    def failure(self) -> None:
        self._probing = False
        self.consecutive += 1
        if self.state == HALF_OPEN or self.consecutive >= self.failures:
            if self.state != OPEN:
                self.opened_times += 1
            self.state = OPEN
            self.opened_at = self.clock()

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "consecutive_failures": self.consecutive,
                "opened_times": self.opened_times,
                "retry_in": round(self.wait_time(), 3)}
