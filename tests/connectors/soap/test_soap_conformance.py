"""The soap connector against the shared connector conformance suite (sink and lookup),
with a spyne service as the peer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soap_peers import WsgiServer, record_service

from integrator.testing import ConnectorConformance, Peer


class SpynePeer(Peer):
    """A spyne record service; the suite's records are its ``put`` / ``get`` arguments."""

    def __init__(self, server: WsgiServer, records: list[dict[str, Any]]) -> None:
        super().__init__(
            {"wsdl": f"{server.url}/?wsdl", "timeout": "5s"},
            sink_action="call", sink_options={"operation": "put"},
            lookup_options={"operation": "get", "key_argument": "id"}, lookup_key="id",
            bad_payload={"id": "bad", "n": -1, "name": "x", "paid": False})
        self.server = server
        self.records = records

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.records.extend(dict(r) for r in records)

    async def written(self) -> list[Any]:
        return list(self.records)

    async def restart(self) -> None:
        await asyncio.to_thread(self.server.restart)

    async def close(self) -> None:
        await asyncio.to_thread(self.server.stop)


class TestSoapConformance(ConnectorConformance):
    connector_type = "soap"
    roles = ("sink", "lookup")
    timeout = 30.0

    async def start_peer(self, tmp_path: Path) -> Peer:
        records: list[dict[str, Any]] = []
        server = WsgiServer(record_service(records))
        await asyncio.to_thread(server.start)
        return SpynePeer(server, records)
