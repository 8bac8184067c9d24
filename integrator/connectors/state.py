"""Small persistent state for connectors: watermarks, cursors, tokens' expiry.

A polling source remembers how far it got (``updated_at`` of the last acknowledged row,
an API cursor) between runs. It reads and writes that through ``Runtime.state``, a
:class:`StateStore`, under keys it chooses; the engine gives each connection its own
namespace, so two connections never see each other's keys.

The embedded store is a JSON file per flow in the state folder, replaced atomically
(temporary file, fsync, rename) on every save — a crash leaves the old or the new
state, never half of one. The durable store of the delivery layer can take its place.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from integrator.errors import FatalError

__all__ = ["JsonStateStore", "MemoryStateStore", "StateStore"]


class StateStore:
    """Get and put JSON values by key. ``put`` returns when the value is durable."""

    async def get(self, key: str, default: Any = None) -> Any:
        raise NotImplementedError

    async def put(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def scoped(self, prefix: str) -> StateStore:
        """A view whose keys are ``prefix + "/" + key`` in this store."""
        return _Scoped(self, prefix)


class _Scoped(StateStore):
    def __init__(self, inner: StateStore, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix

    async def get(self, key: str, default: Any = None) -> Any:
        return await self._inner.get(f"{self._prefix}/{key}", default)

    async def put(self, key: str, value: Any) -> None:
        await self._inner.put(f"{self._prefix}/{key}", value)


class MemoryStateStore(StateStore):
    """State in a dict: for tests, and for runs that must not touch the disk."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    async def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def put(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # only JSON survives a restart


class JsonStateStore(StateStore):
    """All keys of one flow in one JSON file, rewritten atomically on each ``put``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            try:
                self._values = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                self._values = {}
            except (OSError, ValueError) as exc:
                raise FatalError(
                    f"cannot read connector state {self.path}: {exc}",
                    hint="restore it from a backup, or delete it to start from scratch "
                         "(polling sources then read everything again)",
                ) from exc
            if not isinstance(self._values, dict):
                raise FatalError(f"connector state {self.path} is not a JSON object")
        return self._values

    async def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    async def put(self, key: str, value: Any) -> None:
        async with self._lock:
            values = dict(self._load())
            values[key] = value
            text = json.dumps(values, indent=1, sort_keys=True, ensure_ascii=False)
            await asyncio.to_thread(self._write, text)
            self._values = values

    def _write(self, text: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with tmp.open("w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise FatalError(f"cannot save connector state to {self.path}: "
                             f"{exc.strerror}") from exc
