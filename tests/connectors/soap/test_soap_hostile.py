"""Hostile answers and hostile WSDLs: refused fast, with no file read, no request sent,
and bounded memory — proven with a canary file (inotify) and a canary HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from soap_peers import (
    SOAP_ENV,
    FileWatch,
    NetworkAudit,
    Reply,
    Scripted,
    canary_server,
    make_connector,
    serve,
    vies_response,
    vies_wsdl,
)

from integrator.connectors.base import Delivery
from integrator.connectors.protocols.soap import SoapConnector
from integrator.errors import FatalError, IntegratorError, RejectedError
from integrator.message import IdFactory, Message

CHECK = {"countryCode": "PL", "vatNumber": "5260250274"}
BODY = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        '<checkVatResponse xmlns="urn:ec.europa.eu:taxud:vies:services:checkVat:types">'
        "<countryCode>PL</countryCode><vatNumber>{x}</vatNumber>"
        "<requestDate>2024-05-01</requestDate><valid>true</valid>"
        "</checkVatResponse></soap:Body></soap:Envelope>")


@pytest.fixture()
def canary_file(tmp_path: Path) -> Iterator[tuple[Path, FileWatch]]:
    path = tmp_path / "canary.txt"
    path.write_text("CANARY-FILE-CONTENT")
    try:
        watch = FileWatch(path)
    except OSError as exc:
        pytest.skip(f"no inotify here: {exc}")
    try:
        yield path, watch
    finally:
        watch.close()


def write(conn: SoapConnector, payloads: list[Any]) -> list[IntegratorError | None] | None:
    parsed = SoapConnector.actions["call"].options.parse({"operation": "checkVat"}, "t")
    ids = IdFactory()

    async def run() -> list[IntegratorError | None] | None:
        sink = conn.sink("call", parsed)
        await sink.open()
        try:
            return await sink.write_batch([Delivery(p, Message(p, ids, {}, None))
                                           for p in payloads])
        finally:
            await sink.close()

    return asyncio.run(run())


def hostile_bodies(canary: Path, canary_url: str) -> dict[str, bytes]:
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return {
        "file entity": (decl + f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{canary}">]>'
                        + BODY.format(x="&x;")).encode(),
        "parameter entity over http": (
            decl + f'<!DOCTYPE e [<!ENTITY % p SYSTEM "{canary_url}/p.dtd"> %p;]>'
            + BODY.format(x="&exfil;")).encode(),
        "external DTD": (decl + f'<!DOCTYPE e SYSTEM "{canary_url}/e.dtd">'
                         + BODY.format(x="1")).encode(),
        "billion laughs": (decl + "<!DOCTYPE e [<!ENTITY a \"aaaaaaaaaa\">"
                           + "".join(f'<!ENTITY {chr(98 + i)} "'
                                     + f"&{chr(97 + i)};" * 10 + '">' for i in range(9))
                           + "]>" + BODY.format(x="&j;")).encode(),
        "utf-16 file entity": (
            '<?xml version="1.0" encoding="UTF-16"?>'
            f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{canary}">]>'
            + BODY.format(x="&x;")).encode("utf-16"),
        "DOCTYPE after a comment": (
            decl + "<!-- harmless -->\n"
            f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{canary}">]>'
            + BODY.format(x="&x;")).encode(),
    }


@pytest.mark.parametrize("kind", ["file entity", "parameter entity over http",
                                  "external DTD", "billion laughs", "utf-16 file entity",
                                  "DOCTYPE after a comment"])
@pytest.mark.parametrize("status", ["200 OK", "500 Internal Server Error"])
def test_hostile_answers_are_refused_unread(
        tmp_path: Path, canary_file: tuple[Path, FileWatch], kind: str,
        status: str) -> None:
    canary, watch = canary_file
    with canary_server() as (canary_url, hits):
        body = hostile_bodies(canary, canary_url)[kind]
        server = Scripted(Reply(status, body), Reply(body=vies_response()))
        with serve(server) as url:
            conn = make_connector(tmp_path, wsdl=str(vies_wsdl()), endpoint=url)
            with NetworkAudit.recording() as events:
                results = write(conn, [CHECK, CHECK])
        assert hits == []  # the canary server got nothing
    assert results is not None
    refused, next_one = results
    assert isinstance(refused, RejectedError)
    assert "declares a DOCTYPE" in str(refused) and "refused unread" in str(refused)
    assert "CANARY" not in str(refused)
    assert next_one is None  # the following message went through normally
    assert watch.events() == []  # the canary file was never opened nor read
    port = url.rsplit(":", 1)[1]
    connects = [target for event, target in events if event == "socket.connect"]
    assert connects and all(port in target for target in connects)


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_answers_are_cut_off(tmp_path: Path, chunked: bool) -> None:
    huge = BODY.format(x="1" * 2_000_000).encode()
    server = Scripted(Reply(body=huge, chunked=chunked), Reply(body=vies_response()))
    with serve(server) as url:
        conn = make_connector(tmp_path, wsdl=str(vies_wsdl()), endpoint=url,
                              max_response_size="64KB")
        results = write(conn, [CHECK, CHECK])
    assert results is not None
    assert isinstance(results[0], RejectedError)
    assert "larger than 64 KB" in str(results[0])
    assert results[1] is None


# ------------------------------------------------------------------------------ WSDLs


def wsdl_with(text_before_types: str, imports: str = "") -> str:
    """The saved VIES WSDL with a prolog and/or schema imports spliced in."""
    source = vies_wsdl().read_text(encoding="utf-8")
    head, rest = source.split("\n", 1)
    if imports:
        rest = rest.replace('<xsd:element name="checkVat">', imports
                            + '<xsd:element name="checkVat">', 1)
    return head + "\n" + text_before_types + rest


def open_sink(conn: SoapConnector) -> None:
    parsed = SoapConnector.actions["call"].options.parse({"operation": "checkVat"}, "t")

    async def run() -> None:
        sink = conn.sink("call", parsed)
        await sink.open()
        await sink.close()

    asyncio.run(run())


def test_a_wsdl_with_a_doctype_is_refused(
        tmp_path: Path, canary_file: tuple[Path, FileWatch]) -> None:
    canary, watch = canary_file
    (tmp_path / "evil.wsdl").write_text(wsdl_with(
        f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{canary}">]>\n'))
    with pytest.raises(FatalError, match="declares a DOCTYPE"):
        open_sink(make_connector(tmp_path, wsdl="evil.wsdl", endpoint="http://127.0.0.1:9/"))
    assert watch.events() == []


def test_network_imports_in_a_wsdl_are_refused(tmp_path: Path) -> None:
    with canary_server() as (canary_url, hits):
        (tmp_path / "import.wsdl").write_text(wsdl_with("", (
            f'<xsd:import namespace="urn:x" schemaLocation="{canary_url}/x.xsd"/>')))
        conn = make_connector(tmp_path, wsdl="import.wsdl", endpoint="http://127.0.0.1:9/",
                              allow_hosts=["127.0.0.1"], allow_schemes=["http"])
        with pytest.raises(FatalError) as info:
            open_sink(conn)
        assert hits == []
    assert "network imports are refused" in str(info.value)
    assert info.value.hint is not None and "next to the WSDL" in info.value.hint


def test_local_imports_may_not_leave_the_wsdl_folder(tmp_path: Path) -> None:
    (tmp_path / "wsdl").mkdir()
    (tmp_path / "outside.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"/>')
    (tmp_path / "wsdl" / "svc.wsdl").write_text(wsdl_with("", (
        '<xsd:import namespace="urn:x" schemaLocation="../outside.xsd"/>')))
    with pytest.raises(FatalError, match="outside its folder"):
        open_sink(make_connector(tmp_path, wsdl="wsdl/svc.wsdl",
                                 endpoint="http://127.0.0.1:9/"))


def test_local_imports_inside_the_folder_work(tmp_path: Path) -> None:
    (tmp_path / "wsdl").mkdir()
    (tmp_path / "wsdl" / "extra.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x">'
        '<xsd:element name="extra" type="xsd:string"/></xsd:schema>')
    (tmp_path / "wsdl" / "svc.wsdl").write_text(wsdl_with("", (
        '<xsd:import namespace="urn:x" schemaLocation="extra.xsd"/>')))
    open_sink(make_connector(tmp_path, wsdl="wsdl/svc.wsdl", endpoint="http://127.0.0.1:9/"))


def test_a_wsdl_from_a_url_cannot_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xsd"
    secret.write_text('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>')
    text = wsdl_with("", f'<xsd:import namespace="urn:x" schemaLocation="file://{secret}"/>')

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("200 OK", [("Content-Type", "text/xml")])
        return [text.encode()]

    with serve(app) as url, pytest.raises(FatalError) as info:
        open_sink(make_connector(tmp_path, wsdl=f"{url}/svc?wsdl"))
    assert "may not read the local file" in str(info.value)


@pytest.mark.parametrize(("content", "needle"), [
    ("<wsdl:definitions", "not well-formed XML"),
    ("<html><body>not a WSDL</body></html>", "WSDL"),
    ("", "not well-formed XML"),
])
def test_malformed_wsdls_fail_at_open_with_a_hint(tmp_path: Path, content: str,
                                                  needle: str) -> None:
    (tmp_path / "bad.wsdl").write_text(content)
    with pytest.raises(FatalError) as info:
        open_sink(make_connector(tmp_path, wsdl="bad.wsdl", endpoint="http://127.0.0.1:9/"))
    assert needle in str(info.value)
    assert info.value.hint is not None


def test_a_missing_wsdl_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FatalError) as info:
        open_sink(make_connector(tmp_path, wsdl="nope/missing.wsdl"))
    assert "no such file" in str(info.value) and "missing.wsdl" in str(info.value)


def test_an_oversized_wsdl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="larger than 1 KB"):
        open_sink(make_connector(tmp_path, wsdl=str(vies_wsdl()), max_wsdl_size="1KB",
                                 endpoint="http://127.0.0.1:9/"))


def test_an_oversized_wsdl_download_is_cut_off(tmp_path: Path) -> None:
    def app(environ: dict[str, Any], start: Any) -> Iterator[bytes]:
        start("200 OK", [("Content-Type", "text/xml")])  # no Content-Length: streamed
        yield b"<wsdl:definitions>"
        for _ in range(100):
            yield b"<!-- padding -->" * 1000

    with serve(app) as url, pytest.raises(FatalError, match="larger than 100 KB"):
        open_sink(make_connector(tmp_path, wsdl=f"{url}/svc?wsdl", max_wsdl_size="100KB"))


def test_a_wsdl_download_redirected_inside_the_network_is_refused(tmp_path: Path) -> None:
    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("302 Found", [("Location", "http://169.254.169.254/latest/meta-data/")])
        return [b""]

    with serve(app) as url, NetworkAudit.recording() as events, \
            pytest.raises(FatalError) as info:
        open_sink(make_connector(tmp_path, wsdl=f"{url}/svc?wsdl"))
    assert "refused by the egress policy" in str(info.value)
    assert "169.254.169.254" in str(info.value)
    assert not any("169.254" in target for _, target in events)


def test_a_name_resolving_to_an_unlisted_internal_address_is_refused(tmp_path: Path) -> None:
    server = Scripted(Reply(body=vies_response()))
    with serve(server) as url:
        port = url.rsplit(":", 1)[1]
        conn = make_connector(tmp_path, wsdl=str(vies_wsdl()),
                              endpoint=f"http://localhost:{port}/ws")
        with NetworkAudit.recording() as events, pytest.raises(FatalError) as info:
            write(conn, [CHECK])
    assert "an internal address that is not listed" in str(info.value)
    assert server.requests == 0
    assert not any(event == "socket.connect" for event, _ in events)
