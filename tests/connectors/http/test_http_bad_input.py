"""Every bad answer and bad target: the error it gives, and that its neighbours succeed.

Each test sends a batch in which one delivery meets the bad input (its templated path
points at the misbehaving endpoint) and checks the error class, the message (method,
URL without credentials or query, what happened) and that the others were delivered.
"""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_support import (
    Server,
    deliveries,
    lookup_options,
    make_connector,
    running,
    secret,
    source_options,
    write,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from integrator.connectors.protocols.http.errors import parse_retry_after
from integrator.errors import FatalError, RejectedError, RetriableError
from integrator.security.secrets import Redactor

TOKEN = "tok-5ecret-value-123"


@pytest.fixture
def server() -> Iterator[Server]:
    with running() as s:
        yield s


@pytest.fixture
def other_server() -> Iterator[Server]:
    """A second server: the host a redirect or a templated URL must not reach."""
    with running() as s:
        yield s


def batch_with(bad: dict[str, Any]) -> list[Any]:
    """Two good deliveries around the bad one."""
    return deliveries({"id": 1, "to": "/ok"}, {"id": 2, **bad}, {"id": 3, "to": "/ok"})


def connector(server: Server, tmp_path: Path, **config: Any) -> Any:
    redactor = Redactor()
    base = {"base_url": server.url,
            "auth": {"type": "bearer", "token": secret(TOKEN, redactor=redactor)}}
    return make_connector({**base, **config}, tmp_path, redactor=redactor)


def assert_neighbours_ok(results: list[Any], server: Server) -> None:
    assert results[0] is None and results[2] is None
    assert [s.json()["id"] for s in server.seen if s.path == "/ok"] == [1, 3]


def assert_clean(error: Exception) -> None:
    text = str(error)
    assert TOKEN not in text
    assert "sig=" not in text and "key=" not in text  # no query strings


# -- answers ------------------------------------------------------------------------------

def test_malformed_json_in_batch_results(server: Server, tmp_path: Path) -> None:
    async def broken(request: Request, body: bytes) -> Response:
        return Response(b'{"results": [{"success": tru', media_type="application/json")

    async def fine(request: Request, body: bytes) -> Response:
        return JSONResponse({"results": [{"success": True}]})

    server.route("/broken", broken)
    server.route("/ok", fine)
    conn = connector(server, tmp_path)
    results = write(conn, batch_with({"to": "/broken"}), "batch", path="{{ to }}",
                    query={"sig": "abc"}, results="results", max_batch=1)
    error = results[1]
    assert isinstance(error, RejectedError)
    assert f"POST {server.url}/broken?… answered 200" in str(error)
    assert "the answer is not JSON" in str(error) and "not retried" in str(error)
    assert_clean(error)
    assert results[0] is None and results[2] is None


def test_html_error_page(server: Server, tmp_path: Path) -> None:
    page = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
            b"<h1>Bad Gateway</h1><p>nginx</p></body></html>")

    async def gateway(request: Request, body: bytes) -> Response:
        return Response(page, status_code=502, media_type="text/html")

    async def login(request: Request, body: bytes) -> Response:
        return Response(b"<html><head><title>Sign in</title></head><form></form></html>",
                        media_type="text/html")

    server.route("/gateway", gateway)
    server.route("/login", login)
    conn = connector(server, tmp_path)
    results = write(conn, deliveries({"id": 1, "to": "/ok"}, {"id": 2, "to": "/gateway"},
                                     {"id": 3, "to": "/ok"}, {"id": 4, "to": "/login"}),
                    path="{{ to }}")
    assert results[0] is None and results[2] is None
    gateway_error, login_error = results[1], results[3]
    assert isinstance(gateway_error, RetriableError)
    assert f"POST {server.url}/gateway answered 502 Bad Gateway" in str(gateway_error)
    assert 'HTML page "502 Bad Gateway": Bad Gateway nginx' in str(gateway_error)
    assert "<h1>" not in str(gateway_error)
    assert isinstance(login_error, RetriableError)
    assert "answered 200 with an HTML page ('Sign in') where the API's answer was " \
           "expected" in str(login_error)
    # a source expecting JSON says the same
    server.seen.clear()
    async def read() -> None:
        src = conn.source(source_options(path="/login"))
        await src.open()
        try:
            async for _ in src.batches():
                pass
        finally:
            await src.close()

    with pytest.raises(RetriableError, match=r"HTML page .'Sign in'. where JSON was "
                                             r"expected"):
        asyncio.run(read())


def test_malformed_json_page_for_a_source(server: Server, tmp_path: Path) -> None:
    async def broken(request: Request, body: bytes) -> Response:
        return Response(b'[{"id": 1}, {"id": 2', media_type="application/json")

    server.route("/orders", broken)
    conn = connector(server, tmp_path)
    async def read() -> None:
        src = conn.source(source_options(path="/orders", query={"key": "x"}))
        await src.open()
        try:
            async for _ in src.batches():
                pass
        finally:
            await src.close()

    with pytest.raises(RetriableError) as caught:
        asyncio.run(read())
    assert f"GET {server.url}/orders?… answered 200 with malformed JSON" in str(caught.value)
    assert_clean(caught.value)


def _streamer(total: int, sent: list[int]) -> Any:
    async def big(request: Request, body: bytes) -> Response:
        chunk = b"x" * 65536

        async def chunks() -> Any:
            while sent[0] < total and not await request.is_disconnected():
                sent[0] += len(chunk)
                yield chunk

        return StreamingResponse(chunks(), media_type="application/json")

    return big


def test_50mb_answer_with_a_10mb_limit_is_cut_off(server: Server, tmp_path: Path) -> None:
    sent = [0]
    server.route("/big", _streamer(50_000_000, sent))

    async def fine(request: Request, body: bytes) -> Response:
        return JSONResponse([{"ok": True}])

    server.route("/ok", fine)
    conn = connector(server, tmp_path, max_response_size="10MB")
    results = write(conn, batch_with({"to": "/big"}), "batch", path="{{ to }}",
                    results="@", max_batch=1)
    error = results[1]
    assert isinstance(error, RejectedError)
    assert f"POST {server.url}/big: the answer is larger than max_response_size " \
           "(10.0 MB); stopped reading after" in str(error)
    assert results[0] is None and results[2] is None
    time.sleep(0.2)
    assert sent[0] < 30_000_000  # the server was stopped well before 50 MB


def test_announced_oversize_answer_is_not_read(server: Server, tmp_path: Path) -> None:
    async def announced(request: Request, body: bytes) -> Response:
        return Response(b"[]", headers={"Content-Length": "50000000"},
                        media_type="application/json")

    server.route("/announced", announced)
    conn = connector(server, tmp_path, max_response_size="10MB")
    async def look() -> Any:
        lookup = conn.lookup(lookup_options(path="/announced"))
        await lookup.open()
        try:
            return await lookup.get_many(["k"])
        finally:
            await lookup.close()

    with pytest.raises(RejectedError, match=r"it announced 50.0 MB"):
        asyncio.run(look())


def test_429_with_retry_after_seconds_and_date(server: Server, tmp_path: Path) -> None:
    when = email.utils.formatdate(time.time() + 90, usegmt=True)

    async def seconds(request: Request, body: bytes) -> Response:
        return JSONResponse({"errors": "Exceeded 2 calls per second"}, status_code=429,
                            headers={"Retry-After": "7"})

    async def date(request: Request, body: bytes) -> Response:
        return JSONResponse({}, status_code=429, headers={"Retry-After": when})

    server.route("/seconds", seconds)
    server.route("/date", date)
    conn = connector(server, tmp_path)
    results = write(conn, deliveries({"id": 1, "to": "/ok"}, {"id": 2, "to": "/seconds"},
                                     {"id": 3, "to": "/ok"}, {"id": 4, "to": "/date"}),
                    path="{{ to }}")
    assert results[0] is None and results[2] is None
    first, second = results[1], results[3]
    assert isinstance(first, RetriableError) and first.retry_after == 7
    assert f"POST {server.url}/seconds answered 429 Too Many Requests" in str(first)
    assert "Exceeded 2 calls per second" in str(first) and "wait 7s" in str(first)
    assert isinstance(second, RetriableError) and second.retry_after is not None
    assert 80 <= second.retry_after <= 91


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2.0") == 2.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412400.0) == 80.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


def test_503_and_other_5xx_are_retriable(server: Server, tmp_path: Path) -> None:
    async def unavailable(request: Request, body: bytes) -> Response:
        return Response(b"maintenance", status_code=503, headers={"Retry-After": "30"})

    async def boom(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "NullPointerException"}, status_code=500)

    server.route("/unavailable", unavailable)
    server.route("/boom", boom)
    conn = connector(server, tmp_path)
    results = write(conn, deliveries({"id": 1, "to": "/ok"}, {"id": 2, "to": "/unavailable"},
                                     {"id": 3, "to": "/ok"}, {"id": 4, "to": "/boom"}),
                    path="{{ to }}")
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RetriableError) and results[1].retry_after == 30
    assert "answered 503 Service Unavailable: maintenance" in str(results[1])
    assert isinstance(results[3], RetriableError) and results[3].retry_after is None
    assert "answered 500 Internal Server Error" in str(results[3])


def test_4xx_is_rejected_with_a_redacted_excerpt(server: Server, tmp_path: Path) -> None:
    async def invalid(request: Request, body: bytes) -> Response:
        return JSONResponse({"errors": {"title": ["can't be blank"]},
                             "echo": f"Bearer {TOKEN}", "access_token": "zzz-other"},
                            status_code=422, headers={"X-Request-Id": "req-77"})

    server.route("/invalid", invalid)
    conn = connector(server, tmp_path)
    results = write(conn, batch_with({"to": "/invalid"}), path="{{ to }}")
    error = results[1]
    assert isinstance(error, RejectedError)
    assert "answered 422 Unprocessable" in str(error)
    assert "can't be blank" in str(error)
    assert "zzz-other" not in str(error) and "********" in str(error)
    assert error.context["status"] == 422 and error.context["request_id"] == "req-77"
    assert_clean(error)
    assert_neighbours_ok(results, server)


def test_401_is_fatal_for_static_credentials(server: Server, tmp_path: Path) -> None:
    async def refuse(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "invalid token"}, status_code=401)

    server.route("/secure", refuse)
    conn = connector(server, tmp_path)
    with pytest.raises(FatalError, match=r"credentials were refused") as caught:
        write(conn, deliveries({"id": 1, "to": "/secure"}), path="{{ to }}")
    assert_clean(caught.value)


def test_403_rejects_the_message_unless_configured_fatal(server: Server,
                                                         tmp_path: Path) -> None:
    async def forbidden(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "no access to this order"}, status_code=403)

    server.route("/forbidden", forbidden)
    results = write(connector(server, tmp_path), batch_with({"to": "/forbidden"}),
                    path="{{ to }}")
    assert isinstance(results[1], RejectedError) and "403 Forbidden" in str(results[1])
    assert_neighbours_ok(results, server)
    with pytest.raises(FatalError):
        write(connector(server, tmp_path, auth_failure_status=[401, 403]),
              batch_with({"to": "/forbidden"}), path="{{ to }}")


# -- network ------------------------------------------------------------------------------

def test_timeout(server: Server, tmp_path: Path) -> None:
    async def slow(request: Request, body: bytes) -> Response:
        await asyncio.sleep(1.5)
        return JSONResponse({})

    server.route("/slow", slow)
    conn = connector(server, tmp_path, read_timeout="300ms")
    results = write(conn, batch_with({"to": "/slow"}), path="{{ to }}")
    error = results[1]
    assert isinstance(error, RetriableError)
    assert f"POST {server.url}/slow: no answer within read_timeout (0.3s)" in str(error)
    assert "idempotency_key" in (error.hint or "")
    assert_neighbours_ok(results, server)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused(server: Server, tmp_path: Path) -> None:
    port = _closed_port()
    dead = f"http://127.0.0.1:{port}/orders?key=abc"
    conn = connector(server, tmp_path)
    results = write(conn, deliveries({"id": 1, "to": "/ok"}, {"id": 2, "to": dead},
                                     {"id": 3, "to": "/ok"}, {"id": 4, "to": dead}),
                    path="{{ to }}")
    assert results[0] is None and results[2] is None
    refused, skipped = results[1], results[3]
    assert isinstance(refused, RetriableError)
    assert f"POST http://127.0.0.1:{port}/orders?…: cannot connect (connection refused)" \
        in str(refused)
    assert_clean(refused)
    # the same unreachable host is not tried again within the batch
    assert isinstance(skipped, RetriableError) and "was not sent" in str(skipped)
    assert [s.json()["id"] for s in server.seen] == [1, 3]


# -- egress -------------------------------------------------------------------------------

def test_redirect_to_a_forbidden_host_is_refused_before_sending(
        server: Server, other_server: Server, tmp_path: Path) -> None:
    target = f"http://localhost:{other_server.port}/steal?token=abc"

    async def redirect(request: Request, body: bytes) -> Response:
        return Response(status_code=307, headers={"Location": target})

    server.route("/redirect", redirect)
    conn = connector(server, tmp_path)
    results = write(conn, batch_with({"to": "/redirect"}), path="{{ to }}")
    error = results[1]
    assert isinstance(error, RejectedError)
    assert f"POST {server.url}/redirect was redirected; request to " \
           f"http://localhost:{other_server.port}/steal?… refused by the egress policy: " \
           "host 'localhost' is not allowed" in str(error)
    assert other_server.seen == []
    assert_neighbours_ok(results, server)


def test_redirect_to_a_name_that_resolves_inside_is_refused(
        server: Server, other_server: Server, tmp_path: Path) -> None:
    """The host is allowed by name, but it resolves to loopback, which is not listed."""
    async def redirect(request: Request, body: bytes) -> Response:
        return Response(status_code=302,
                        headers={"Location": f"http://localhost:{other_server.port}/x"})

    server.route("/redirect", redirect)
    # the base URL names the host: that origin is configuration and trusted, the same
    # name on another port is checked like any other target
    conn = connector(server, tmp_path, base_url=f"http://localhost:{server.port}")
    results = write(conn, batch_with({"to": "/redirect"}), method="GET", path="{{ to }}",
                    body="none")
    error = results[1]
    assert isinstance(error, RejectedError)
    assert "it resolves to 127.0.0.1, an internal address that is not listed" in str(error)
    assert other_server.seen == []
    assert results[0] is None and results[2] is None


def test_allowed_redirect_is_followed_without_credentials(
        server: Server, other_server: Server, tmp_path: Path) -> None:
    async def redirect(request: Request, body: bytes) -> Response:
        return Response(status_code=303,
                        headers={"Location": f"http://localhost:{other_server.port}/done"})

    async def same_origin(request: Request, body: bytes) -> Response:
        return Response(status_code=308, headers={"Location": "/ok"})

    server.route("/redirect", redirect)
    server.route("/moved", same_origin)
    conn = connector(server, tmp_path, allow_hosts=["localhost", "127.0.0.0/8"],
                     headers={"X-Api-Key": secret("hk-secret-1")})
    results = write(conn, deliveries({"id": 1, "to": "/redirect"}, {"id": 2, "to": "/moved"}),
                    path="{{ to }}", headers={"Cookie": "s=1", "X-Trace": "t-1"})
    assert results == [None, None]
    (done,) = other_server.seen
    assert done.method == "GET" and done.path == "/done"  # 303: GET, no body
    assert done.body == b"" and "content-type" not in done.headers
    # credentials stay with their origin; other headers go along
    for name in ("authorization", "x-api-key", "cookie"):
        assert name not in done.headers
    assert done.headers["x-trace"] == "t-1"
    first = server.seen[0]
    assert first.headers["x-api-key"] == "hk-secret-1" and first.headers["cookie"] == "s=1"
    moved = [s for s in server.seen if s.path == "/ok"]
    assert moved[0].method == "POST" and moved[0].json() == {"id": 2, "to": "/moved"}
    assert moved[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_templated_url_to_the_metadata_endpoint_is_refused(
        server: Server, other_server: Server, tmp_path: Path) -> None:
    conn = connector(server, tmp_path)
    results = write(conn, deliveries(
        {"id": 1, "callback": f"{server.url}/ok"},
        {"id": 2, "callback": "http://169.254.169.254/latest/meta-data/iam?x=1"},
        {"id": 3, "callback": f"http://localhost:{other_server.port}/hook"},
        {"id": 4, "callback": f"{server.url}/ok"}), path="{{ callback }}")
    assert results[0] is None and results[3] is None
    metadata, other = results[1], results[2]
    assert isinstance(metadata, RejectedError)
    assert "request to http://169.254.169.254/latest/meta-data/iam?… refused by the " \
           "egress policy: host '169.254.169.254' is not allowed" in str(metadata)
    assert isinstance(other, RejectedError) and "'localhost' is not allowed" in str(other)
    assert other_server.seen == []
    assert [s.json()["id"] for s in server.seen] == [1, 4]


def test_listed_metadata_range_is_still_refused_by_scheme(server: Server,
                                                          tmp_path: Path) -> None:
    conn = connector(server, tmp_path)
    results = write(conn, deliveries({"u": "file:///etc/passwd"}, {"u": "ftp://x/y"}),
                    path="{{ u }}")
    assert all(isinstance(r, RejectedError) for r in results)
    assert "scheme 'file' is not allowed" in str(results[0])
    assert server.seen == []
