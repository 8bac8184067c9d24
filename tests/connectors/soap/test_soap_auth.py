"""Credentials: WS-Security UsernameToken (text and digest) and HTTP Basic, checked by
the peer; wrong ones stop the run; the password never shows in errors or logs; and
``check()`` reports what it found."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pytest
from soap_peers import ViesService, make_connector, serve, vies_wsdl

from integrator.connectors.protocols.soap import SoapConnector
from integrator.errors import FatalError
from integrator.security.secrets import Redactor, Secret

PASSWORD = "s3cr3t-Pa55word"
SPLIT = {"countryCode": "{{ key[:2] }}", "vatNumber": "{{ key[2:] }}"}
ENDPOINT_PATH = "/taxation_customs/vies/services/checkVatService"


def connector(tmp_path: Path, url: str, **config: Any) -> SoapConnector:
    return make_connector(tmp_path, "vies", wsdl=str(vies_wsdl()),
                          endpoint=url + ENDPOINT_PATH, **config)


def secret(value: str = PASSWORD) -> Secret:
    return Secret(value, "VIES_PASSWORD", Redactor())


def lookup(conn: SoapConnector, keys: list[Hashable]) -> Mapping[Hashable, Any]:
    parsed = SoapConnector.lookup_options.parse(
        {"operation": "checkVat", "arguments": SPLIT}, "t")

    async def run() -> Mapping[Hashable, Any]:
        role = conn.lookup(parsed)
        await role.open()
        try:
            return await role.get_many(keys)
        finally:
            await role.close()

    return asyncio.run(run())


@pytest.mark.parametrize(("auth", "mode"), [("wsse-text", "text"),
                                            ("wsse-digest", "digest")])
def test_username_token_is_accepted(tmp_path: Path, auth: str, mode: str,
                                    caplog: pytest.LogCaptureFixture) -> None:
    service = ViesService(wsse=("integration", PASSWORD))
    with serve(service) as url, caplog.at_level(logging.DEBUG):
        found = lookup(connector(tmp_path, url, auth=auth, username="integration",
                                 password=secret()), ["PL5260250274", "DE811569869"])
    assert found["PL5260250274"]["valid"] is True and len(found) == 2
    assert [c["wsse"] for c in service.calls] == [mode, mode]
    assert PASSWORD not in caplog.text  # zeep's transport logging never sees envelopes


@pytest.mark.parametrize("auth", ["wsse-text", "wsse-digest"])
def test_a_wrong_password_stops_the_run_without_showing_it(
        tmp_path: Path, auth: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wr0ng-Pa55word"
    service = ViesService(wsse=("integration", PASSWORD))
    with serve(service) as url, caplog.at_level(logging.DEBUG), \
            pytest.raises(FatalError) as info:
        lookup(connector(tmp_path, url, auth=auth, username="integration",
                         password=secret(wrong)), ["PL5260250274"])
    assert "refused the credentials" in str(info.value)
    assert info.value.context["faultcode"] == "wsse:FailedAuthentication"
    assert wrong not in str(info.value) and wrong not in repr(info.value.context)
    assert wrong not in caplog.text
    assert service.calls and all(c["wsse"] is None for c in service.calls)


def test_http_basic_auth(tmp_path: Path) -> None:
    service = ViesService(basic=("integration", PASSWORD))
    with serve(service) as url:
        good = lookup(connector(tmp_path, url, auth="basic", username="integration",
                                password=secret()), ["PL5260250274"])
        with pytest.raises(FatalError, match="answered 401") as info:
            lookup(connector(tmp_path, url, auth="basic", username="integration",
                             password=secret("nope-nope")), ["PL5260250274"])
    assert good["PL5260250274"]["valid"] is True
    assert info.value.context["auth"] is True


@pytest.mark.parametrize(("config", "problem"), [
    ({"auth": "wsse-text", "username": "u"}, "auth wsse-text needs password"),
    ({"auth": "basic", "password": "p"}, "auth basic needs username"),
    ({"username": "u", "password": "p"}, "auth is none"),
    ({"endpoint": "ec.europa.eu/vies"}, "not an http(s) URL"),
    ({"allow_ports": ["443"]}, "list of port numbers"),
])
def test_lint_finds_option_combinations_that_cannot_work(config: dict[str, Any],
                                                         problem: str) -> None:
    problems = SoapConnector.check_config({"wsdl": "x.wsdl", **config})
    assert any(problem in p.message for p in problems), problems


def test_the_password_option_is_secret_and_hidden_in_repr() -> None:
    option = SoapConnector.spec.get("password")
    assert option is not None and option.secret
    config = SoapConnector.spec.parse({"wsdl": "x.wsdl", "auth": "basic", "username": "u",
                                       "password": secret()}, "t")
    assert PASSWORD not in repr(config)


# ------------------------------------------------------------------------------ check


def check(conn: SoapConnector) -> tuple[str, str]:
    result = asyncio.run(conn.check())
    return result.status, result.detail


def test_check_ok_names_the_port_and_operations(tmp_path: Path) -> None:
    service = ViesService()
    with serve(service) as url:
        status, detail = check(connector(tmp_path, url))
    assert status == "ok", detail
    assert "service checkVatService, port checkVatPort" in detail
    assert "operations checkVat, checkVatApprox" in detail
    assert "answered 405" in detail  # VIES refuses GET; reachable is what counts
    assert service.gets == 1 and service.calls == []  # nothing was called


def test_check_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, detail = check(connector(tmp_path, f"http://127.0.0.1:{port}"))
    assert status == "unreachable" and "ConnectError" in detail


def test_check_auth_failed_with_basic(tmp_path: Path) -> None:
    with serve(ViesService(basic=("integration", PASSWORD))) as url:
        status, detail = check(connector(tmp_path, url, auth="basic",
                                         username="integration",
                                         password=secret("wrong-one")))
    assert status == "auth-failed" and "401" in detail
    assert "wrong-one" not in detail


def test_check_auth_failed_when_the_wsdl_needs_credentials(tmp_path: Path) -> None:
    with serve(ViesService(basic=("integration", PASSWORD))) as url:
        conn = make_connector(tmp_path, wsdl=f"{url}/svc?wsdl")
        status, detail = check(conn)
    assert status == "auth-failed" and "401" in detail


@pytest.mark.parametrize(("config", "needle"), [
    ({"wsdl": "missing.wsdl"}, "no such file"),
    ({"service": "nope"}, "no service 'nope'"),
    ({"endpoint": None, "allow_schemes": ["http"]}, "host 'ec.europa.eu' is not allowed"),
])
def test_check_misconfigured(tmp_path: Path, config: dict[str, Any], needle: str) -> None:
    base: dict[str, Any] = {"wsdl": str(vies_wsdl()), "endpoint": "http://127.0.0.1:9/x"}
    status, detail = check(make_connector(tmp_path, **{**base, **config}))
    assert status == "misconfigured" and needle in detail


def test_connector_is_registered_and_its_spec_loads_without_zeep() -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from integrator.connectors.registry import default_registry\n"
            "cls = default_registry().get('soap')\n"
            "assert cls.roles() == ['sink', 'lookup'], cls.roles()\n"
            "assert cls.spec.json_schema()['required'] == ['wsdl']\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('zeep', 'httpx', 'lxml')]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
