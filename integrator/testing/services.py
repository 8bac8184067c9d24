"""Tests that need a machine service (PostgreSQL, RabbitMQ ...): skip or fail, by rule.

Where the service does not answer, :func:`require_service` skips the test with a message
naming it — except when ``CI=true`` or ``INTEGRATOR_REQUIRE_SERVICES=1``: then a missing
service fails the test, never a silent skip.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["require_service", "services_required"]


def services_required() -> bool:
    """True when a missing service must fail the test (CI, or asked for)."""
    return (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("INTEGRATOR_REQUIRE_SERVICES", "") == "1")


def require_service(name: str, host: str = "127.0.0.1", port: int = 0, *,
                    timeout: float = 2.0) -> None:
    """Return when ``host:port`` accepts a TCP connection; otherwise skip (or fail)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = f"{name} not reachable on {host}:{port} ({exc.strerror or exc})"
    if services_required():
        pytest.fail(f"{reason}; CI=true or INTEGRATOR_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)
