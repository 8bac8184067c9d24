"""The http sink against a real server: what goes on the wire for each action."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from http_support import (
    Server,
    deliveries,
    make_connector,
    running,
    sink_options,
    write,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrator.errors import RejectedError, RetriableError, TemplateError


@pytest.fixture
def server() -> Iterator[Server]:
    with running() as s:
        yield s


def test_request_posts_each_payload_as_json_in_order(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url + "/api"}, tmp_path)
    payloads = [{"id": i, "name": "Zażółć gęślą jaźń", "total": 12.5} for i in range(5)]
    results = write(conn, deliveries(*payloads), path="/orders")
    assert results == [None] * 5
    assert [s.method for s in server.seen] == ["POST"] * 5
    assert server.paths() == ["/api/orders"] * 5
    assert [s.json() for s in server.seen] == payloads
    assert all(s.headers["content-type"] == "application/json" for s in server.seen)
    assert server.seen[0].headers["user-agent"].startswith("integrator-http/")
    # one keep-alive connection carried every request
    assert len({s.client_port for s in server.seen}) == 1


def test_templated_method_path_query_and_headers(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url, "headers": {"X-Static": "yes"}},
                          tmp_path)
    results = write(
        conn, deliveries({"id": 7, "market": "PL", "exists": True},
                         {"id": 8, "market": "DE", "exists": False}),
        method="{{ 'PUT' if exists else 'POST' }}",
        path="/orders/{{ id }}",
        query={"market": "{{ market }}", "validate": True, "count": 3},
        headers={"X-Market": "{{ market }}", "X-Msg": "{{ message.id }}"})
    assert results == [None, None]
    first, second = server.seen
    assert (first.method, first.path) == ("PUT", "/orders/7")
    assert (second.method, second.path) == ("POST", "/orders/8")
    assert first.query == {"market": "PL", "validate": "true", "count": "3"}
    assert first.headers["x-market"] == "PL" and second.headers["x-market"] == "DE"
    assert first.headers["x-static"] == "yes"
    assert first.headers["x-msg"] != second.headers["x-msg"]


def test_form_body(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    payload = {"grant": "x y", "amount": 10, "flag": True, "tags": ["a", "b"], "none": None}
    assert write(conn, deliveries(payload), body="form", path="/form") == [None]
    seen = server.seen[0]
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(seen.body.decode(), keep_blank_values=True) == {
        "grant": ["x y"], "amount": ["10"], "flag": ["true"], "tags": ["a", "b"],
        "none": [""]}


def test_xml_template_body_escapes_values(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries({"id": 1, "note": "<b>fish & chips</b>"}),
                    body="text", content_type="application/xml; charset=utf-8",
                    template='<order id="{{ id }}"><note>{{ note }}</note></order>')
    assert results == [None]
    seen = server.seen[0]
    assert seen.headers["content-type"] == "application/xml; charset=utf-8"
    assert seen.body.decode() == ('<order id="1"><note>&lt;b&gt;fish &amp; chips&lt;/b&gt;'
                                  "</note></order>")


def test_text_body_and_none_body(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries("plain text ą", {"not": "text"}), body="text")
    assert results[0] is None
    assert server.seen[0].body == "plain text ą".encode()
    assert results[1] is not None and "body text needs a text payload" in str(results[1])
    assert len(server.seen) == 1  # the bad one was never sent
    server.seen.clear()
    assert write(conn, deliveries({"id": 1}), method="DELETE", path="/orders/{{ id }}",
                 body="none") == [None]
    assert server.seen[0].method == "DELETE" and server.seen[0].body == b""


def test_idempotency_key_header(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    write(conn, deliveries({"id": 41}, {"id": 42}), idempotency_key="order-{{ id }}")
    assert [s.headers["idempotency-key"] for s in server.seen] == ["order-41", "order-42"]
    server.seen.clear()
    write(conn, deliveries({"id": 43}), idempotency_key="o-{{ id }}",
          idempotency_header="X-Request-Id")
    assert server.seen[0].headers["x-request-id"] == "o-43"
    assert "idempotency-key" not in server.seen[0].headers


def test_template_error_rejects_only_that_delivery(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries({"id": 1}, {"other": 2}, {"id": 3}),
                    path="/orders/{{ id }}")
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], TemplateError)
    assert server.paths() == ["/orders/1", "/orders/3"]


def test_path_traversal_from_data_is_rejected(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url + "/api/v1"}, tmp_path)
    results = write(conn, deliveries({"id": "1"}, {"id": "../../admin"}, {"id": "a b"}),
                    path="/orders/{{ id }}")
    assert results[0] is None
    assert isinstance(results[1], RejectedError) and "'..'" in str(results[1])
    assert isinstance(results[2], RejectedError) and "spaces" in str(results[2])
    assert server.paths() == ["/api/v1/orders/1"]
    # encoded, such a value is a single, harmless segment
    server.seen.clear()
    assert write(conn, deliveries({"id": "../x?y"}),
                 path="/orders/{{ id | urlencode | replace('/', '%2F') }}") == [None]
    assert server.seen[0].raw_path == "/api/v1/orders/..%2Fx%3Fy"


def test_accept_status_counts_as_success(server: Server, tmp_path: Path) -> None:
    async def conflict(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "exists"}, status_code=409)

    server.route("/orders", conflict)
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries({"id": 1}), path="/orders")
    assert isinstance(results[0], RejectedError) and "409" in str(results[0])
    assert write(conn, deliveries({"id": 1}), path="/orders", accept_status=[409]) == [None]


def test_gzip_answers_are_decoded(server: Server, tmp_path: Path) -> None:
    async def zipped(request: Request, body: bytes) -> Response:
        data = gzip.compress(orjson.dumps({"error": "bad total " * 3}))
        return Response(data, status_code=422, headers={"Content-Encoding": "gzip",
                                                        "Content-Type": "application/json"})

    server.route("/orders", zipped)
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries({"id": 1}), path="/orders")
    assert isinstance(results[0], RejectedError)
    assert "bad total bad total" in str(results[0])
    assert "gzip" in server.seen[0].headers["accept-encoding"]


# -- batch --------------------------------------------------------------------------------

def test_batch_sends_arrays_of_max_batch(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    payloads = [{"n": i} for i in range(7)]
    results = write(conn, deliveries(*payloads), "batch", path="/bulk", max_batch=3)
    assert results == [None] * 7
    assert [s.json() for s in server.seen] == [payloads[0:3], payloads[3:6], payloads[6:]]


def test_batch_envelope_and_grouping_by_rendered_path(server: Server,
                                                      tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    payloads = [{"n": 1, "m": "PL"}, {"n": 2, "m": "DE"}, {"n": 3, "m": "PL"}]
    results = write(conn, deliveries(*payloads), "batch", path="/bulk/{{ m }}",
                    envelope="records", envelope_fields={"allOrNone": False,
                                                         "records": "ignored"})
    assert results == [None] * 3
    by_path = {s.path: s.json() for s in server.seen}
    assert by_path == {
        "/bulk/PL": {"allOrNone": False, "records": [payloads[0], payloads[2]]},
        "/bulk/DE": {"allOrNone": False, "records": [payloads[1]]},
    }


def test_batch_per_item_results(server: Server, tmp_path: Path) -> None:
    async def per_item(request: Request, body: bytes) -> Response:
        items = orjson.loads(body)
        out: list[dict[str, Any]] = []
        for item in items:
            if item.get("bad"):
                out.append({"id": None, "success": False,
                            "errors": [{"message": f"invalid item {item['n']}"}]})
            elif item.get("busy"):
                out.append({"status": 503, "error": "locked"})
            else:
                out.append({"id": f"x{item['n']}", "success": True})
        return JSONResponse({"results": out})

    server.route("/composite", per_item)
    conn = make_connector({"base_url": server.url}, tmp_path)
    payloads = [{"n": 0}, {"n": 1, "bad": True}, {"n": 2}, {"n": 3, "busy": True}]
    results = write(conn, deliveries(*payloads), "batch", path="/composite",
                    results="results", item_error="errors[0].message || error")
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RejectedError)
    assert "item 2 of 4 failed" in str(results[1]) and "invalid item 1" in str(results[1])
    assert isinstance(results[3], RetriableError) and "locked" in str(results[3])
    assert len(server.seen) == 1


def test_batch_item_ok_expression(server: Server, tmp_path: Path) -> None:
    async def statuses(request: Request, body: bytes) -> Response:
        return JSONResponse([{"state": "ok" if i["n"] % 2 == 0 else "refused"}
                             for i in orjson.loads(body)])

    server.route("/b", statuses)
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries(*[{"n": i} for i in range(4)]), "batch", path="/b",
                    results="@", item_ok="state == 'ok'")
    assert [r is None for r in results] == [True, False, True, False]
    assert all(isinstance(r, RejectedError) for r in results[1::2])


def test_batch_without_results_is_all_or_nothing(server: Server, tmp_path: Path) -> None:
    async def refuse(request: Request, body: bytes) -> Response:
        return JSONResponse({"message": "one bad row"}, status_code=400)

    server.route("/refuse", refuse)
    conn = make_connector({"base_url": server.url}, tmp_path)
    results = write(conn, deliveries({"n": 1}, {"n": 2}), "batch", path="/refuse")
    assert all(isinstance(r, RejectedError) for r in results)
    assert "one bad row" in str(results[0])


def test_batch_idempotency_key_is_stable_for_the_same_items(server: Server,
                                                            tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url}, tmp_path)
    for _ in range(2):
        write(conn, deliveries({"id": 1}, {"id": 2}), "batch", idempotency_key="k{{ id }}")
    write(conn, deliveries({"id": 1}, {"id": 3}), "batch", idempotency_key="k{{ id }}")
    keys = [s.headers["idempotency-key"] for s in server.seen]
    assert keys[0] == keys[1] != keys[2]


def test_sink_concurrency_shares_one_pool(server: Server, tmp_path: Path) -> None:
    """Several sinks of one connection (the engine's workers) share one client."""
    conn = make_connector({"base_url": server.url, "max_connections": 4}, tmp_path)

    async def main() -> None:
        sinks = [conn.sink("request", sink_options(path="/c")) for _ in range(8)]
        for s in sinks:
            await s.open()
        results = await asyncio.gather(*(s.write_batch(deliveries({"n": i}, {"n": i}))
                                         for i, s in enumerate(sinks)))
        assert results == [None] * 8
        clients = {id(s.client) for s in sinks}  # type: ignore[attr-defined]
        assert len(clients) == 1
        for s in sinks:
            await s.close()
        assert conn._client is None  # the last close closed the shared client

    asyncio.run(main())
    assert len(server.seen) == 16
    assert len({s.client_port for s in server.seen}) <= 4


def test_an_unfollowed_redirect_is_a_success_for_a_sink(server: Server,
                                                        tmp_path: Path) -> None:
    """PayU answers an order creation with 302 and the payment page to send the buyer
    to: with follow_redirects off that answer is the success."""
    async def created(request: Request, body: bytes) -> Response:
        return JSONResponse({"status": {"statusCode": "SUCCESS"}, "orderId": "WZHF5"},
                            status_code=302,
                            headers={"Location": "https://merch-prod.snd.payu.com/pay/"})

    server.route("/api/v2_1/orders", created)
    conn = make_connector({"base_url": server.url, "follow_redirects": False}, tmp_path)
    assert write(conn, deliveries({"totalAmount": "21000"}), path="/api/v2_1/orders") \
        == [None]
    assert server.paths() == ["/api/v2_1/orders"]
