"""Retry policy: when to try a failed delivery again, and when to give up.

The one place where retries are decided (connectors never retry on their own). A
delivery that failed with a :class:`~integrator.errors.RetriableError` is tried again
after a delay that grows exponentially with jitter, honouring the peer's
``Retry-After``; it is given up (dead-lettered) after ``max_attempts`` attempts or when
``max_elapsed`` has passed since its first attempt.

Jitter ``equal`` (the default) waits between half and all of the exponential delay, so
the gaps grow from one attempt to the next while retries of many deliveries spread out;
``full`` waits anywhere from zero to the delay (most spread, gaps may shrink); ``none``
waits exactly the delay.

In a flow::

    settings:
      retry: {max_attempts: 8, initial: 1s, multiplier: 2, max_delay: 5m, max_elapsed: 1h}
    sinks:
      erp: {connection: erp, retry: {max_attempts: 20}}   # merged over the flow's
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from integrator.connectors.spec import parse_duration

__all__ = ["RETRY_SCHEMA", "RetryPolicy"]

JITTERS = ("equal", "full", "none")

RETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Retries of temporary failures (5xx, 429, timeouts, connection errors) "
                   "with exponential backoff and jitter; Retry-After is honoured.",
    "properties": {
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10,
                         "description": "Attempts in all, the first included."},
        "initial": {"description": "Delay before the second attempt, e.g. 1s.",
                    "default": "1s", "anyOf": [{"type": "number", "minimum": 0},
                                               {"type": "string"}]},
        "multiplier": {"type": "number", "minimum": 1, "maximum": 10, "default": 2},
        "max_delay": {"description": "The longest delay between two attempts.",
                      "default": "5m", "anyOf": [{"type": "number", "minimum": 0},
                                                 {"type": "string"}]},
        "max_elapsed": {"description": "Give up this long after the first attempt.",
                        "default": "24h", "anyOf": [{"type": "number", "minimum": 0},
                                                    {"type": "string"}]},
        "jitter": {"enum": list(JITTERS), "default": "equal"},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    initial: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 300.0
    max_elapsed: float = 86_400.0
    jitter: str = "equal"

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None,
                    base: RetryPolicy | None = None) -> RetryPolicy:
        """A policy from a YAML block, over ``base`` (the flow's) or the defaults.

        Raises ValueError naming the option when a value is unusable.
        """
        policy = base or cls()
        if not raw:
            return policy
        known = {f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise ValueError(f"unknown retry option {key!r}")
            if key in ("initial", "max_delay", "max_elapsed"):
                changes[key] = parse_duration(value)
            elif key == "jitter":
                if value not in JITTERS:
                    raise ValueError(f"jitter must be one of {', '.join(JITTERS)}")
                changes[key] = value
            elif key == "max_attempts":
                changes[key] = int(value)
            else:
                changes[key] = float(value)
        return replace(policy, **changes)

    def delay(self, failures: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1 for the first)."""
        base = min(self.max_delay, self.initial * self.multiplier ** max(failures - 1, 0))
        draw = (rng or random).random()
        if self.jitter == "equal":
            wait = base / 2 + draw * base / 2
        elif self.jitter == "full":
            wait = draw * base
        else:
            wait = base
        if retry_after is not None:
            wait = max(wait, retry_after)  # the peer knows best when it will be back
        return wait

    def gives_up(self, attempts: int, first_at: float, next_at: float) -> bool:
        """True when a delivery that failed ``attempts`` times must not be tried again
        at ``next_at`` (out of attempts, or past ``max_elapsed`` since ``first_at``)."""
        return attempts >= self.max_attempts or next_at - first_at > self.max_elapsed
