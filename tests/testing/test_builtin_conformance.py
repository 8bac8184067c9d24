"""The built-in ``file`` and ``memory`` connectors pass the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from integrator.connectors.builtin.memory import MemoryHub
from integrator.testing import ConnectorConformance, Peer

NO_RESUME = ("the {kind} source does not persist its committed position: a reopen reads "
             "everything again (at-least-once holds; acknowledged records come again)")


class JsonlFilePeer(Peer):
    """One JSONL file: the source reads it, the sink writes it, the lookup indexes it."""

    def __init__(self, path: Path) -> None:
        super().__init__({"path": str(path), "format": "jsonl"},
                         lookup_options={"key": "id"}, meta_keys=("file", "line"),
                         bad_payload={"id": "bad", "not_json": {1, 2}})
        self.path = path
        path.touch()  # a source needs its file to exist, even when nothing was seeded

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        with self.path.open("ab") as f:
            f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))

    async def written(self) -> list[Any]:
        return [orjson.loads(line) for line in self.path.read_bytes().splitlines() if line]


class TestFileConformance(ConnectorConformance):
    connector_type = "file"
    roles = ("source", "sink", "lookup")
    replayable = True
    not_applicable = {
        "test_source_ack_then_reopen_is_not_redelivered": NO_RESUME.format(kind="file"),
        "test_source_partial_ack_resumes_after_the_acked": NO_RESUME.format(kind="file"),
    }

    async def start_peer(self, tmp_path: Path) -> Peer:
        return JsonlFilePeer(tmp_path / "data.jsonl")


class MemoryPeer(Peer):
    """The memory connector's hub: seeded records are the connection's ``records``."""

    def __init__(self) -> None:
        self.hub = MemoryHub()
        self.records: list[dict[str, Any]] = []
        super().__init__({"channel": "conformance", "records": self.records},
                         sink_options={"reject_when": "reject"},
                         lookup_options={"key": "id"}, meta_keys=("channel", "index"),
                         resources={"memory": self.hub},
                         bad_payload={"id": "bad", "reject": True})

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.records.extend(dict(r) for r in records)

    async def written(self) -> list[Any]:
        return list(self.hub.channel("conformance"))


class TestMemoryConformance(ConnectorConformance):
    connector_type = "memory"
    roles = ("source", "sink", "lookup")
    replayable = True
    not_applicable = {
        "test_source_ack_then_reopen_is_not_redelivered": NO_RESUME.format(kind="memory"),
        "test_source_partial_ack_resumes_after_the_acked": NO_RESUME.format(kind="memory"),
    }

    async def start_peer(self, tmp_path: Path) -> Peer:
        return MemoryPeer()
