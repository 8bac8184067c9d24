"""One pooled HTTP client per connection: egress checks, auth, redirects, bounded reads.

:class:`HttpClient` wraps an ``httpx.AsyncClient`` (keep-alive pool, timeouts, gzip) and
adds what every role of the connection relies on:

* **Egress policy on every hop.** Scheme, host and port of each request and of every
  redirect target are checked *before* anything is sent. The addresses a host resolves
  to are checked when a connection is opened, and the connection goes to the checked
  address (a DNS answer cannot change between check and use). The base URL's and the
  token URL's origins are configuration, not data: their addresses are trusted.
* **Redirects followed here**, not by httpx, so each hop is checked; credentials are sent
  again only to the origin of the original request; 301/302/303 turn a POST into a GET.
* **Auth** applied per request; after a refusal (``auth_failure_status``) a refreshable
  strategy (OAuth2) fetches a new token and the request is sent once more.
* **Bounded reads.** Answers stream in; more than ``max_response_size`` (decompressed)
  stops the read and closes the connection. Error answers are read only as far as the
  excerpt needs.

It never retries a failed request and never classifies statuses: callers turn the
:class:`Answer` into success or an error (:func:`.errors.status_error`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpcore
import httpx

from integrator.connectors.protocols.http.errors import (
    EXCERPT_READ,
    display_url,
    transport_error,
)
from integrator.connectors.protocols.http.settings import ConnectionSettings, origin_of, reveal
from integrator.errors import IntegratorError, RejectedError
from integrator.security.egress import EgressPolicy

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.auth import Auth

__all__ = ["Answer", "HttpClient"]

REDIRECTS = (301, 302, 303, 307, 308)
ReadMode = Literal["body", "head"]
HEAD_BYTES = 1024

# The URL being sent, for the egress message raised while connecting (same task).
_CURRENT_URL: ContextVar[httpx.URL | None] = ContextVar("integrator_http_url", default=None)
MAX_CHECKED_ORIGINS = 1024


@dataclass(slots=True)
class Answer:
    """What the peer answered. ``content`` is the (decompressed) body as far as it was
    read: all of it for ``read="body"``, up to the excerpt size for error statuses, the
    first ``HEAD_BYTES`` for ``read="head"`` (the rest is drained, up to
    ``max_response_size``, then the connection is closed). ``refreshed``: a fresh token
    was fetched on the way."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    content: bytes | None
    seconds: float
    refreshed: bool = False

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))


class _EgressBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address against the policy, then connects to one of them.

    TLS still verifies the original host name: httpcore passes the request's host as
    ``server_hostname`` whatever address the stream was opened to.
    """

    def __init__(self, policy: EgressPolicy, trusted: frozenset[tuple[str, int]]) -> None:
        self._policy = policy
        self._trusted = trusted
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        if (host.lower(), port) in self._trusted:
            return await self._inner.connect_tcp(host, port, timeout, local_address,
                                                 socket_options)
        addresses = await self._resolve(host, port, timeout)
        current = _CURRENT_URL.get()
        self._policy.check_addresses(str(current) if current is not None
                                     else f"http://{host}:{port}/", addresses)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the http connector")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _EgressTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool opened through :class:`_EgressBackend`."""

    def __init__(self, ssl_context: Any, limits: httpx.Limits, backend: _EgressBackend
                 ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx builds its pool without a way to pass a network backend; this is the
        # same pool with the checking backend (httpx 0.27/0.28 keep it in ``_pool``).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class HttpClient:
    """The pooled client of one connection; ``open`` before use, ``close`` after."""

    def __init__(self, settings: ConnectionSettings, *, where: str, auth: Auth | None,
                 redact: Callable[[str], str]) -> None:
        self.settings = settings
        self.where = where
        self.auth = auth
        self.redact = redact
        self.policy = settings.policy
        trusted = {origin_of(settings.base_url)[1:]}
        if settings.auth and isinstance(settings.auth.get("token_url"), str):
            trusted.add(origin_of(settings.auth["token_url"])[1:])
        self.trusted = frozenset(trusted)
        self._client: httpx.AsyncClient | None = None
        self._allowed: set[tuple[str, str, int | None]] = set()  # origins that passed
        self._secret_headers = {k: v for k, v in settings.headers.items()
                                if not isinstance(v, str | int | float)}
        self._plain_headers = {k: str(v) for k, v in settings.headers.items()
                               if k not in self._secret_headers}
        if auth is not None:
            auth.bind(self)

    async def open(self) -> None:
        if self._client is not None:
            return
        s = self.settings
        limits = httpx.Limits(max_connections=s.max_connections,
                              max_keepalive_connections=s.max_keepalive_connections,
                              keepalive_expiry=s.keepalive_expiry)
        transport = _EgressTransport(s.tls.context(self.where), limits,
                                     _EgressBackend(self.policy, self.trusted))
        headers = {"User-Agent": s.user_agent, "Accept": "application/json, */*;q=0.5"}
        headers.update(self._plain_headers)
        self._client = httpx.AsyncClient(
            transport=transport, headers=headers, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(connect=s.timeouts["connect"], read=s.timeouts["read"],
                                  write=s.timeouts["write"], pool=s.timeouts["pool"]))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- egress ---------------------------------------------------------------------------

    def trusted_origin(self, url: httpx.URL) -> bool:
        return (url.host.lower(), url.port or (443 if url.scheme == "https" else 80)) \
            in self.trusted

    def check_egress(self, url: httpx.URL | str, *, note: str = "") -> None:
        """Refuse a URL the policy does not allow (scheme, host, port, literal address).

        The verdict depends only on the origin, so origins that passed are remembered.
        """
        if isinstance(url, httpx.URL) and (url.scheme, url.host, url.port) in self._allowed:
            return
        text = str(url)
        try:
            host, _ = self.policy.check_url(text)
            parsed = httpx.URL(text)
            if not self.trusted_origin(parsed):
                try:
                    literal = ipaddress.ip_address(host.strip("[]"))
                except ValueError:
                    literal = None
                if literal is not None:
                    self.policy.check_addresses(text, [str(literal)])
        except RejectedError as exc:
            raise RejectedError(f"{self.where}: {note}{exc.message}", hint=exc.hint,
                                context=exc.context) from None
        except httpx.InvalidURL as exc:
            raise RejectedError(f"{self.where}: {note}the URL {display_url(text)} is "
                                f"invalid ({exc})", context={"url": display_url(text)}
                                ) from None
        if isinstance(url, httpx.URL) and len(self._allowed) < MAX_CHECKED_ORIGINS:
            self._allowed.add((url.scheme, url.host, url.port))

    # -- sending --------------------------------------------------------------------------

    async def send(self, method: str, url: str, *,
                   params: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None,
                   content: bytes | None = None,
                   read: ReadMode = "body",
                   authenticate: bool = True,
                   too_large: Callable[[str], IntegratorError] | None = None) -> Answer:
        """Send one request (following redirects) and return the answer.

        Raises RejectedError for a URL the egress policy refuses (nothing is sent),
        the error :func:`.errors.transport_error` gives when no answer came, auth errors
        from the token endpoint, and ``too_large(message)`` (default RejectedError) when
        an answer that must be read exceeds ``max_response_size``.
        """
        client = self._client
        if client is None:
            raise RuntimeError("HttpClient.send before open")
        started = time.perf_counter()
        method = method.upper()
        try:
            target = httpx.URL(url)
            if params:
                target = target.copy_merge_params(dict(params))
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise RejectedError(f"{self.where}: {method} {display_url(url)}: the URL is "
                                f"invalid ({exc})", context={"url": display_url(url)}
                                ) from None
        self.check_egress(target)  # before anything is built or sent
        try:
            first = client.build_request(method, target, headers=headers, content=content)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise RejectedError(f"{self.where}: {method} {display_url(url)}: the request "
                                f"cannot be built ({exc})",
                                context={"url": display_url(url)}) from None
        origin = (first.url.scheme, first.url.host, first.url.port)
        current_url, current_method, body = first.url, method, content
        hops = 0
        refreshed = False
        auth = self.auth if authenticate else None
        while True:
            self.check_egress(current_url, note="" if hops == 0 else
                              f"{method} {display_url(first.url)} was redirected; ")
            if hops == 0:
                request = first if not refreshed else client.build_request(
                    method, target, headers=headers, content=content)
            else:
                hop_origin = (current_url.scheme, current_url.host, current_url.port)
                request = client.build_request(
                    current_method, current_url, content=body,
                    headers=self._hop_headers(headers, body, hop_origin == origin))
            same_origin = (request.url.scheme, request.url.host, request.url.port) == origin
            if same_origin:  # credentials never follow a redirect to another origin
                for name, value in self._secret_headers.items():
                    request.headers[name] = reveal(value)
            used = await auth.apply(request) if auth is not None and same_origin else None
            response = await self._send(client, request)
            status = response.status_code
            location = response.headers.get("location")
            if status in REDIRECTS and location and self.settings.follow_redirects:
                await response.aclose()
                hops += 1
                try:
                    hop_url = request.url.join(location)
                except httpx.InvalidURL:
                    raise RejectedError(f"{self.where}: {method} {display_url(first.url)} "
                                        f"was redirected to an invalid URL") from None
                if hops > self.settings.max_redirects:
                    raise RejectedError(
                        f"{self.where}: {method} {display_url(first.url)}: more than "
                        f"max_redirects ({self.settings.max_redirects}) redirects, last to "
                        f"{display_url(hop_url)}", hint="a redirect loop, or raise "
                        "max_redirects", context={"url": display_url(first.url)})
                if status == 303 or (status in (301, 302) and current_method == "POST"):
                    current_method = "GET" if current_method != "HEAD" else "HEAD"
                    body = None
                current_url = hop_url
                continue
            if (auth is not None and auth.refreshable and not refreshed and same_origin
                    and status in self.settings.auth_failure_status):
                await response.aclose()
                await auth.refresh(used)
                refreshed = True
                hops, current_url, current_method, body = 0, first.url, method, content
                continue
            answer_url = str(request.url)
            content_read = await self._read(response, request, status, read, too_large)
            return Answer(request.method, answer_url, status, response.headers,
                          content_read, time.perf_counter() - started, refreshed)

    def _hop_headers(self, headers: Mapping[str, str] | None, body: bytes | None,
                     same_origin: bool) -> dict[str, str]:
        """The request's headers for a redirect hop: no body headers without a body, no
        credentials for another origin."""
        drop = set()
        if body is None:
            drop |= {"content-type", "content-length"}
        if not same_origin:
            drop |= {"authorization", "cookie", "proxy-authorization"}
            drop |= {name.lower() for name in self._secret_headers}
        return {k: v for k, v in (headers or {}).items() if k.lower() not in drop}

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        token = _CURRENT_URL.set(request.url)
        try:
            return await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._translate(exc, request) from None
        except RejectedError as exc:  # the egress backend refused the resolved address
            raise RejectedError(f"{self.where}: {exc.message}", hint=exc.hint,
                                context=exc.context) from None
        finally:
            _CURRENT_URL.reset(token)

    def _translate(self, exc: httpx.HTTPError, request: httpx.Request) -> IntegratorError:
        return transport_error(exc, request.method, request.url, self.where,
                               own_origin=self.trusted_origin(request.url),
                               timeouts=self.settings.timeouts)

    async def _read(self, response: httpx.Response, request: httpx.Request, status: int,
                    read: ReadMode,
                    too_large: Callable[[str], IntegratorError] | None) -> bytes | None:
        limit = self.settings.max_response_size
        try:
            if status >= 400:
                return await self._read_upto(response, EXCERPT_READ, None)
            if read == "head":
                return await self._read_upto(response, limit, None, keep=HEAD_BYTES)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await response.aclose()
                raise self._too_large(request, too_large,
                                      f"it announced {_size(int(declared))}")
            return await self._read_upto(response, limit, "raise")
        except _TooLarge as big:
            raise self._too_large(request, too_large,
                                  f"stopped reading after {_size(big.size)}") from None
        except httpx.HTTPError as exc:
            raise self._translate(exc, request) from None
        finally:
            await response.aclose()

    def _too_large(self, request: httpx.Request,
                   make: Callable[[str], IntegratorError] | None, detail: str
                   ) -> IntegratorError:
        limit = self.settings.max_response_size
        message = (f"{self.where}: {request.method} {display_url(request.url)}: the answer "
                   f"is larger than max_response_size ({_size(limit)}); {detail}")
        if make is not None:
            return make(message)
        return RejectedError(message, hint="raise max_response_size, or ask the API for "
                             "less per request (a smaller page size)",
                             context={"url": display_url(request.url)})

    @staticmethod
    async def _read_upto(response: httpx.Response, limit: int,
                         over: Literal["raise"] | None, keep: int | None = None) -> bytes:
        """Read at most ``limit`` decompressed bytes (keeping the first ``keep``, default
        all); beyond the limit raise ``_TooLarge`` or stop reading."""
        keep = limit if keep is None else keep
        chunks: list[bytes] = []
        size = kept = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit and over == "raise":
                raise _TooLarge(size)
            if kept < keep:
                piece = chunk[: keep - kept]
                chunks.append(piece)
                kept += len(piece)
            if size > limit:
                break  # the rest is not read: closing the response drops the connection
        return b"".join(chunks)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _size(n: int) -> str:
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"
