"""Dead letters: messages that failed, kept with everything needed to fix and replay them.

A :class:`DeadLetter` holds the error record (flow, step, message id, business keys,
error class and message), the original payload, the payload at the failing step, the
attempt count and the flow version. Every text in it passes the run's redactor first.

This module offers the interface and two stores: JSON Lines in the state folder (the
embedded default for now) and memory (tests). The durable store with replay replaces the
JSON Lines file without touching the engine.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from integrator.engine.report import ErrorRecord
from integrator.errors import FatalError
from integrator.security.secrets import Redactor

__all__ = ["DeadLetter", "DeadLetterStore", "JsonlDeadLetters", "MemoryDeadLetters"]


@dataclass
class DeadLetter:
    record: ErrorRecord
    original: Any
    payload: Any
    attempts: int
    flow_version: str

    def as_dict(self, redactor: Redactor) -> dict[str, Any]:
        letter: dict[str, Any] = redactor.scrub({
            **self.record.as_dict(),
            "flow_version": self.flow_version,
            "attempts": self.attempts,
            "original": self.original,
            "payload": self.payload,
        })
        return letter


class DeadLetterStore:
    """Where dead letters go. ``put`` must not lose a letter once it returns."""

    location: str = ""

    async def open(self) -> None:
        return None

    async def put(self, letters: list[DeadLetter]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class MemoryDeadLetters(DeadLetterStore):
    location = "memory"

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()
        self.letters: list[dict[str, Any]] = []

    async def put(self, letters: list[DeadLetter]) -> None:
        self.letters.extend(letter.as_dict(self.redactor) for letter in letters)


def _default(value: Any) -> Any:
    return repr(value)


class JsonlDeadLetters(DeadLetterStore):
    """Appends one JSON object per dead letter to ``path``; fsyncs on close."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.location = str(path)
        self.redactor = redactor
        self._file: Any = None

    async def open(self) -> None:
        """Opens the file; ``put`` calls it on first use, so a clean run leaves no file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        except OSError as exc:
            raise FatalError(f"cannot open the dead-letter file {self.path}: "
                             f"{exc.strerror}") from exc

    async def put(self, letters: list[DeadLetter]) -> None:
        if self._file is None:
            await self.open()
        data = b"".join(
            orjson.dumps(letter.as_dict(self.redactor), default=_default) + b"\n"
            for letter in letters
        )
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise FatalError(f"cannot write dead letters to {self.path}: "
                             f"{exc.strerror}") from exc

    async def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        await asyncio.to_thread(os.fsync, file.fileno())
        file.close()
