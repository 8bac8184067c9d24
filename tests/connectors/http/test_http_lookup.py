"""The http lookup: a GET per key, 404 means not found, bounded concurrency."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from http_support import (
    Server,
    lookup_options,
    make_connector,
    running,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrator.errors import RejectedError, RetriableError

CUSTOMERS = {"7": {"id": 7, "email": "anna@example.com", "name": "Anna Kowalska"},
             "8": {"id": 8, "email": "jan@example.com", "name": "Jan Nowak"}}


@pytest.fixture
def server() -> Iterator[Server]:
    with running() as s:
        yield s


def look(conn: Any, keys: list[Hashable], **options: Any) -> Mapping[Hashable, Any]:
    async def main() -> Mapping[Hashable, Any]:
        lookup = conn.lookup(lookup_options(**options))
        await lookup.open()
        try:
            return await lookup.get_many(keys)
        finally:
            await lookup.close()

    return asyncio.run(main())


@pytest.fixture
def customers(server: Server) -> Server:
    async def one(request: Request, body: bytes) -> Response:
        key = request.path_params.get("path", "").split("/")[-1].removesuffix(".json")
        if key == "gone":
            return JSONResponse({}, status_code=410)
        if key == "boom":
            return JSONResponse({"error": "db down"}, status_code=500)
        if key == "bad":
            return JSONResponse({"error": "malformed id"}, status_code=400)
        if key == "nothing":
            return JSONResponse({"customer": None})
        found = CUSTOMERS.get(key)
        if found is None:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        data = gzip.compress(orjson.dumps({"customer": found}))
        return Response(data, headers={"Content-Encoding": "gzip",
                                       "Content-Type": "application/json"})

    server.default = one
    return server


def test_found_missing_and_not_found_statuses(customers: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": customers.url + "/api"}, tmp_path)
    found = look(conn, [7, "8", "404", "gone", "nothing"],
                 path="/customers/{{ key }}.json", result="customer")
    assert found == {7: CUSTOMERS["7"], "8": CUSTOMERS["8"]}
    assert sorted(customers.paths()) == sorted(
        f"/api/customers/{k}.json" for k in ("7", "8", "404", "gone", "nothing"))
    assert look(conn, [], path="/customers/{{ key }}.json") == {}


def test_key_in_the_query(server: Server, tmp_path: Path) -> None:
    async def search(request: Request, body: bytes) -> Response:
        email = request.query_params["email"]
        return JSONResponse({"customers": [c for c in CUSTOMERS.values()
                                           if c["email"] == email]})

    server.route("/customers/search.json", search)
    conn = make_connector({"base_url": server.url}, tmp_path)
    found = look(conn, ["jan@example.com", "x@example.com"], path="/customers/search.json",
                 query={"email": "{{ key }}"}, result="customers[0]")
    assert found == {"jan@example.com": CUSTOMERS["8"]}


def test_errors_fail_the_lookup(customers: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": customers.url}, tmp_path)
    with pytest.raises(RetriableError, match=r"GET .*/customers/boom answered 500"):
        look(conn, [7, "boom"], path="/customers/{{ key }}")
    with pytest.raises(RejectedError, match=r"answered 400 Bad Request.*malformed id"):
        look(conn, ["bad"], path="/customers/{{ key }}")


def test_concurrency_is_bounded(server: Server, tmp_path: Path) -> None:
    live = {"now": 0, "max": 0}

    async def slow(request: Request, body: bytes) -> Response:
        live["now"] += 1
        live["max"] = max(live["max"], live["now"])
        await asyncio.sleep(0.05)
        live["now"] -= 1
        return JSONResponse({"key": request.url.path})

    server.default = slow
    conn = make_connector({"base_url": server.url}, tmp_path)
    found = look(conn, list(range(12)), path="/k/{{ key }}", concurrency=3)
    assert len(found) == 12 and found[5] == {"key": "/k/5"}
    assert live["max"] == 3
