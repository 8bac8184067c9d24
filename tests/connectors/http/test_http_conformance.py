"""The http connector passes the shared connector conformance suite against a real
records API on loopback (cursor pagination, a sorted numeric watermark, POST per record,
GET per key)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from http_support import Server
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrator.testing import ConnectorConformance, Peer


class RecordsApi:
    """Stored records carry ``seq``, the order they were stored in (the watermark)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.records: list[dict[str, Any]] = []
        self.written: list[Any] = []
        server.route("/api/records", self.collection)
        server.default = self.item

    async def collection(self, request: Request, body: bytes) -> Response:
        if request.method == "POST":
            payload = orjson.loads(body)
            if isinstance(payload, dict) and payload.get("reject"):
                return JSONResponse({"error": "reject is set"}, status_code=422)
            self.written.append(payload)
            return JSONResponse({"stored": True}, status_code=201)
        since = int(request.query_params.get("since", "0"))
        after = int(request.query_params.get("after", "0"))
        rows = [r for r in self.records if r["seq"] >= since and r["seq"] > after]
        page = rows[:2]
        return JSONResponse({"items": page, "next": page[-1]["seq"] if len(rows) > 2
                             else None})

    async def item(self, request: Request, body: bytes) -> Response:
        key = request.url.path.rsplit("/", 1)[-1]
        for record in self.records:
            if record["id"] == key:
                return JSONResponse(record)
        if request.url.path in ("/api", "/api/"):
            return JSONResponse({"service": "records"})
        return JSONResponse({"error": "not found"}, status_code=404)


class HttpPeer(Peer):
    def __init__(self, server: Server, api: RecordsApi) -> None:
        super().__init__(
            {"base_url": server.url + "/api"},
            source_options={
                "path": "/records", "records": "items",
                "pagination": {"type": "cursor", "param": "after", "cursor": "next"},
                "watermark": {"field": "seq", "param": "since", "sorted": True}},
            sink_options={"path": "/records"},
            lookup_options={"path": "/records/{{ key }}"},
            lookup_key="id", meta_keys=("url", "page"),
            bad_payload={"id": "bad", "reject": True})
        self.server = server
        self.api = api

    async def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        for record in records:
            self.api.records.append({**record, "seq": len(self.api.records) + 1})

    async def written(self) -> list[Any]:
        return list(self.api.written)

    async def restart(self) -> None:
        self.server.restart()

    async def close(self) -> None:
        self.server.stop()

    def matches(self, expected: Any, actual: Any) -> bool:
        if isinstance(actual, dict) and "seq" in actual and "seq" not in expected:
            actual = {k: v for k, v in actual.items() if k != "seq"}
        return bool(expected == actual)


class TestHttpConformance(ConnectorConformance):
    connector_type = "http"
    roles = ("source", "sink", "lookup")
    replayable = True

    async def start_peer(self, tmp_path: Path) -> Peer:
        server = Server().start()
        return HttpPeer(server, RecordsApi(server))
