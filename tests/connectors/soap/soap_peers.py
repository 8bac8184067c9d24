"""Real SOAP peers on 127.0.0.1 for the soap connector's tests, and the probes that prove
what did *not* happen (no file opened, no request sent).

* :func:`serve` runs any WSGI app under wsgiref (threaded) on port 0.
* :func:`order_service` — a spyne service (``placeOrder``, ``describeTypes``).
* :class:`ViesService` — a faithful stand-in for the EU VIES ``checkVat`` service, answering
  the saved WSDL's messages from a table of VAT numbers, with VIES's fault strings, and
  optionally demanding HTTP Basic or WS-Security UsernameToken credentials.
* :class:`Scripted` — answers POSTs with canned (status, headers, body) triples.
* :func:`canary_server` — an HTTP server that must receive nothing.
* :class:`FileWatch` — inotify on a canary file: was it opened or read?
* :class:`NetworkAudit` — a ``sys.audit`` hook that records every ``socket.connect``
  and ``socket.getaddrinfo`` of this process while it is active.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import hashlib
import http.server
import logging
import os
import re
import select
import socketserver
import struct
import sys
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from integrator.connectors.base import Runtime
from integrator.connectors.protocols.soap import SoapConnector
from integrator.security.secrets import Redactor

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
VIES_TYPES = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
WSSE = ("http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd")
WSU = ("http://docs.oasis-open.org/wss/2004/01/"
       "oasis-200401-wss-wssecurity-utility-1.0.xsd")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# ----------------------------------------------------------------------------- serving


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(app: WsgiApp) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yields ``http://host:port``."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class WsgiServer:
    """A WSGI app under wsgiref (threaded) that can restart on the same port."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.port = 0
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = make_server("127.0.0.1", self.port, self.app,
                             server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = server.server_port
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        self._server = server

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join(5)

    def restart(self) -> None:
        self.stop()
        self.start()


def make_connector(tmp_path: Path, name: str = "svc", **config: Any) -> SoapConnector:
    runtime = Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                      redactor=Redactor())
    return SoapConnector(name, SoapConnector.spec.parse(config, "t"), runtime)


# ----------------------------------------------------------------------------- spyne


@dataclass
class OrderBook:
    """What the spyne order service applied (the effects)."""

    placed: list[dict[str, Any]] = field(default_factory=list)


def _modernize_spyne_six() -> None:
    """Give spyne's vendored six importer the PEP 451 methods six 1.16 has.

    spyne 2.14 puts an old ``six`` meta-path importer (only ``find_module``) on
    ``sys.meta_path``; Python 3.11 then warns (ImportWarning) on *every* later first
    import in the process, which pytest's ``filterwarnings = error`` turns into failures
    far away from these tests. The three methods are six 1.16's own.
    """
    from importlib.util import spec_from_loader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from spyne.util import six

    importer = type(six._importer)
    if getattr(importer, "find_spec", None) is not None:
        return

    def find_spec(self: Any, fullname: str, path: Any, target: Any = None) -> Any:
        return spec_from_loader(fullname, self) if fullname in self.known_modules else None

    def create_module(self: Any, spec: Any) -> Any:
        return self.load_module(spec.name)

    def exec_module(self: Any, module: Any) -> None:
        return None

    importer.find_spec = find_spec
    importer.create_module = create_module
    importer.exec_module = exec_module


def order_service(book: OrderBook) -> WsgiApp:
    """A spyne SOAP 1.1 service, namespace ``urn:test:orders``:

    ``placeOrder(orderId, sku, quantity, unitPrice, deliveryDate) → Confirmation``
    (client fault ``Client.InvalidQuantity`` when quantity < 1, server fault
    ``Server.Busy`` for sku ``BUSY``); ``describeTypes()`` returns one value of each
    awkward XSD type.
    """
    _modernize_spyne_six()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datetime as dt
        from decimal import Decimal as D

        from spyne import (
            Application,
            Boolean,
            ByteArray,
            ComplexModel,
            Date,
            DateTime,
            Decimal,
            Double,
            Duration,
            Fault,
            Integer,
            ServiceBase,
            Time,
            Unicode,
            rpc,
        )
        from spyne.protocol.soap import Soap11
        from spyne.server.wsgi import WsgiApplication
    logging.getLogger("spyne").setLevel(logging.CRITICAL)  # faults are expected here

    class Confirmation(ComplexModel):
        __namespace__ = "urn:test:orders"
        confirmationId = Unicode
        accepted = Boolean
        total = Decimal
        createdAt = DateTime
        deliveryDate = Date

    class Types(ComplexModel):
        __namespace__ = "urn:test:orders"
        amount = Decimal
        big = Decimal
        ratio = Double
        stamp = DateTime
        day = Date
        clock = Time
        wait = Duration
        blob = ByteArray
        note = Unicode

    class OrderService(ServiceBase):
        @rpc(Unicode, Unicode, Integer, Decimal, Date, _returns=Confirmation)
        def placeOrder(ctx, orderId, sku, quantity, unitPrice, deliveryDate):
            if quantity is None or quantity < 1:
                raise Fault("Client.InvalidQuantity",
                            f"quantity must be at least 1, got {quantity}")
            if sku == "BUSY":
                raise Fault("Server.Busy", "the warehouse system is busy")
            book.placed.append({"orderId": orderId, "sku": sku, "quantity": quantity,
                                "unitPrice": unitPrice, "deliveryDate": deliveryDate})
            return Confirmation(
                confirmationId=f"C-{orderId}", accepted=True,
                total=unitPrice * quantity,
                createdAt=dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.timezone(
                    dt.timedelta(hours=2))),
                deliveryDate=deliveryDate)

        @rpc(_returns=Types)
        def describeTypes(ctx):
            return Types(amount=D("12.50"), big=D("12345678901234567890.123456789"),
                         ratio=0.25, stamp=dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC),
                         day=dt.date(2024, 2, 29), clock=dt.time(23, 59, 58),
                         wait=dt.timedelta(days=1, hours=2), blob=[b"\x00\xffbin"],
                         note="Zażółć gęślą jaźń")

    app = Application([OrderService], tns="urn:test:orders",
                      in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    return WsgiApplication(app)  # type: ignore[no-any-return]


def record_service(records: list[dict[str, Any]]) -> WsgiApp:
    """A spyne service over ``records`` for the conformance suite (``urn:test:records``):

    ``put(id, n, name, paid)`` appends a record (client fault ``Client.Negative`` when
    ``n`` < 0); ``get(id)`` answers the record with that id, or nothing.
    """
    _modernize_spyne_six()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from spyne import (
            Application,
            Boolean,
            ComplexModel,
            Fault,
            Integer,
            ServiceBase,
            Unicode,
            rpc,
        )
        from spyne.protocol.soap import Soap11
        from spyne.server.wsgi import WsgiApplication
    logging.getLogger("spyne").setLevel(logging.CRITICAL)

    class Item(ComplexModel):
        __namespace__ = "urn:test:records"
        id = Unicode
        n = Integer
        name = Unicode
        paid = Boolean

    class RecordService(ServiceBase):
        @rpc(Unicode, Integer, Unicode, Boolean)
        def put(ctx, id, n, name, paid):
            if n is not None and n < 0:
                raise Fault("Client.Negative", f"n must not be negative, got {n}")
            records.append({"id": id, "n": n, "name": name, "paid": paid})

        @rpc(Unicode, _returns=Item)
        def get(ctx, id):
            for record in reversed(records):
                if record["id"] == id:
                    return Item(**record)
            return None

    app = Application([RecordService], tns="urn:test:records",
                      in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    return WsgiApplication(app)  # type: ignore[no-any-return]


def echo_service_soap12() -> WsgiApp:
    """A spyne SOAP 1.2 service: ``echo(text)`` upper-cases; ``text`` ``"c"`` gives a
    Sender fault, ``"s"`` a Receiver fault."""
    _modernize_spyne_six()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from spyne import Application, Fault, ServiceBase, Unicode, rpc
        from spyne.protocol.soap import Soap12
        from spyne.server.wsgi import WsgiApplication
    logging.getLogger("spyne").setLevel(logging.CRITICAL)

    class EchoService(ServiceBase):
        @rpc(Unicode, _returns=Unicode)
        def echo(ctx, text):
            if text == "c":
                raise Fault("Client.Bad", "bad text")
            if text == "s":
                raise Fault("Server.Down", "the backend is down")
            return text.upper()

    app = Application([EchoService], tns="urn:test:echo",
                      in_protocol=Soap12(validator="lxml"), out_protocol=Soap12())
    return WsgiApplication(app)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- VIES


VIES_TABLE: dict[str, dict[str, str]] = {
    "PL5260250274": {"valid": "true", "name": "SKLEP TESTOWY SP. Z O.O.",
                     "address": "UL. PRÓBNA 1\n00-001 WARSZAWA"},
    "DE811569869": {"valid": "true", "name": "---", "address": "---"},
    "PL1111111111": {"valid": "false", "name": "---", "address": "---"},
}
EU = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU",
      "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
_VAT = re.compile(r"^[0-9A-Za-z\+\*\.]{2,12}$")


def _fault(code: str, string: str, ns: str = "") -> bytes:
    return (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"{ns}><soap:Body><soap:Fault>'
            f"<faultcode>{code}</faultcode><faultstring>{string}</faultstring>"
            "</soap:Fault></soap:Body></soap:Envelope>").encode()


class ViesService:
    """The VIES checkVat service as the saved WSDL describes it (SOAP 1.1, document/
    literal), answering from :data:`VIES_TABLE`:

    * an unknown but well-formed number → ``valid=false``, name and address ``---``;
    * a country code not ``[A-Z]{2}`` of a member state, or a VAT number not
      ``[0-9A-Za-z+*.]{2,12}`` → client fault ``INVALID_INPUT`` (HTTP 500);
    * country ``CY`` → server fault ``MS_UNAVAILABLE`` (HTTP 500);
    * ``invalid_input_as_server`` → INVALID_INPUT comes as a *server* fault.
    ``basic`` / ``wsse`` make it demand credentials. ``calls`` records each request.
    """

    def __init__(self, *, basic: tuple[str, str] | None = None,
                 wsse: tuple[str, str] | None = None,
                 invalid_input_as_server: bool = False, delay: float = 0.0) -> None:
        self.basic = basic
        self.wsse = wsse
        self.invalid_input_as_server = invalid_input_as_server
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.gets = 0
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        if self.basic is not None:
            expected = "Basic " + base64.b64encode(
                f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if environ.get("HTTP_AUTHORIZATION") != expected:
                start("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="vies"'),
                                           ("Content-Type", "text/plain")])
                return [b"authentication required"]
        if environ["REQUEST_METHOD"] != "POST":
            with self.lock:
                self.gets += 1
            start("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"use POST"]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            if self.delay:
                time.sleep(self.delay)
            status, answer = self.answer(body)
        finally:
            with self.lock:
                self.active -= 1
        start(status, [("Content-Type", "text/xml; charset=UTF-8"),
                       ("Content-Length", str(len(answer)))])
        return [answer]

    def answer(self, body: bytes) -> tuple[str, bytes]:
        envelope = ET.fromstring(body)
        call: dict[str, Any] = {"headers": envelope.find(f"{{{SOAP_ENV}}}Header")}
        if self.wsse is not None:
            mode = self._authenticate(envelope)
            call["wsse"] = mode
            if mode is None:
                with self.lock:
                    self.calls.append(call)
                return "500 Internal Server Error", _fault(
                    "wsse:FailedAuthentication",
                    "The security token could not be authenticated or authorized",
                    f' xmlns:wsse="{WSSE}"')
        request = envelope.find(f"{{{SOAP_ENV}}}Body/{{{VIES_TYPES}}}checkVat")
        if request is None:
            return "500 Internal Server Error", _fault("soap:Client", "unknown operation")
        country = request.findtext(f"{{{VIES_TYPES}}}countryCode") or ""
        number = request.findtext(f"{{{VIES_TYPES}}}vatNumber") or ""
        call.update(countryCode=country, vatNumber=number)
        with self.lock:
            self.calls.append(call)
        if country not in EU or not _VAT.match(number):
            code = "soap:Server" if self.invalid_input_as_server else "soap:Client"
            return "500 Internal Server Error", _fault(code, "INVALID_INPUT")
        if country == "CY":
            return "500 Internal Server Error", _fault("soap:Server", "MS_UNAVAILABLE")
        row = VIES_TABLE.get(country + number, {"valid": "false", "name": "---",
                                                "address": "---"})
        return "200 OK", (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
            f'<ns2:checkVatResponse xmlns:ns2="{VIES_TYPES}">'
            f"<ns2:countryCode>{country}</ns2:countryCode>"
            f"<ns2:vatNumber>{number}</ns2:vatNumber>"
            "<ns2:requestDate>2024-05-01+02:00</ns2:requestDate>"
            f"<ns2:valid>{row['valid']}</ns2:valid>"
            f"<ns2:name>{row['name']}</ns2:name>"
            f"<ns2:address>{row['address']}</ns2:address>"
            "</ns2:checkVatResponse></soap:Body></soap:Envelope>").encode()

    def _authenticate(self, envelope: ET.Element) -> str | None:
        """``"text"`` / ``"digest"`` when the UsernameToken is right, else None."""
        assert self.wsse is not None
        token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/"
                              f"{{{WSSE}}}UsernameToken")
        if token is None or token.findtext(f"{{{WSSE}}}Username") != self.wsse[0]:
            return None
        password = token.find(f"{{{WSSE}}}Password")
        if password is None:
            return None
        kind = password.get("Type", "")
        if kind.endswith("#PasswordText"):
            return "text" if password.text == self.wsse[1] else None
        if kind.endswith("#PasswordDigest"):
            nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
            created = token.findtext(f"{{{WSU}}}Created") or ""
            digest = base64.b64encode(hashlib.sha1(
                nonce + created.encode() + self.wsse[1].encode()).digest()).decode()
            ok = password.text == digest and len(nonce) == 16 and created.endswith("Z")
            return "digest" if ok else None
        return None


# ----------------------------------------------------------------------------- scripted


@dataclass
class Reply:
    status: str = "200 OK"
    body: bytes = b""
    headers: list[tuple[str, str]] = field(
        default_factory=lambda: [("Content-Type", "text/xml; charset=utf-8")])
    chunked: bool = False  # stream the body without Content-Length


class Scripted:
    """Answers every POST with the next :class:`Reply` (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.requests += 1
        reply = self.replies[min(self.requests, len(self.replies)) - 1]
        headers = list(reply.headers)
        if not reply.chunked:
            headers.append(("Content-Length", str(len(reply.body))))
        start(reply.status, headers)
        if reply.chunked:
            return (reply.body[i:i + 65536] for i in range(0, len(reply.body), 65536))
        return [reply.body]


def vies_response(valid: bool = True) -> bytes:
    return ViesService().answer(
        f'<e:Envelope xmlns:e="{SOAP_ENV}"><e:Body><t:checkVat xmlns:t="{VIES_TYPES}">'
        f"<t:countryCode>PL</t:countryCode><t:vatNumber>"
        f"{'5260250274' if valid else '1111111111'}</t:vatNumber></t:checkVat></e:Body>"
        "</e:Envelope>".encode())[1]


# ----------------------------------------------------------------------------- probes


@contextlib.contextmanager
def canary_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that records every request it gets; yields (base URL, hits)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(f"GET {self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.end_headers()
            self.wfile.write(b'<!ENTITY exfil "CANARY-HTTP-CONTENT">')

        def do_POST(self) -> None:
            hits.append(f"POST {self.path}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()


class FileWatch:
    """inotify(7) on one file: :meth:`events` says whether it was opened or read since."""

    IN_ACCESS = 0x001
    IN_OPEN = 0x020

    def __init__(self, path: Path) -> None:
        name = ctypes.util.find_library("c")
        if sys.platform != "linux" or name is None:
            raise OSError("inotify needs Linux")
        self._libc = ctypes.CDLL(name, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        wd = self._libc.inotify_add_watch(self._fd, str(path).encode(),
                                          self.IN_ACCESS | self.IN_OPEN)
        if wd < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path} failed")

    def events(self) -> list[str]:
        out: list[str] = []
        while select.select([self._fd], [], [], 0.05)[0]:
            data = os.read(self._fd, 4096)
            offset = 0
            while offset < len(data):
                _, mask, _, length = struct.unpack_from("iIII", data, offset)
                if mask & self.IN_OPEN:
                    out.append("open")
                if mask & self.IN_ACCESS:
                    out.append("read")
                offset += 16 + length
        return out

    def close(self) -> None:
        os.close(self._fd)


class NetworkAudit:
    """Records ``socket.connect`` / ``socket.getaddrinfo`` audit events while active.

    An audit hook cannot be removed, so one process-wide hook is installed on first use
    and only records inside ``with NetworkAudit.recording() as events``.
    """

    _installed = False
    _events: list[tuple[str, str]] | None = None

    @classmethod
    def _hook(cls, event: str, args: tuple[Any, ...]) -> None:
        sink = cls._events
        if sink is None:
            return
        if event == "socket.connect":
            sink.append((event, repr(args[1])))
        elif event == "socket.getaddrinfo":
            sink.append((event, repr(args[0])))

    @classmethod
    @contextlib.contextmanager
    def recording(cls) -> Iterator[list[tuple[str, str]]]:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        events: list[tuple[str, str]] = []
        cls._events = events
        try:
            yield events
        finally:
            cls._events = None


# ----------------------------------------------------------------------------- specs


def vies_wsdl() -> Path:
    """The saved VIES WSDL from the workplace's shared/specs (skip, or fail in CI)."""
    import pytest

    env = os.environ.get("INTEGRATOR_SHARED_DIR")
    here = Path(__file__).resolve()
    candidates = [Path(env)] if env else []
    candidates += [parent / "shared" for parent in here.parents]
    candidates.append(Path("/work/shared"))
    for base in candidates:
        path = base / "specs" / "vies" / "checkVatService.wsdl"
        if path.is_file():
            return path
    message = "shared/specs/vies/checkVatService.wsdl not found (set INTEGRATOR_SHARED_DIR)"
    if os.environ.get("CI") == "true" or os.environ.get("INTEGRATOR_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)
