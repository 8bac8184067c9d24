"""Calls against real peers: a spyne service (WSDL from its URL, faults, XSD types as
JSON) and a scripted server for every transport outcome the status table names."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from soap_peers import (
    OrderBook,
    Reply,
    Scripted,
    make_connector,
    order_service,
    serve,
    vies_response,
    vies_wsdl,
)

from integrator.connectors.base import Delivery
from integrator.connectors.protocols.soap import SoapConnector
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.message import IdFactory, Message

ORDER = {"orderId": "7", "sku": "A-1", "quantity": 3, "unitPrice": "19.99",
         "deliveryDate": "2024-06-01"}


@pytest.fixture()
def spyne_url() -> Iterator[tuple[OrderBook, str]]:
    book = OrderBook()
    with serve(order_service(book)) as url:
        yield book, url


def write(conn: SoapConnector, operation: str, payloads: list[Any]
          ) -> list[IntegratorError | None] | None:
    parsed = SoapConnector.actions["call"].options.parse({"operation": operation}, "t")
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


def call(conn: SoapConnector, operation: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        port = await conn.bind(None, None)
        try:
            return await port.call(operation, arguments)
        finally:
            await port.aclose()

    return asyncio.run(run())


# ------------------------------------------------------------------------------ spyne


def test_spyne_wsdl_from_its_url_and_a_placed_order(
        tmp_path: Path, spyne_url: tuple[OrderBook, str]) -> None:
    book, url = spyne_url
    conn = make_connector(tmp_path, wsdl=f"{url}/?wsdl")
    answer = call(conn, "placeOrder", ORDER)
    assert answer == {"confirmationId": "C-7", "accepted": True, "total": "59.97",
                      "createdAt": "2024-05-01T10:30:00+02:00",
                      "deliveryDate": "2024-06-01"}
    assert book.placed == [{"orderId": "7", "sku": "A-1", "quantity": 3,
                            "unitPrice": Decimal("19.99"),
                            "deliveryDate": dt.date(2024, 6, 1)}]


@pytest.mark.parametrize(("decimals", "amount", "big"), [
    ("string", "12.50", "12345678901234567890.123456789"),
    ("number", 12.5, 12345678901234567890.123456789),
])
def test_xsd_types_become_json(tmp_path: Path, spyne_url: tuple[OrderBook, str],
                               decimals: str, amount: Any, big: Any) -> None:
    _, url = spyne_url
    conn = make_connector(tmp_path, wsdl=f"{url}/?wsdl", decimals=decimals)
    answer = call(conn, "describeTypes", {})
    assert answer == {
        "amount": amount, "big": big, "ratio": 0.25,
        "stamp": "2024-05-01T08:00:00+00:00", "day": "2024-02-29", "clock": "23:59:58",
        "wait": "P1DT2H", "blob": base64.b64encode(b"\x00\xffbin").decode(),
        "note": "Zażółć gęślą jaźń",
    }


def test_spyne_faults_and_the_rest_of_the_batch(
        tmp_path: Path, spyne_url: tuple[OrderBook, str]) -> None:
    book, url = spyne_url
    conn = make_connector(tmp_path, wsdl=f"{url}/?wsdl")
    results = write(conn, "placeOrder", [
        {**ORDER, "orderId": "1"},
        {**ORDER, "orderId": "2", "quantity": 0},
        {**ORDER, "orderId": "3", "sku": "BUSY"},
        {**ORDER, "orderId": "4", "quantity": "many"},  # not an xsd:integer
        {**ORDER, "orderId": "5"},
    ])
    assert results is not None
    assert results[0] is None and results[4] is None
    client = results[1]
    assert isinstance(client, RejectedError)
    assert client.context["faultcode"] == "soap11env:Client.InvalidQuantity"
    assert client.context["faultstring"] == "quantity must be at least 1, got 0"
    assert client.context["operation"] == "placeOrder"
    server = results[2]
    assert isinstance(server, RetriableError)
    assert server.context["faultcode"] == "soap11env:Server.Busy"
    # spyne validates the schema: a non-integer quantity is its client fault
    assert isinstance(results[3], RejectedError)
    assert results[3].context["faultcode"].endswith("Client.SchemaValidationError")
    assert [o["orderId"] for o in book.placed] == ["1", "5"]


# --------------------------------------------------------------------- scripted peer


def scripted_connector(tmp_path: Path, url: str, **config: Any) -> SoapConnector:
    return make_connector(tmp_path, wsdl=str(vies_wsdl()), endpoint=url, **config)


CHECK = {"countryCode": "PL", "vatNumber": "5260250274"}


def test_a_good_answer_from_the_scripted_peer(tmp_path: Path) -> None:
    with serve(Scripted(Reply(body=vies_response()))) as url:
        answer = call(scripted_connector(tmp_path, url), "checkVat", CHECK)
    assert answer["valid"] is True and answer["vatNumber"] == "5260250274"


@pytest.mark.parametrize(("reply", "error", "retry_after"), [
    (Reply("503 Service Unavailable", b"busy", [("Retry-After", "7")]), RetriableError, 7.0),
    (Reply("502 Bad Gateway", b"<html>proxy</html>", [("Content-Type", "text/html")]),
     RetriableError, None),
    (Reply("500 Internal Server Error", b"<html>oops</html>",
           [("Content-Type", "text/html")]), RetriableError, None),
    (Reply("504 Gateway Timeout", b""), RetriableError, None),
])
def test_peer_level_failures_stop_the_batch(tmp_path: Path, reply: Reply,
                                            error: type[IntegratorError],
                                            retry_after: float | None) -> None:
    server = Scripted(reply)
    with serve(server) as url:
        results = write(scripted_connector(tmp_path, url), "checkVat", [CHECK] * 3)
    assert results is not None and len(results) == 3
    assert all(type(r) is error for r in results)
    first, rest = results[0], results[1:]
    assert isinstance(first, RetriableError) and first.retry_after == retry_after
    assert first.context["status"] == int(reply.status[:3])
    assert all("not attempted" in str(r) for r in rest)
    assert server.requests == 1  # the batch stopped at the first failure


def test_429_with_an_http_date(tmp_path: Path) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    reply = Reply("429 Too Many Requests", b"slow down",
                  [("Retry-After", format_datetime(later, usegmt=True))])
    with serve(Scripted(reply)) as url:
        results = write(scripted_connector(tmp_path, url), "checkVat", [CHECK])
    assert results is not None and isinstance(results[0], RetriableError)
    assert results[0].retry_after is not None and 100 < results[0].retry_after <= 121


@pytest.mark.parametrize(("reply", "needle"), [
    (Reply("401 Unauthorized", b"who are you", [("WWW-Authenticate", "Basic")]),
     "credentials were refused"),
    (Reply("403 Forbidden", b"no"), "credentials were refused"),
    (Reply("404 Not Found", b"nothing here"), "not the service's SOAP endpoint"),
    (Reply("302 Found", b"", [("Location", "https://elsewhere.example/ws?token=abc")]),
     "a redirect to https://elsewhere.example/ws?…"),
])
def test_configuration_problems_are_fatal(tmp_path: Path, reply: Reply,
                                          needle: str) -> None:
    with serve(Scripted(reply)) as url, pytest.raises(FatalError) as info:
        write(scripted_connector(tmp_path, url), "checkVat", [CHECK, CHECK])
    assert needle in str(info.value)
    assert "token=abc" not in str(info.value)


@pytest.mark.parametrize(("reply", "needle"), [
    (Reply("400 Bad Request", b"bad envelope", [("Content-Type", "text/plain")]),
     "answered 400: bad envelope"),
    (Reply("200 OK", b"this is not XML", [("Content-Type", "text/plain")]),
     "answered 200"),
    (Reply("200 OK", b"<html><body>login page</body></html>"), "does not match"),
])
def test_answers_that_are_not_soap_reject_the_message(tmp_path: Path, reply: Reply,
                                                      needle: str) -> None:
    with serve(Scripted(reply, Reply(body=vies_response()))) as url:
        results = write(scripted_connector(tmp_path, url), "checkVat", [CHECK, CHECK])
    assert results is not None
    assert isinstance(results[0], RejectedError), results[0]
    assert needle in str(results[0])
    assert results[1] is None  # the next message went through


def test_a_one_way_202_is_success(tmp_path: Path) -> None:
    with serve(Scripted(Reply("202 Accepted", b"", []))) as url:
        assert write(scripted_connector(tmp_path, url), "checkVat", [CHECK]) is None


def test_connection_refused_is_retriable_and_stops_the_batch(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = write(scripted_connector(tmp_path, f"http://127.0.0.1:{port}/ws"),
                    "checkVat", [CHECK, CHECK])
    assert results is not None
    assert all(isinstance(r, RetriableError) for r in results)
    assert "ConnectError" in str(results[0]) and "not attempted" in str(results[1])


def test_a_slow_peer_times_out_as_retriable(tmp_path: Path) -> None:
    def slow(environ: dict[str, Any], start: Any) -> list[bytes]:
        time.sleep(1.5)
        start("200 OK", [("Content-Type", "text/xml")])
        return [vies_response()]

    with serve(slow) as url:
        results = write(scripted_connector(tmp_path, url, timeout="200ms"), "checkVat",
                        [CHECK])
    assert results is not None and isinstance(results[0], RetriableError)
    assert "timed out" in str(results[0])
