"""Secrets are a type: a ``Secret`` never shows its value in ``repr``, ``str`` or f-strings.

Connectors call :meth:`Secret.reveal` at the last moment (when building a request). Every
revealed value is registered with the run's :class:`Redactor`, the one place where log
lines, error records and dead letters are scrubbed before they leave the process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "Redactor", "Secret"]

MASK = "********"


class Secret:
    """A resolved secret value. ``name`` says where it came from (``${secret:NAME}``)."""

    __slots__ = ("_redactor", "_value", "name")

    def __init__(self, value: str, name: str, redactor: Redactor | None = None) -> None:
        self._value = value
        self.name = name
        self._redactor = redactor
        if redactor is not None:
            redactor.register(value)

    def reveal(self) -> str:
        """The plain value, for the moment it is put on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self.name))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled or copied out of the process")


class Redactor:
    """Replaces every registered secret value in text with ``********``.

    Values shorter than 4 characters are not registered: masking "1" everywhere would
    corrupt numbers in logs while protecting nothing.
    """

    MIN_LENGTH = 4

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for v in values:
            self.register(v)

    def register(self, value: str) -> None:
        if len(value) < self.MIN_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

    def scrub(self, value: Any) -> Any:
        """Redact strings anywhere inside a JSON-like value (dicts, lists, scalars)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value
