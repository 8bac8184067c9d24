"""Helpers of the testing kit: loopback servers, free ports, the service rule."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import integrator.testing as kit
from integrator.testing import AppServer, free_port, require_service, serve_app


def counting_app() -> Starlette:
    hits: list[str] = []

    async def hit(request: Request) -> JSONResponse:
        hits.append(request.url.path)
        return JSONResponse({"hits": len(hits)})

    return Starlette(routes=[Route("/hit", hit)])


def test_serve_app_serves_on_loopback_and_restarts_on_the_same_port() -> None:
    with serve_app(counting_app()) as server:
        assert server.url.startswith("http://127.0.0.1:")
        port = server.port
        assert port > 0
        assert httpx.get(f"{server.url}/hit", trust_env=False).json() == {"hits": 1}
        server.restart()
        assert server.port == port
        # the app object (and its state) outlives the restart
        assert httpx.get(f"{server.url}/hit", trust_env=False).json() == {"hits": 2}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/hit", trust_env=False)


def test_a_stopped_server_refuses_until_started_again() -> None:
    server = AppServer(counting_app())
    server.start()
    try:
        server.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/hit", trust_env=False)
        server.start()
        assert httpx.get(f"{server.url}/hit", trust_env=False).json() == {"hits": 1}
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    server.stop()  # idempotent


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_require_service_returns_when_the_service_answers(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("CI", "true")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        require_service("Toy", "127.0.0.1", listener.getsockname()[1])


def test_require_service_skips_when_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("INTEGRATOR_REQUIRE_SERVICES", raising=False)
    port = free_port()
    with pytest.raises(pytest.skip.Exception) as info:
        require_service("PostgreSQL", "127.0.0.1", port)
    assert str(info.value).startswith(f"PostgreSQL not reachable on 127.0.0.1:{port}")


@pytest.mark.parametrize(("name", "value"), [("CI", "true"),
                                             ("INTEGRATOR_REQUIRE_SERVICES", "1")])
def test_require_service_fails_when_services_are_required(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv(name, value)
    port = free_port()
    with pytest.raises(pytest.fail.Exception) as info:
        require_service("RabbitMQ", "127.0.0.1", port)
    assert f"RabbitMQ not reachable on 127.0.0.1:{port}" in str(info.value)


def test_public_names_match_all() -> None:
    public = {n for n in vars(kit) if not n.startswith("_")} - {
        "annotations", "conformance", "peer", "servers", "services"}
    assert public == set(kit.__all__)


def test_the_howto_in_the_module_docstring_names_every_check(tmp_path: Path) -> None:
    doc = kit.__doc__ or ""
    tests = [n for n in dir(kit.ConnectorConformance) if n.startswith("test_")]
    assert tests and all(f"``{n}``" in doc for n in tests)
