"""The http source: every pagination style, records, watermarks, follow mode."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from http_support import (
    Server,
    make_connector,
    running,
    source_options,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrator.connectors.base import Record
from integrator.connectors.protocols.http.pagination import parse_link_header
from integrator.connectors.state import MemoryStateStore
from integrator.errors import FatalError, RetriableError


@pytest.fixture
def server() -> Iterator[Server]:
    with running() as s:
        yield s


def order(i: int, updated: str | None = None) -> dict[str, Any]:
    return {"id": i, "name": f"#{1000 + i}", "note": "Zażółć",
            "updated_at": updated or f"2024-05-01T10:00:{i:02d}+02:00"}


class OrdersApi:
    """A small e-commerce API that pages the way real ones do."""

    def __init__(self, server: Server, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.server = server
        self.fail_on_page: int | None = None
        server.route("/admin/orders.json", self.shopify)
        server.route("/services/data/v58.0/query", self.salesforce)
        server.route("/v1/charges", self.stripe)
        server.route("/wp-json/wc/v3/orders", self.woo)
        server.route("/3.0/members", self.mailchimp)

    def since(self, request: Request) -> list[dict[str, Any]]:
        low = request.query_params.get("updated_at_min")
        rows = self.orders if low is None else [
            o for o in self.orders if _instant(o["updated_at"]) >= _instant(low)]
        return sorted(rows, key=lambda o: _instant(o["updated_at"]))

    async def shopify(self, request: Request, body: bytes) -> Response:
        q = request.query_params
        limit = int(q.get("limit", "50"))
        if "page_info" in q:
            if set(q) - {"page_info", "limit"}:
                return JSONResponse({"errors": "page_info cannot be combined"},
                                    status_code=400)
            start, low = orjson.loads(base64.urlsafe_b64decode(q["page_info"]))
            rows = [o for o in self.orders if low is None
                    or _instant(o["updated_at"]) >= _instant(low)]
            rows.sort(key=lambda o: _instant(o["updated_at"]))
        else:
            start, low, rows = 0, q.get("updated_at_min"), self.since(request)
        page_no = start // limit + 1
        if self.fail_on_page == page_no:
            return JSONResponse({"errors": "Internal error"}, status_code=500)
        page = rows[start:start + limit]
        links = []
        base = f"{self.server.url}/admin/orders.json"
        if start + limit < len(rows):
            info = base64.urlsafe_b64encode(orjson.dumps([start + limit, low])).decode()
            links.append(f'<{base}?page_info={info}&limit={limit}>; rel="next"')
        if start > 0:
            info = base64.urlsafe_b64encode(orjson.dumps([start - limit, low])).decode()
            links.append(f'<{base}?page_info={info}&limit={limit}>; rel="previous"')
        headers = {"Link": ", ".join(links)} if links else {}
        return JSONResponse({"orders": page}, headers=headers)

    async def salesforce(self, request: Request, body: bytes) -> Response:
        return self._salesforce(0)

    def _salesforce(self, start: int) -> Response:
        page = self.orders[start:start + 2]
        answer: dict[str, Any] = {"totalSize": len(self.orders),
                                  "done": start + 2 >= len(self.orders), "records": page}
        if not answer["done"]:
            answer["nextRecordsUrl"] = f"/services/data/v58.0/query/01gXX-{start + 2}"
            self.server.route(answer["nextRecordsUrl"], self._next_sf(start + 2))
        return JSONResponse(answer)

    def _next_sf(self, start: int) -> Any:
        async def handler(request: Request, body: bytes) -> Response:
            return self._salesforce(start)

        return handler

    async def stripe(self, request: Request, body: bytes) -> Response:
        limit = int(request.query_params.get("limit", "10"))
        after = request.query_params.get("starting_after")
        ids = [o["id"] for o in self.orders]
        start = ids.index(int(after)) + 1 if after else 0
        page = self.orders[start:start + limit]
        return JSONResponse({"object": "list", "data": page, "url": "/v1/charges",
                             "has_more": start + limit < len(self.orders)})

    async def woo(self, request: Request, body: bytes) -> Response:
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", "10"))
        rows = self.orders[(page - 1) * per_page: page * per_page]
        return JSONResponse(rows, headers={"X-WP-TotalPages": "?"})

    async def mailchimp(self, request: Request, body: bytes) -> Response:
        offset = int(request.query_params.get("offset", "0"))
        count = int(request.query_params.get("count", "10"))
        return JSONResponse({"members": self.orders[offset:offset + count],
                             "total_items": len(self.orders)})


def _instant(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


async def read_all(source: Any, stop_after: int | None = None) -> list[Record]:
    out: list[Record] = []
    async for batch in source.batches():
        out.extend(batch)
        if stop_after is not None and len(out) >= stop_after:
            source.stop()
    return out


def run_source(conn: Any, *, ack: str = "all", **options: Any) -> list[Record]:
    """Open, read to the end, acknowledge (all / none / first-half), close."""
    async def main() -> list[Record]:
        src = conn.source(source_options(**options))
        await src.open()
        try:
            records = await read_all(src)
            if ack == "all":
                await src.ack([r.ack for r in reversed(records)])  # any order
            elif ack == "first-half":
                await src.ack([r.ack for r in records[: len(records) // 2]])
            return records
        finally:
            await src.close()

    return asyncio.run(main())


def ids(records: list[Record]) -> list[Any]:
    return [r.body["id"] for r in records]


# -- pagination ---------------------------------------------------------------------------

def test_link_header_pagination_uses_next_links_verbatim(server: Server,
                                                         tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(7)])
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path)
    records = run_source(conn, path="/orders.json", query={"limit": 3, "status": "any"},
                         records="orders", pagination={"type": "link_header"})
    assert ids(records) == list(range(7))
    assert [s.query.get("status") for s in server.seen] == ["any", None, None]
    assert records[3].meta == {"url": f"{server.url}/admin/orders.json?…", "page": 2}
    assert len({repr(r.ack) for r in records}) == 7


def test_parse_link_header() -> None:
    links = parse_link_header([
        '<https://x/a?page_info=p2&limit=3>; rel="next", <https://x/a?page_info=p0>; '
        'rel="previous"', "<https://x/last>; rel=last; title=\"x\""])
    assert links == {"next": "https://x/a?page_info=p2&limit=3",
                     "previous": "https://x/a?page_info=p0", "last": "https://x/last"}


def test_next_url_in_the_body_relative_to_the_base(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(5)])
    conn = make_connector({"base_url": server.url + "/services/data/v58.0"}, tmp_path)
    records = run_source(conn, path="/query", query={"q": "SELECT Id FROM Order"},
                         records="records",
                         pagination={"type": "next_url", "next": "nextRecordsUrl"})
    assert ids(records) == [0, 1, 2, 3, 4]
    assert server.paths() == ["/services/data/v58.0/query",
                              "/services/data/v58.0/query/01gXX-2",
                              "/services/data/v58.0/query/01gXX-4"]
    assert server.seen[1].query == {}  # the next URL is complete as given


def test_cursor_from_the_last_record_with_has_more(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(5)])
    conn = make_connector({"base_url": server.url + "/v1"}, tmp_path)
    records = run_source(conn, path="/charges", query={"limit": 2}, records="data",
                         pagination={"type": "cursor", "param": "starting_after",
                                     "cursor_from_last": "id", "has_more": "has_more"})
    assert ids(records) == [0, 1, 2, 3, 4]
    assert [s.query for s in server.seen] == [
        {"limit": "2"}, {"limit": "2", "starting_after": "1"},
        {"limit": "2", "starting_after": "3"}]


def test_page_numbers_stop_at_a_short_page(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(5)])
    conn = make_connector({"base_url": server.url + "/wp-json/wc/v3"}, tmp_path)
    records = run_source(conn, path="/orders",
                         pagination={"type": "page", "size_param": "per_page", "size": 2})
    assert ids(records) == [0, 1, 2, 3, 4]
    assert [s.query["page"] for s in server.seen] == ["1", "2", "3"]


def test_page_numbers_stop_at_an_empty_page(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(4)])
    conn = make_connector({"base_url": server.url + "/wp-json/wc/v3"}, tmp_path)
    records = run_source(conn, path="/orders", query={"per_page": 2},
                         pagination={"type": "page"})
    assert ids(records) == [0, 1, 2, 3]
    assert [s.query["page"] for s in server.seen] == ["1", "2", "3"]


def test_offset_with_total(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(6)])
    conn = make_connector({"base_url": server.url + "/3.0"}, tmp_path)
    records = run_source(conn, path="/members", records="members",
                         pagination={"type": "offset", "size_param": "count", "size": 3,
                                     "total": "total_items"})
    assert ids(records) == list(range(6))
    assert [s.query["offset"] for s in server.seen] == ["0", "3"]  # 6 of 6: done


def test_a_pagination_that_loops_is_stopped(server: Server, tmp_path: Path) -> None:
    async def loop(request: Request, body: bytes) -> Response:
        return JSONResponse({"items": [{"id": 1}], "next": "/loop?p=1"})

    server.route("/loop", loop)
    conn = make_connector({"base_url": server.url}, tmp_path)
    with pytest.raises(FatalError, match=r"the pagination loops: page 2 asks for "
                                         r".*/loop.* again .as page 1."):
        run_source(conn, path="/loop", query={"p": 1}, records="items",
                   pagination={"type": "next_url", "next": "next"})
    with pytest.raises(FatalError, match=r"more than max_pages \(1\)"):
        run_source(conn, path="/loop", records="items", max_pages=1,
                   pagination={"type": "next_url", "next": "next"})


def test_record_shapes(server: Server, tmp_path: Path) -> None:
    async def single(request: Request, body: bytes) -> Response:
        return JSONResponse({"shop": {"id": 9, "name": "Acme"}})

    async def empty(request: Request, body: bytes) -> Response:
        return JSONResponse({"orders": None})

    async def scalar(request: Request, body: bytes) -> Response:
        return JSONResponse({"orders": "none"})

    server.route("/shop", single)
    server.route("/empty", empty)
    server.route("/scalar", scalar)
    conn = make_connector({"base_url": server.url}, tmp_path)
    assert [r.body for r in run_source(conn, path="/shop", records="shop")] == [
        {"id": 9, "name": "Acme"}]
    assert run_source(conn, path="/empty", records="orders") == []
    with pytest.raises(FatalError, match=r"records 'orders' gave str"):
        run_source(conn, path="/scalar", records="orders")


def test_post_search_body_is_sent_on_every_counted_page(server: Server,
                                                        tmp_path: Path) -> None:
    async def search(request: Request, body: bytes) -> Response:
        page = int(request.query_params["page"])
        return JSONResponse({"items": [{"id": page}] if page <= 2 else []})

    server.route("/search", search)
    conn = make_connector({"base_url": server.url}, tmp_path)
    records = run_source(conn, path="/search", method="POST",
                         body={"filter": {"status": "open"}}, records="items",
                         pagination={"type": "page"})
    assert ids(records) == [1, 2]
    assert [s.json() for s in server.seen] == [{"filter": {"status": "open"}}] * 3


def test_source_refusals_are_fatal_and_failures_retriable(server: Server,
                                                          tmp_path: Path) -> None:
    async def missing(request: Request, body: bytes) -> Response:
        return JSONResponse({"errors": "Not Found"}, status_code=404)

    async def down(request: Request, body: bytes) -> Response:
        return Response(b"", status_code=503, headers={"Retry-After": "12"})

    server.route("/missing", missing)
    server.route("/down", down)
    conn = make_connector({"base_url": server.url}, tmp_path)
    with pytest.raises(FatalError, match=r"GET .*/missing answered 404 Not Found: "
                                         r"\{\"errors\":\"Not Found\"\}"):
        run_source(conn, path="/missing")
    with pytest.raises(RetriableError) as caught:
        run_source(conn, path="/down")
    assert caught.value.retry_after == 12


# -- watermarks ---------------------------------------------------------------------------

WATERMARK = {"field": "updated_at", "param": "updated_at_min"}


def shopify_source(**extra: Any) -> dict[str, Any]:
    return {"path": "/orders.json", "query": {"limit": 2}, "records": "orders",
            "pagination": {"type": "link_header"}, "watermark": dict(WATERMARK), **extra}


def test_watermark_advances_on_ack_and_skips_boundary_records(server: Server,
                                                              tmp_path: Path) -> None:
    api = OrdersApi(server, [order(i) for i in range(5)])
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)
    assert ids(run_source(conn, **shopify_source())) == [0, 1, 2, 3, 4]
    assert "updated_at_min" not in server.seen[0].query  # no state, no initial: all
    stored = state.values["api/watermark"]
    assert stored["value"] == "2024-05-01T10:00:04+02:00" and len(stored["seen"]) == 1
    # two new orders, one updated: the boundary order 4 comes back from the API but is
    # not delivered again
    api.orders += [order(5), order(6)]
    api.orders[1] = order(1, "2024-05-01T10:00:30+02:00")
    server.seen.clear()
    again = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)
    assert ids(run_source(again, **shopify_source())) == [5, 6, 1]
    assert server.seen[0].query["updated_at_min"] == "2024-05-01T10:00:04+02:00"
    assert state.values["api/watermark"]["value"] == "2024-05-01T10:00:30+02:00"


def test_unacknowledged_records_are_read_again(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(4)])
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)
    assert ids(run_source(conn, ack="none", **shopify_source())) == [0, 1, 2, 3]
    assert "api/watermark" not in state.values
    assert ids(run_source(conn, ack="first-half", **shopify_source())) == [0, 1, 2, 3]
    assert "api/watermark" not in state.values  # unsorted: the whole poll must be acked
    assert ids(run_source(conn, **shopify_source())) == [0, 1, 2, 3]
    assert state.values["api/watermark"]["value"] == "2024-05-01T10:00:03+02:00"


def test_sorted_watermark_advances_record_by_record(server: Server, tmp_path: Path) -> None:
    OrdersApi(server, [order(i) for i in range(4)])
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)
    source = shopify_source(watermark={**WATERMARK, "sorted": True})
    assert ids(run_source(conn, ack="first-half", **source)) == [0, 1, 2, 3]
    assert state.values["api/watermark"]["value"] == "2024-05-01T10:00:01+02:00"
    assert ids(run_source(conn, ack="none", **source)) == [2, 3]


def test_a_failed_poll_does_not_move_the_watermark(server: Server, tmp_path: Path) -> None:
    api = OrdersApi(server, [order(i) for i in range(5)])
    api.fail_on_page = 2
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)

    async def main() -> list[Record]:
        src = conn.source(source_options(**shopify_source()))
        await src.open()
        got: list[Record] = []
        try:
            with pytest.raises(RetriableError, match=r"answered 500"):
                async for batch in src.batches():
                    got.extend(batch)
            await src.ack([r.ack for r in got])
        finally:
            await src.close()
        return got

    assert ids(asyncio.run(main())) == [0, 1]
    assert "api/watermark" not in state.values  # page 2 was never read
    api.fail_on_page = None
    assert ids(run_source(conn, **shopify_source())) == [0, 1, 2, 3, 4]


def test_initial_value_and_numeric_watermarks(server: Server, tmp_path: Path) -> None:
    async def events(request: Request, body: bytes) -> Response:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse([{"seq": n} for n in range(1, 8) if n >= since])

    server.route("/events", events)
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url}, tmp_path, state=state)
    options = {"path": "/events", "watermark": {"field": "seq", "param": "since",
                                                "initial": 5}}
    assert [r.body["seq"] for r in run_source(conn, **options)] == [5, 6, 7]
    assert server.seen[0].query == {"since": "5"}
    assert state.values["api/watermark"]["value"] == 7
    assert run_source(conn, **options) == []  # 7 comes back, but was delivered


def test_follow_polls_until_stopped(server: Server, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    api = OrdersApi(server, [order(0), order(1)])
    state = MemoryStateStore()
    conn = make_connector({"base_url": server.url + "/admin"}, tmp_path, state=state)
    calls = {"n": 0}
    original = api.shopify

    async def counting(request: Request, body: bytes) -> Response:
        calls["n"] += 1
        if calls["n"] == 2:
            api.orders.append(order(2))
        if calls["n"] == 3:
            return JSONResponse({"errors": "busy"}, status_code=503,
                                headers={"Retry-After": "0.1"})
        return await original(request, body)

    server.route("/admin/orders.json", counting)

    async def main() -> list[Record]:
        src = conn.source(source_options(**shopify_source(follow=True, interval="50ms")))
        assert src.finite is False
        await src.open()
        got: list[Record] = []

        async def stopper() -> None:
            while calls["n"] < 5:  # a failing poll and two quiet ones after the news
                await asyncio.sleep(0.01)
            src.stop()

        task = asyncio.create_task(stopper())
        try:
            async for batch in src.batches():
                got.extend(batch)
                await src.ack([r.ack for r in batch])
        finally:
            await task
            await src.close()
        return got

    with caplog.at_level(logging.WARNING, logger="integrator"):
        records = asyncio.run(main())
    assert ids(records) == [0, 1, 2]
    assert 5 <= calls["n"] <= 6
    queries = [s.query.get("updated_at_min") for s in server.seen]
    assert queries[0] is None
    assert queries[1] == "2024-05-01T10:00:01+02:00"  # from the first poll, in memory
    assert "poll failed, next poll in 0.1s" in caplog.text  # Retry-After beats interval
    assert state.values["api/watermark"]["value"] == "2024-05-01T10:00:02+02:00"


def test_a_next_link_outside_the_egress_policy_is_fatal(server: Server, tmp_path: Path
                                                        ) -> None:
    with running() as elsewhere:
        async def page(request: Request, body: bytes) -> Response:
            link = f'<http://localhost:{elsewhere.port}/steal>; rel="next"'
            return JSONResponse([{"id": 1}], headers={"Link": link})

        server.route("/items", page)
        conn = make_connector({"base_url": server.url}, tmp_path)
        with pytest.raises(FatalError, match=r"refused by the egress policy: host "
                                             r"'localhost' is not allowed"):
            run_source(conn, path="/items", pagination={"type": "link_header"})
        assert elsewhere.seen == []


def test_an_unfollowed_redirect_is_fatal_for_a_source(server: Server,
                                                      tmp_path: Path) -> None:
    async def moved(request: Request, body: bytes) -> Response:
        return Response(status_code=301, headers={"Location": "/v2/items"})

    server.route("/items", moved)
    conn = make_connector({"base_url": server.url, "follow_redirects": False}, tmp_path)
    with pytest.raises(FatalError, match=r"answered 301 \(a redirect\) and "
                                         r"follow_redirects is off"):
        run_source(conn, path="/items")
    followed = make_connector({"base_url": server.url}, tmp_path)
    assert [r.body for r in run_source(followed, path="/items")] == [{"ok": True}]
    assert server.paths()[-1] == "/v2/items"
