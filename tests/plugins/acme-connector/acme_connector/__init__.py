"""The ``acme`` connector: the Acme ledger, a journal file of posted entries.

Datasheet
    roles       source (entries after the last acknowledged one), sink (action ``post``),
                lookup (entries by a field of their payload)
    storage     one JSON line per entry: ``{"seq": 1, "currency": "EUR", "entry": {...}}``
    guarantees  the source resumes after the last contiguous acknowledged entry, kept in
                the connection's state; the sink appends and fsyncs each batch

A plugin needs nothing from integrator but its public contracts: ``Connector`` and the
roles, ``ConfigSpec``/``Option``, the errors, and an entry point in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Delivery,
    Lookup,
    Record,
    Sink,
    Source,
)
from integrator.connectors.spec import Config, ConfigSpec, Option
from integrator.errors import DecodeError, FatalError, IntegratorError, RejectedError

__all__ = ["AcmeConnector"]


def _entries(path: Path, where: str) -> list[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FatalError(f"{where}: cannot read {path}: {exc.strerror}") from None
    return [json.loads(line) for line in lines if line.strip()]


class _LedgerSource(Source):
    def __init__(self, connector: AcmeConnector, follow: bool) -> None:
        self.c = connector
        self.follow = follow
        self.start = 0
        self.acked: set[int] = set()
        self._stopped = False

    async def open(self) -> None:
        self.start = int(await self.c.state.get("offset", 0))

    async def batches(self) -> AsyncIterator[list[Record]]:
        position = self.start
        while not self._stopped:
            entries = _entries(self.c.path, self.c.where)[position:]
            if entries:
                out = []
                for i, e in enumerate(entries, start=position):
                    if isinstance(e.get("entry"), dict):
                        out.append(Record(e["entry"], {"seq": e.get("seq"), "line": i + 1}, i))
                    else:
                        out.append(Record(None, {"line": i + 1}, i, DecodeError(
                            f"{self.c.where}: line {i + 1} holds no entry object")))
                position += len(entries)
                yield out
            elif not self.follow:
                return
            else:
                await asyncio.sleep(0.05)

    async def ack(self, tokens: Sequence[Any]) -> None:
        self.acked.update(tokens)
        offset = self.start
        while offset in self.acked:
            self.acked.discard(offset)
            offset += 1
        if offset != self.start:
            self.start = offset
            await self.c.state.put("offset", offset)

    def stop(self) -> None:
        self._stopped = True


class _LedgerSink(Sink):
    def __init__(self, connector: AcmeConnector, memo: str | None) -> None:
        self.c = connector
        self.memo = memo

    async def write_batch(self, deliveries: Sequence[Delivery]
                          ) -> list[IntegratorError | None] | None:
        seq = len(_entries(self.c.path, self.c.where))
        lines: list[bytes] = []
        results: list[IntegratorError | None] = []
        for d in deliveries:
            if not isinstance(d.payload, dict):
                results.append(RejectedError(
                    f"{self.c.where}: Acme posts objects, got {type(d.payload).__name__}",
                    hint="map the payload to an object"))
                continue
            seq += 1
            entry: dict[str, Any] = {"seq": seq, "currency": self.c.config.currency,
                                     "entry": d.payload}
            if self.memo:
                entry["memo"] = self.memo
            lines.append(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
            results.append(None)
        self.c.path.parent.mkdir(parents=True, exist_ok=True)
        with self.c.path.open("ab") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
        return results


class _LedgerLookup(Lookup):
    def __init__(self, connector: AcmeConnector, key: str) -> None:
        self.c = connector
        self.key = key

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        index = {e["entry"].get(self.key): e["entry"]
                 for e in _entries(self.c.path, self.c.where) if isinstance(e.get("entry"), dict)}
        return {k: index[k] for k in keys if k in index}


class AcmeConnector(Connector):
    """The Acme ledger as source, sink (``post``) and lookup."""

    type_name = "acme"
    summary = "Acme ledger: post entries, read them back, look them up (a plugin)."
    spec = ConfigSpec((
        Option("ledger", "path", "The ledger's journal file.", required=True,
               examples=("acme/ledger.jsonl",)),
        Option("currency", "enum", "The book currency of posted entries.",
               choices=("EUR", "PLN", "USD"), default="EUR", examples=("PLN",)),
    ))
    source_options = ConfigSpec((
        Option("follow", "boolean", "Keep reading new entries until stopped.",
               default=False, examples=(True,)),
    ))
    lookup_options = ConfigSpec((
        Option("key", "string", "The entry field lookups match.", required=True,
               examples=("id",)),
    ))
    actions = {
        "post": Action("Append each payload to the ledger as an entry.", ConfigSpec((
            Option("memo", "string", "A memo stored with each entry.", default=None),
        ))),
    }
    default_action = "post"
    capabilities = Capabilities(batching=True, ordering=True)
    examples = ("connections:\n  ledger:\n    type: acme\n    ledger: acme/ledger.jsonl\n",)

    @property
    def where(self) -> str:
        return f"connection {self.name!r} (acme)"

    @property
    def path(self) -> Path:
        p = Path(self.config.ledger)
        return p if p.is_absolute() else Path(self.runtime.workdir) / p

    async def check(self) -> CheckResult:
        folder = self.path.parent
        if folder.is_dir() and os.access(folder, os.W_OK):
            return CheckResult("ok", f"ledger {self.path}")
        return CheckResult("misconfigured", f"{folder} is not a writable folder")

    def source(self, options: Config) -> Source:
        return _LedgerSource(self, bool(options.get("follow")))

    def sink(self, action: str, options: Config) -> Sink:
        return _LedgerSink(self, options.get("memo"))

    def lookup(self, options: Config) -> Lookup:
        return _LedgerLookup(self, options["key"])
