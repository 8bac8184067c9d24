"""TLS against a real HTTPS server on 127.0.0.1 with certificates made for the test."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_support import (
    Pki,
    Server,
    deliveries,
    make_connector,
    make_pki,
    write,
)

from integrator.errors import FatalError, RejectedError, RetriableError


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https(pki: Pki) -> Iterator[Server]:
    s = Server(ssl_context=pki.server_context()).start()
    yield s
    s.stop()


def serve(context: ssl.SSLContext) -> Server:
    return Server(ssl_context=context).start()


def test_refused_without_the_ca(https: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": https.url}, tmp_path)
    with pytest.raises(FatalError) as caught:
        write(conn, deliveries({"id": 1}), path="/orders")
    text = str(caught.value)
    assert f"POST {https.url}/orders: TLS failed" in text
    assert "certificate verify failed" in text or "unable to get local issuer" in text
    assert "ca_bundle" in (caught.value.hint or "")
    assert https.seen == []


def test_accepted_with_the_ca(https: Server, pki: Pki, tmp_path: Path) -> None:
    conn = make_connector({"base_url": https.url, "ca_bundle": str(pki.ca)}, tmp_path)
    assert write(conn, deliveries({"id": 1}, {"id": 2}), path="/orders") == [None, None]
    assert [s.json() for s in https.seen] == [{"id": 1}, {"id": 2}]


def test_ca_bundle_relative_to_the_workdir(https: Server, pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(pki.ca.read_bytes())
    conn = make_connector({"base_url": https.url, "ca_bundle": "certs/ca.pem"}, tmp_path)
    assert write(conn, deliveries({"id": 1})) == [None]


def test_verification_can_be_turned_off(https: Server, tmp_path: Path) -> None:
    conn = make_connector({"base_url": https.url, "verify_tls": False}, tmp_path)
    assert write(conn, deliveries({"id": 1})) == [None]


def test_untrusted_certificate_at_a_templated_host_rejects_only_that_message(
        https: Server, pki: Pki, tmp_path: Path) -> None:
    other = serve(pki.server_context(untrusted=True))
    try:
        conn = make_connector({"base_url": https.url, "ca_bundle": str(pki.ca),
                               "allow_hosts": ["127.0.0.1"]}, tmp_path)
        bad = f"{other.url}/hook?sig=abc"
        results = write(conn, deliveries({"id": 1, "to": "/ok"}, {"id": 2, "to": bad},
                                         {"id": 3, "to": "/ok"}), path="{{ to }}")
        assert results[0] is None and results[2] is None
        error = results[1]
        assert isinstance(error, RejectedError)
        assert f"POST {other.url}/hook?…: TLS failed" in str(error)
        assert "sig=abc" not in str(error)
        assert other.seen == []
        assert [s.json()["id"] for s in https.seen] == [1, 3]
    finally:
        other.stop()


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_client_certificate_required(pki: Pki, tmp_path: Path, tls: str) -> None:
    top = ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
    server = serve(pki.server_context(client_cert=True, max_version=top))
    try:
        without = make_connector({"base_url": server.url, "ca_bundle": str(pki.ca)},
                                 tmp_path)
        if tls == "1.2":  # the handshake itself fails
            with pytest.raises(FatalError, match=r"TLS failed"):
                write(without, deliveries({"id": 1}))
        else:
            # TLS 1.3 refuses after the handshake: the client sees either the alert or
            # a connection closed without an answer, whose hint names client_cert
            try:
                results = write(without, deliveries({"id": 1}))
            except FatalError as exc:
                assert "TLS failed" in str(exc)
            else:
                assert isinstance(results[0], RetriableError)
                assert "client_cert" in (results[0].hint or "")
        assert server.seen == []
        with_cert = make_connector({"base_url": server.url, "ca_bundle": str(pki.ca),
                                    "client_cert": str(pki.client_cert),
                                    "client_key": str(pki.client_key)}, tmp_path)
        assert write(with_cert, deliveries({"id": 1})) == [None]
        assert len(server.seen) == 1
    finally:
        server.stop()


def test_missing_client_key_file_is_a_clear_fatal_error(https: Server, pki: Pki,
                                                       tmp_path: Path) -> None:
    conn = make_connector({"base_url": https.url, "ca_bundle": str(pki.ca),
                           "client_cert": str(pki.client_cert),
                           "client_key": "nope/client.key"}, tmp_path)
    with pytest.raises(FatalError, match=r"cannot load client_cert .* / client_key"):
        write(conn, deliveries({"id": 1}))


def test_minimum_tls_version_13(pki: Pki, tmp_path: Path) -> None:
    only12 = serve(pki.server_context(max_version=ssl.TLSVersion.TLSv1_2))
    any_version = serve(pki.server_context())
    try:
        def config(server: Server, version: Any) -> dict[str, Any]:
            return {"base_url": server.url, "ca_bundle": str(pki.ca),
                    "min_tls_version": version}

        # 1.2 is accepted by default
        assert write(make_connector(config(only12, "1.2"), tmp_path),
                     deliveries({"id": 1})) == [None]
        # with 1.3 required, a server that stops at 1.2 is refused before any request
        only12.seen.clear()
        with pytest.raises(FatalError, match=r"TLS failed") as caught:
            write(make_connector(config(only12, 1.3), tmp_path), deliveries({"id": 1}))
        assert "min_tls_version" in (caught.value.hint or "")
        assert only12.seen == []
        # and a server that speaks 1.3 is fine
        assert write(make_connector(config(any_version, "1.3"), tmp_path),
                     deliveries({"id": 1})) == [None]
    finally:
        only12.stop()
        any_version.stop()


def test_check_reports_tls_failure(https: Server, pki: Pki, tmp_path: Path) -> None:
    bad = asyncio.run(make_connector({"base_url": https.url}, tmp_path).check())
    assert bad.status == "misconfigured" and "TLS failed" in bad.detail
    good = asyncio.run(make_connector({"base_url": https.url, "ca_bundle": str(pki.ca)},
                                      tmp_path).check())
    assert good.status == "ok", good.detail
