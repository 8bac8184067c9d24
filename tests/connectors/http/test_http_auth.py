"""Auth strategies against a real server that checks credentials and issues tokens."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from http_support import (
    Server,
    deliveries,
    make_connector,
    running,
    secret,
    sink_options,
    write,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrator.connectors.state import MemoryStateStore
from integrator.errors import FatalError, RejectedError, RetriableError
from integrator.security.secrets import Redactor


@pytest.fixture
def server() -> Iterator[Server]:
    with running() as s:
        yield s


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


# -- static credentials ------------------------------------------------------------------

def test_basic_auth(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url, "auth": {
        "type": "basic", "username": "integrator", "password": secret("pässwörd")}},
        tmp_path)
    assert write(conn, deliveries({"id": 1})) == [None]
    header = server.seen[0].headers["authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == "integrator:pässwörd"


def test_bearer_auth(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url,
                           "auth": {"type": "bearer", "token": secret("abc.def")}}, tmp_path)
    write(conn, deliveries({"id": 1}))
    assert server.seen[0].headers["authorization"] == "Bearer abc.def"


def test_api_key_in_a_header(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url, "auth": {
        "type": "api_key", "name": "X-Shopify-Access-Token", "value": secret("shpat_1")}},
        tmp_path)
    write(conn, deliveries({"id": 1}))
    assert server.seen[0].headers["x-shopify-access-token"] == "shpat_1"
    assert "authorization" not in server.seen[0].headers


def test_api_key_in_the_query_never_shows_in_errors(server: Server, tmp_path: Path) -> None:
    async def refuse(request: Request, body: bytes) -> Response:
        return JSONResponse({"error": "bad order"}, status_code=400)

    server.route("/bad", refuse)
    conn = make_connector({"base_url": server.url, "auth": {
        "type": "api_key", "name": "apikey", "value": secret("k-123456"), "in": "query"}},
        tmp_path)
    results = write(conn, deliveries({"to": "/ok"}, {"to": "/bad"}), path="{{ to }}",
                    query={"market": "PL"})
    assert results[0] is None
    assert server.seen[0].query == {"market": "PL", "apikey": "k-123456"}
    assert isinstance(results[1], RejectedError)
    assert "k-123456" not in str(results[1]) and "apikey" not in str(results[1])
    assert f"POST {server.url}/bad?… answered 400" in str(results[1])


def test_static_headers_may_be_secrets(server: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": server.url,
                           "headers": {"X-Api-Key": secret("hdr-secret"), "X-Plain": "1"}},
                          tmp_path)
    write(conn, deliveries({"id": 1}))
    assert server.seen[0].headers["x-api-key"] == "hdr-secret"
    assert server.seen[0].headers["x-plain"] == "1"


# -- OAuth2 -------------------------------------------------------------------------------

class TokenServer:
    """Issues tokens at /oauth/token and accepts only the latest at /api/*."""

    def __init__(self, server: Server, *, expires_in: Any = 3600,
                 rotate_refresh: bool = False) -> None:
        self.server = server
        self.expires_in = expires_in
        self.rotate_refresh = rotate_refresh
        self.issued: list[str] = []
        self.refresh_tokens = ["rt-0"]
        self.valid: set[str] = set()
        self.token_requests: list[dict[str, str]] = []
        self.token_headers: list[dict[str, str]] = []
        self.refuse_all = False
        self.token_status = 200
        server.route("/oauth/token", self.token)
        server.default = self.api

    async def token(self, request: Request, body: bytes) -> Response:
        data = form(body)
        self.token_requests.append(data)
        self.token_headers.append(dict(request.headers))
        if self.token_status != 200:
            return JSONResponse({"error": "temporarily_unavailable"},
                                status_code=self.token_status)
        if data.get("grant_type") == "refresh_token":
            if data.get("refresh_token") != self.refresh_tokens[-1]:
                return JSONResponse({"error": "invalid_grant",
                                     "error_description": "refresh token revoked"},
                                    status_code=400)
        elif data.get("client_secret", "cs-1") != "cs-1" and "authorization" not in \
                request.headers:
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "bad secret"}, status_code=401)
        token = f"at-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid = {token}
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        if self.rotate_refresh:
            self.refresh_tokens.append(f"rt-{len(self.refresh_tokens)}")
            answer["refresh_token"] = self.refresh_tokens[-1]
        return JSONResponse(answer)

    async def api(self, request: Request, body: bytes) -> Response:
        auth = request.headers.get("authorization", "")
        if self.refuse_all or auth.removeprefix("Bearer ") not in self.valid:
            return JSONResponse({"error": f"invalid token {auth}"}, status_code=401)
        return JSONResponse({"ok": True})

    def api_calls(self) -> list[Any]:
        return [s for s in self.server.seen if s.path != "/oauth/token"]


def oauth(server: Server, **extra: Any) -> dict[str, Any]:
    return {"base_url": server.url + "/api", "auth": {
        "type": "oauth2_client_credentials", "token_url": server.url + "/oauth/token",
        "client_id": "integrator", "client_secret": secret("cs-1"), **extra}}


def test_client_credentials_token_is_fetched_once_and_cached(server: Server,
                                                             tmp_path: Path) -> None:
    tokens = TokenServer(server)
    conn = make_connector(oauth(server, scope=["orders.read", "orders.write"],
                                audience="erp"), tmp_path)
    assert write(conn, deliveries(*[{"n": i} for i in range(5)])) == [None] * 5
    assert write(conn, deliveries({"n": 5})) == [None]  # a new sink, same connection
    assert tokens.token_requests == [{"grant_type": "client_credentials",
                                      "client_id": "integrator", "client_secret": "cs-1",
                                      "scope": "orders.read orders.write",
                                      "audience": "erp"}]
    assert {c.headers["authorization"] for c in tokens.api_calls()} == {"Bearer at-1"}


def test_client_secret_in_basic_header(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server)
    conn = make_connector(oauth(server, client_auth="basic"), tmp_path)
    assert write(conn, deliveries({"n": 1})) == [None]
    (request,) = tokens.token_requests
    assert request == {"grant_type": "client_credentials"}
    basic = tokens.token_headers[0]["authorization"]
    assert base64.b64decode(basic.removeprefix("Basic ")).decode() == "integrator:cs-1"


def test_token_is_refreshed_before_it_expires(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server, expires_in=1)  # skew becomes half the lifetime: 0.5s
    conn = make_connector(oauth(server), tmp_path)

    async def main() -> None:
        sink = conn.sink("request", sink_options())
        await sink.open()
        assert await sink.write_batch(deliveries({"n": 1})) is None
        await asyncio.sleep(0.6)
        assert await sink.write_batch(deliveries({"n": 2})) is None
        await sink.close()

    asyncio.run(main())
    assert len(tokens.token_requests) == 2
    assert [c.headers["authorization"] for c in tokens.api_calls()] == [
        "Bearer at-1", "Bearer at-2"]


def test_token_is_refreshed_once_after_a_401(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server, expires_in=None)  # no expiry given: valid until refused
    conn = make_connector(oauth(server), tmp_path)

    async def main() -> None:
        sink = conn.sink("request", sink_options())
        await sink.open()
        assert await sink.write_batch(deliveries({"n": 1})) is None
        tokens.valid = set()  # the API revokes at-1
        assert await sink.write_batch(deliveries({"n": 2}, {"n": 3})) is None
        await sink.close()

    asyncio.run(main())
    assert len(tokens.token_requests) == 2
    calls = [(c.json()["n"], c.headers["authorization"]) for c in tokens.api_calls()]
    assert calls == [(1, "Bearer at-1"), (2, "Bearer at-1"), (2, "Bearer at-2"),
                     (3, "Bearer at-2")]


def test_second_401_after_refresh_is_fatal(server: Server, tmp_path: Path) -> None:
    redactor = Redactor()
    tokens = TokenServer(server)
    tokens.refuse_all = True
    conn = make_connector(oauth(server), tmp_path, redactor=redactor)
    with pytest.raises(FatalError) as caught:
        write(conn, deliveries({"n": 1}, {"n": 2}))
    text = str(caught.value)
    assert f"POST {server.url}/api answered 401 Unauthorized" in text
    assert "credentials were refused even after a fresh token was fetched" in text
    assert "at-2" not in text and "********" in text  # the echoed token is masked
    assert len(tokens.token_requests) == 2
    assert len(tokens.api_calls()) == 2  # one message, sent twice; the run stops


def test_token_endpoint_refusing_the_client_is_fatal(server: Server, tmp_path: Path) -> None:
    TokenServer(server)
    config = oauth(server)
    config["auth"]["client_secret"] = secret("wrong-secret")
    conn = make_connector(config, tmp_path)
    with pytest.raises(FatalError) as caught:
        write(conn, deliveries({"n": 1}))
    assert f"token endpoint {server.url}/oauth/token refused the credentials (401, " \
           "invalid_client: bad secret)" in str(caught.value)
    assert "wrong-secret" not in str(caught.value)
    assert caught.value.context["auth"] is True


def test_token_endpoint_down_is_retriable_and_skips_the_batch(server: Server,
                                                              tmp_path: Path) -> None:
    tokens = TokenServer(server)
    tokens.token_status = 503
    conn = make_connector(oauth(server), tmp_path)
    results = write(conn, deliveries({"n": 1}, {"n": 2}, {"n": 3}))
    assert all(isinstance(r, RetriableError) for r in results)
    assert "token endpoint" in str(results[0]) and "503" in str(results[0])
    assert "was not sent" in str(results[1])
    assert len(tokens.token_requests) == 1 and tokens.api_calls() == []


def test_concurrent_requests_share_one_token_fetch(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server)
    conn = make_connector(oauth(server), tmp_path)

    async def main() -> None:
        sinks = [conn.sink("request", sink_options()) for _ in range(6)]
        for s in sinks:
            await s.open()
        results = await asyncio.gather(*(s.write_batch(deliveries({"n": i}))
                                         for i, s in enumerate(sinks)))
        assert results == [None] * 6
        for s in sinks:
            await s.close()

    asyncio.run(main())
    assert len(tokens.token_requests) == 1


def refresh_config(server: Server, token: str = "rt-0") -> dict[str, Any]:
    return {"base_url": server.url + "/api", "auth": {
        "type": "oauth2_refresh_token", "token_url": server.url + "/oauth/token",
        "refresh_token": secret(token), "client_id": "integrator",
        "client_secret": secret("cs-1")}}


def test_rotated_refresh_token_is_kept_in_the_state(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server, rotate_refresh=True)
    state = MemoryStateStore()
    first = make_connector(refresh_config(server), tmp_path, state=state)
    assert write(first, deliveries({"n": 1})) == [None]
    assert tokens.token_requests[0]["refresh_token"] == "rt-0"
    stored = state.values["api/oauth2_refresh_token"]
    assert stored["token"] == "rt-1" and len(stored["seed"]) == 16
    # a new process: the configured rt-0 is revoked, the stored rt-1 works
    second = make_connector(refresh_config(server), tmp_path, state=state)
    assert write(second, deliveries({"n": 2})) == [None]
    assert tokens.token_requests[1]["refresh_token"] == "rt-1"
    assert state.values["api/oauth2_refresh_token"]["token"] == "rt-2"
    # an operator configures a fresh refresh token: the old rotation is ignored
    tokens.refresh_tokens.append("rt-new")
    third = make_connector(refresh_config(server, "rt-new"), tmp_path, state=state)
    assert write(third, deliveries({"n": 3})) == [None]
    assert tokens.token_requests[2]["refresh_token"] == "rt-new"


def test_revoked_refresh_token_is_fatal(server: Server, tmp_path: Path) -> None:
    TokenServer(server, rotate_refresh=True)
    conn = make_connector(refresh_config(server, "rt-stale"), tmp_path)
    with pytest.raises(FatalError, match=r"refused the credentials \(400, invalid_grant: "
                                         r"refresh token revoked\)") as caught:
        write(conn, deliveries({"n": 1}))
    assert "rt-stale" not in str(caught.value)


def test_check_reports_auth_failed_and_ok(server: Server, tmp_path: Path) -> None:
    tokens = TokenServer(server)
    ok = asyncio.run(make_connector({**oauth(server), "health_path": "/me"},
                                    tmp_path).check())
    assert ok.status == "ok" and "GET" in ok.detail and "/api/me answered 200" in ok.detail
    tokens.refuse_all = True
    refused = asyncio.run(make_connector({**oauth(server), "health_path": "/me"},
                                         tmp_path).check())
    assert refused.status == "auth-failed"
    tokens.refuse_all = False
    bad = oauth(server, client_secret=secret("nope"))
    failed = asyncio.run(make_connector({**bad, "health_path": "/me"}, tmp_path).check())
    assert failed.status == "auth-failed" and "invalid_client" in failed.detail


def test_check_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = asyncio.run(make_connector({"base_url": f"http://127.0.0.1:{port}"},
                                        tmp_path).check())
    assert result.status == "unreachable" and "connection refused" in result.detail
    assert time.monotonic() - started < 30  # bounded (connect refused is immediate)


def test_auth_config_problems_are_all_reported() -> None:
    from integrator.connectors.protocols.http import HttpConnector

    problems = HttpConnector.check_config({
        "base_url": "ftp://x", "min_tls_version": "1.1",
        "auth": {"type": "oauth2_client_credential", "client_id": "x"}})
    messages = [p.message for p in problems]
    assert any("base_url 'ftp://x' must be an http" in m for m in messages)
    assert any("min_tls_version must be 1.2 or 1.3" in m for m in messages)
    assert any("auth.type must be one of" in m and "did you mean" in m.lower()
               for m in messages)
    problems = HttpConnector.check_config({"base_url": "https://x", "auth": {
        "type": "basic", "username": "u", "pasword": "p"}})
    messages = [p.message for p in problems]
    assert "auth (basic) needs password" in messages
    assert any("no field 'pasword'" in m and "password" in m for m in messages)


def test_configured_secrets_are_masked_in_excerpts(server: Server, tmp_path: Path) -> None:
    """Even a Secret the run's redactor has not seen yet: the connector registers it."""
    async def echo(request: Request, body: bytes) -> Response:
        return JSONResponse({"message": f"bad key {request.headers['x-api-key']}"},
                            status_code=400)

    server.route("/echo", echo)
    conn = make_connector({"base_url": server.url,
                           "headers": {"X-Api-Key": secret("hdr-5ecret-77")}}, tmp_path)
    (error,) = write(conn, deliveries({"id": 1}), path="/echo")
    assert isinstance(error, RejectedError)
    assert "hdr-5ecret-77" not in str(error) and "bad key ********" in str(error)
