"""The plugin's own test file: the whole conformance suite in a dozen lines.

In the plugin's repository this is ``tests/test_acme_conformance.py`` and runs wherever
``acme-connector`` is installed (``pip install -e .``); ``connector_type`` is found
through the entry point. In integrator's own run, tests/plugins/test_plugin_loading.py
imports the class below, so pytest runs it there with the plugin installed; the file is
named so that pytest does not also collect it on its own, without the plugin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from integrator.testing import ConnectorConformance, Peer


class LedgerPeer(Peer):
    def __init__(self, ledger: Path) -> None:
        super().__init__({"ledger": str(ledger)}, lookup_options={"key": "id"},
                         meta_keys=("seq", "line"), bad_payload=["not", "an", "object"])
        self.ledger = ledger

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        with self.ledger.open("a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps({"seq": 0, "currency": "EUR", "entry": dict(r)}) + "\n")

    async def written(self) -> list[Any]:
        lines = self.ledger.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["entry"] for line in lines if line]


class TestAcmeConformance(ConnectorConformance):
    connector_type = "acme"
    roles = ("source", "sink", "lookup")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        return LedgerPeer(tmp_path / "ledger.jsonl")
