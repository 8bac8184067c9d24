"""Test support for the http connector: loopback HTTP(S) servers that record requests.

``Server`` is a Starlette app under uvicorn in a thread on 127.0.0.1 (port 0, or the
same port again after ``restart``); a test routes paths to handlers and reads
``server.seen`` afterwards. ``pki`` makes a throwaway CA, server and client certificates
with the ``cryptography`` package. Test modules import the fixtures they use by name
(a conftest.py here would shadow the suite's own ``conftest`` module).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrator.connectors.base import Delivery, Runtime
from integrator.connectors.protocols.http import HttpConnector
from integrator.connectors.state import MemoryStateStore, StateStore
from integrator.message import IdFactory, Message
from integrator.security.secrets import Redactor, Secret

Handler = Callable[[Request, bytes], Awaitable[Response]]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
IDS = IdFactory("http")


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes
    client_port: int | None
    raw_path: str = ""

    def json(self) -> Any:
        return orjson.loads(self.body)


async def ok(request: Request, body: bytes) -> Response:
    return JSONResponse({"ok": True})


@dataclass
class Server:
    """A recording HTTP(S) server on 127.0.0.1."""

    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    routes: dict[tuple[str | None, str], Handler] = field(default_factory=dict)
    default: Handler = ok
    _server: Any = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def route(self, path: str, handler: Handler, method: str | None = None) -> None:
        self.routes[(method, path)] = handler

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.seen.append(Seen(request.method, request.url.path, dict(request.query_params),
                              request.url.query, {k.lower(): v for k, v in
                                                  request.headers.items()},
                              body, request.client.port if request.client else None,
                              request.scope.get("raw_path", b"").decode("latin-1")))
        handler = (self.routes.get((request.method, request.url.path))
                   or self.routes.get((None, request.url.path)) or self.default)
        return await handler(request, body)

    def start(self) -> Server:
        import uvicorn

        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=METHODS)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                access_log=False, ws="none", lifespan="off",
                                timeout_graceful_shutdown=1)
        config.load()
        config.ssl = self.ssl_context
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def running(ssl_context: ssl.SSLContext | None = None) -> Iterator[Server]:
    """A started server for the ``with`` block (test modules wrap it in fixtures)."""
    s = Server(ssl_context=ssl_context).start()
    try:
        yield s
    finally:
        s.stop()


# -- driving the connector ---------------------------------------------------------------

def make_runtime(tmp_path: Path, state: StateStore | None = None,
                 redactor: Redactor | None = None) -> Runtime:
    return Runtime(flow="t", workdir=tmp_path, state_dir=tmp_path / ".integrator",
                   redactor=redactor or Redactor(), state=state or MemoryStateStore())


def make_connector(config: dict[str, Any], tmp_path: Path, *,
                   state: StateStore | None = None, redactor: Redactor | None = None,
                   name: str = "api") -> HttpConnector:
    parsed = HttpConnector.spec.parse(config, "test")
    return HttpConnector(name, parsed, make_runtime(tmp_path, state, redactor))


def sink_options(action: str = "request", **options: Any) -> Any:
    return HttpConnector.actions[action].options.parse(options, "test sink")


def source_options(**options: Any) -> Any:
    return HttpConnector.source_options.parse(options, "test source")


def lookup_options(**options: Any) -> Any:
    return HttpConnector.lookup_options.parse(options, "test lookup")


def deliveries(*payloads: Any) -> list[Delivery]:
    return [Delivery(p, Message(p, IDS)) for p in payloads]


def write(connector: HttpConnector, batch: list[Delivery], action: str = "request",
          **options: Any) -> list[Any]:
    """Open a sink, write one batch, close it; one result per delivery."""
    async def main() -> list[Any]:
        sink = connector.sink(action, sink_options(action, **options))
        await sink.open()
        try:
            results = await sink.write_batch(batch)
        finally:
            await sink.close()
        return results if results is not None else [None] * len(batch)

    return asyncio.run(main())


def secret(value: str, name: str = "TEST", redactor: Redactor | None = None) -> Secret:
    return Secret(value, name, redactor)


# -- certificates ------------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_cert: Path  # signed by other_ca: untrusted by `ca`
    other_key: Path

    def server_context(self, *, client_cert: bool = False,
                       max_version: ssl.TLSVersion | None = None,
                       untrusted: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if untrusted:
            ctx.load_cert_chain(self.other_cert, self.other_key)
        else:
            ctx.load_cert_chain(self.server_cert, self.server_key)
        if client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca)
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx


def make_pki(folder: Path) -> Pki:
    """A CA with server and client certificates, and an unrelated CA's server
    certificate, written as PEM files into ``folder``."""
    if os.environ.get("CI") == "true" or os.environ.get("INTEGRATOR_REQUIRE_SERVICES") == "1":
        from cryptography import x509  # CI must run the TLS tests, never skip them
    else:
        x509 = pytest.importorskip("cryptography.x509", reason="the TLS tests make "
                                   "their certificates with the cryptography package")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: Any, path: Path) -> Path:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return path

    def write_cert(cert: Any, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def make_ca(cn: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def issue(ca_key: Any, ca_cert: Any, cn: str, *, server: bool) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn))
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca_key.public_key()), critical=False)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server
                        else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    ca_key, ca_cert = make_ca("integrator test CA")
    server_key, server_cert = issue(ca_key, ca_cert, "127.0.0.1", server=True)
    client_key, client_cert = issue(ca_key, ca_cert, "integrator client", server=False)
    other_ca_key, other_ca_cert = make_ca("some other CA")
    other_key, other_cert = issue(other_ca_key, other_ca_cert, "127.0.0.1", server=True)
    return Pki(
        ca=write_cert(ca_cert, folder / "ca.pem"),
        server_cert=write_cert(server_cert, folder / "server.pem"),
        server_key=write_key(server_key, folder / "server.key"),
        client_cert=write_cert(client_cert, folder / "client.pem"),
        client_key=write_key(client_key, folder / "client.key"),
        other_ca=write_cert(other_ca_cert, folder / "other-ca.pem"),
        other_cert=write_cert(other_cert, folder / "other.pem"),
        other_key=write_key(other_key, folder / "other.key"),
    )
