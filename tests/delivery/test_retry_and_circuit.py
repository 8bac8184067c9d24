"""Retry delays, giving up, and the circuit breaker's states."""

from __future__ import annotations

import itertools
import random

import pytest

from integrator.delivery.circuit import CircuitBreaker
from integrator.delivery.retry import RetryPolicy


def test_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(initial=1, multiplier=2, max_delay=10, jitter="none")
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_equal_jitter_gaps_never_shrink() -> None:
    policy = RetryPolicy(initial=1, multiplier=2, max_delay=1000)
    rng = random.Random(3)
    for _ in range(200):
        delays = [policy.delay(n, rng=rng) for n in range(1, 9)]
        assert all(b >= a for a, b in itertools.pairwise(delays))
        assert all(2 ** (n - 2) <= d <= 2 ** (n - 1) for n, d in enumerate(delays, 1))


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(initial=1, jitter="none")
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(1, retry_after=0.2) == 1


def test_giving_up_by_attempts_and_elapsed_time() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed=60)
    assert not policy.gives_up(2, first_at=0, next_at=10)
    assert policy.gives_up(3, first_at=0, next_at=10)
    assert policy.gives_up(1, first_at=0, next_at=61)


def test_policy_from_yaml_over_a_base() -> None:
    base = RetryPolicy.from_config({"max_attempts": 5, "initial": "500ms"})
    sink = RetryPolicy.from_config({"max_delay": "2m", "jitter": "full"}, base)
    assert (sink.max_attempts, sink.initial, sink.max_delay, sink.jitter) == (
        5, 0.5, 120.0, "full")
    with pytest.raises(ValueError, match="unknown retry option 'tries'"):
        RetryPolicy.from_config({"tries": 3})


def test_circuit_opens_probes_and_closes() -> None:
    now = [0.0]
    cb = CircuitBreaker("erp", failures=3, cooldown=10, clock=lambda: now[0])
    for _ in range(2):
        cb.failure()
    assert cb.state == "closed" and cb.allow()
    cb.failure()
    assert cb.state == "open" and not cb.allow() and cb.wait_time() == 10
    now[0] = 10.0
    assert cb.allow() and cb.state == "half-open"
    assert not cb.allow()  # one probe at a time
    cb.failure()
    assert cb.state == "open" and cb.opened_times == 2
    now[0] = 20.0
    assert cb.allow()
    cb.success()
    assert cb.state == "closed" and cb.allow() and cb.consecutive == 0
