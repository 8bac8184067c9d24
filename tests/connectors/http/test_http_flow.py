"""A flow through the engine: a Shopify-like API (Link pagination, watermark) → map →
an ERP API (PUT per order with an idempotency key) and a CRM bulk endpoint (per-item
results). The servers record what they received; a second run reads only what changed,
from the watermark the first run stored once everything was acknowledged."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from http_support import Server, running
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from support import compile_flow

from integrator.delivery.deadletters import MemoryDeadLetters
from integrator.engine.report import RunReport
from integrator.engine.runner import Engine, RunOptions

SHOP_TOKEN = "shpat_flow_secret_1"
ERP_TOKEN = "erp-bearer-secret-2"


@pytest.fixture
def shop() -> Iterator[Server]:
    with running() as s:
        yield s


@pytest.fixture
def erp() -> Iterator[Server]:
    with running() as s:
        yield s


def order(i: int, second: int, status: str = "paid") -> dict[str, Any]:
    return {"id": 4700 + i, "name": f"#{4700 + i}", "status": status,
            "updated_at": f"2024-05-01T10:00:{second:02d}Z",
            "customer": {"email": f"c{i}@example.com", "first_name": "Zofia"}}


def serve_shop(shop: Server, orders: list[dict[str, Any]]) -> None:
    async def orders_json(request: Request, body: bytes) -> Response:
        if request.headers.get("x-shopify-access-token") != SHOP_TOKEN:
            return JSONResponse({"errors": "Invalid API key"}, status_code=401)
        q = request.query_params
        limit = int(q.get("limit", "50"))
        if "page_info" in q:
            start, low = orjson.loads(base64.urlsafe_b64decode(q["page_info"]))
        else:
            start, low = 0, q.get("updated_at_min")
        rows = sorted((o for o in orders if low is None or o["updated_at"] >= low),
                      key=lambda o: o["updated_at"])
        headers = {}
        if start + limit < len(rows):
            info = base64.urlsafe_b64encode(orjson.dumps([start + limit, low])).decode()
            headers["Link"] = (f'<{shop.url}/admin/api/2024-01/orders.json?page_info='
                               f'{info}&limit={limit}>; rel="next"')
        return JSONResponse({"orders": rows[start:start + limit]}, headers=headers)

    shop.route("/admin/api/2024-01/orders.json", orders_json)


def serve_erp(erp: Server) -> None:
    async def sales_order(request: Request, body: bytes) -> Response:
        if request.headers.get("authorization") != f"Bearer {ERP_TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        doc = orjson.loads(body)
        if doc["order_number"] == "#4703":
            return JSONResponse({"error": {"message": "customer is blocked"}},
                                status_code=422)
        return JSONResponse({"id": doc["external_id"]}, status_code=201)

    async def contacts(request: Request, body: bytes) -> Response:
        return JSONResponse({"results": [{"status": 200} for _ in orjson.loads(body)]})

    erp.default = sales_order
    erp.route("/crm/contacts/bulk", contacts)


FLOW = """
    flow: shop-to-erp
    keys:
      order: id
    connections:
      shop:
        type: http
        base_url: ${env:SHOP_URL}/admin/api/2024-01
        auth:
          type: api_key
          name: X-Shopify-Access-Token
          value: ${secret:SHOP_TOKEN}
      erp:
        type: http
        base_url: ${env:ERP_URL}
        auth: {type: bearer, token: "${secret:ERP_TOKEN}"}
    source:
      connection: shop
      options:
        path: /orders.json
        query: {limit: 2, status: any}
        records: orders
        pagination: {type: link_header}
        watermark: {field: updated_at, param: updated_at_min}
    steps:
      - filter: "status != 'cancelled'"
      - map:
          as: erp_order
          fields:
            external_id: to_string(id)
            order_number: name
            email: customer.email
      - map:
          as: contact
          fields:
            email: customer.email
            first_name: customer.first_name
      - deliver: [erp_orders, crm_contacts]
    sinks:
      erp_orders:
        connection: erp
        body: erp_order
        concurrency: 2
        batch_size: 1
        options:
          method: PUT
          path: /sales-orders/{{ external_id }}
          idempotency_key: order-{{ external_id }}
      crm_contacts:
        connection: erp
        action: batch
        body: contact
        options:
          path: /crm/contacts/bulk
          max_batch: 10
          results: results
"""


def run(shop: Server, erp: Server, tmp_path: Path) -> tuple[RunReport, MemoryDeadLetters]:
    compiled = compile_flow(FLOW, workdir=tmp_path, env={
        "SHOP_URL": shop.url, "ERP_URL": erp.url,
        "SHOP_TOKEN": SHOP_TOKEN, "ERP_TOKEN": ERP_TOKEN})
    dead = MemoryDeadLetters()
    engine = Engine(compiled, RunOptions(workdir=tmp_path), dead_letters=dead)
    return asyncio.run(engine.run()), dead


def test_flow_reads_pages_writes_both_sinks_and_resumes(shop: Server, erp: Server,
                                                        tmp_path: Path) -> None:
    orders = [order(1, 1), order(2, 2, "cancelled"), order(3, 3), order(4, 4),
              order(5, 5)]
    serve_shop(shop, orders)
    serve_erp(erp)
    report, dead = run(shop, erp, tmp_path)
    assert report.status == "completed", report.fatal
    assert report.read == 5 and report.filtered == 1
    assert report.acked == 5
    puts = {s.path: s for s in erp.seen if s.method == "PUT"}
    assert sorted(puts) == ["/sales-orders/4701", "/sales-orders/4703",
                            "/sales-orders/4704", "/sales-orders/4705"]
    assert puts["/sales-orders/4701"].json() == {
        "external_id": "4701", "order_number": "#4701", "email": "c1@example.com"}
    assert puts["/sales-orders/4704"].headers["idempotency-key"] == "order-4704"
    assert all(s.headers["authorization"] == f"Bearer {ERP_TOKEN}" for s in puts.values())
    bulk = [s.json() for s in erp.seen if s.path == "/crm/contacts/bulk"]
    assert sorted(c["email"] for batch in bulk for c in batch) == [
        "c1@example.com", "c3@example.com", "c4@example.com", "c5@example.com"]
    # the refused order is dead-lettered alone, with the ERP's reason
    (letter,) = dead.letters
    assert letter["keys"] == {"order": 4703} and letter["step"] == "sink:erp_orders"
    assert letter["error_class"] == "RejectedError"
    assert f"PUT {erp.url}/sales-orders/4703 answered 422 Unprocessable" in letter["error"]
    assert "customer is blocked" in letter["error"]
    assert letter["context"]["status"] == 422
    assert report.sinks["erp_orders"].written == 3
    # three pages of two; the first carried the filters, the next links did not
    assert [s.query.get("status") for s in shop.seen] == ["any", None, None]
    state = json.loads((tmp_path / ".integrator" / "shop-to-erp" / "state.json")
                       .read_text())
    assert state["shop/watermark"]["value"] == "2024-05-01T10:00:05Z"

    # second run: one new order, one changed; the boundary order 4705 is not resent
    orders.append(order(6, 6))
    orders[0] = order(1, 30)
    shop.seen.clear()
    erp.seen.clear()
    report, dead = run(shop, erp, tmp_path)
    assert report.status == "completed", report.fatal
    assert shop.seen[0].query["updated_at_min"] == "2024-05-01T10:00:05Z"
    assert sorted(s.path for s in erp.seen if s.method == "PUT") == [
        "/sales-orders/4701", "/sales-orders/4706"]
    assert dead.letters == []
    state = json.loads((tmp_path / ".integrator" / "shop-to-erp" / "state.json")
                       .read_text())
    assert state["shop/watermark"]["value"] == "2024-05-01T10:00:30Z"
    assert SHOP_TOKEN not in json.dumps(state)


def test_flow_lint_reports_bad_http_options(tmp_path: Path) -> None:
    from support import problems_of

    def messages(connection: str, action: str = "request") -> str:
        problems = problems_of(f"""
            flow: bad
            connections:
              api:
                type: http
                {connection}
            source:
              connection: api
            steps:
              - deliver: [out]
            sinks:
              out:
                connection: api
                action: {action}
            """, workdir=tmp_path)
        return " | ".join(f"{p.line}: {p.message} ({p.hint})" for p in problems)

    text = messages("base_url: https://x\n                read_timeout: fast", "requests")
    assert "7: connection 'api' (http): option 'read_timeout': expected a duration" in text
    assert "http has no action 'requests' (did you mean 'request'?)" in text
    text = messages("base_url: ftp://example.com\n"
                    "                auth: {type: bearer, tokn: x}\n"
                    "                min_tls_version: 1.1")
    assert "base_url 'ftp://example.com' must be an http:// or https:// URL" in text
    assert "auth (bearer) needs token" in text
    assert "auth (bearer) has no field 'tokn' (did you mean 'token'?)" in text
    assert "min_tls_version must be 1.2 or 1.3, got '1.1'" in text
