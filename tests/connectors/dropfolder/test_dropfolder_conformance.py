"""The drop-folder source passes the connector conformance suite."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from integrator.testing import ConnectorConformance, Peer


class DropFolderPeer(Peer):
    """A folder; every ``seed`` drops one more file, renamed into place when complete."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__({"path": str(folder), "pattern": "*.jsonl", "stable_for": 0,
                          "poll_interval": "50ms"},
                         source_options={"follow": False}, meta_keys=("file", "line"))
        self.folder = folder
        self.files = 0

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.files += 1
        name = f"seed-{self.files:04}.jsonl"
        tmp = self.folder / f".{name}.part"
        tmp.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        os.rename(tmp, self.folder / name)


class TestDropFolderConformance(ConnectorConformance):
    connector_type = "dropfolder"
    roles = ("source",)
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        return DropFolderPeer(tmp_path / "inbox")


class TestDropFolderFollowConformance(ConnectorConformance):
    """The same contract while following the folder (serve mode)."""

    connector_type = "dropfolder"
    roles = ("source",)
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        peer = DropFolderPeer(tmp_path / "inbox")
        peer.source_options["follow"] = True
        return peer
