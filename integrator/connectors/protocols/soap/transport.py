"""zeep's AsyncTransport over one guarded httpx client, with the SOAP status rules.

Every request goes through :class:`~.guards.GuardedTransport` (egress policy, size cap).
The WSDL, when it is a URL, is downloaded here asynchronously (redirects followed, each
hop checked); zeep then parses it in a worker thread and may ask :meth:`SoapTransport.load`
for documents it imports — local files only, below the WSDL's folder (network imports
are refused by zeep's ``forbid_external`` before they reach us, and again here).

Operation calls do not follow redirects (a 302 would turn the POST into a GET). The
status decides before zeep sees the body:

===========================================  =========================================
answer                                        error
===========================================  =========================================
2xx, or any status with a SOAP Fault body     zeep parses it (faults: see :mod:`.faults`)
3xx                                           FatalError (set ``endpoint``)
401, 403                                      FatalError (credentials)
404, 405, 415                                 FatalError (wrong endpoint / SOAP version)
408, 429, 502, 503, 504                       RetriableError, ``Retry-After`` kept
other 5xx without a Fault                     RetriableError
other 4xx without a Fault                     RejectedError
connect / read / write timeouts, refused,     RetriableError
reset connections
an answer whose prolog declares a DOCTYPE     RejectedError, refused unread
===========================================  =========================================

This module imports httpx and zeep; the connector imports it only when a role opens.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
from zeep.transports import AsyncTransport

from integrator import __version__
from integrator.connectors.protocols.soap.faults import excerpt
from integrator.connectors.protocols.soap.guards import (
    WSDL_LIMIT_KEY,
    GuardedTransport,
    parse_retry_after,
    public_url,
    refuse_dtd,
    too_large,
)
from integrator.errors import FatalError, RejectedError, RetriableError
from integrator.security.egress import EgressPolicy

__all__ = ["Limits", "SoapTransport", "check_answer"]

USER_AGENT = f"integrator/{__version__} (soap; zeep)"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Limits:
    """Bounds of one connection: answer sizes and the time one request may take."""

    max_response: int
    max_wsdl: int
    timeout: float


class SoapTransport(AsyncTransport):
    """The transport of one role (or of one WSDL load); ``aclose`` releases it.

    ``local_root`` is the folder of a WSDL given as a path (imports may be read below
    it), or None for a WSDL from a URL (no local file may be read). ``ssl_context`` is
    shared by a connection's transports: building one costs more than parsing a WSDL.
    """

    def __init__(self, *, policy: EgressPolicy, limits: Limits, where: str,
                 ssl_context: ssl.SSLContext, auth: httpx.Auth | None = None,
                 local_root: Path | None = None) -> None:
        # AsyncTransport.__init__ would also build a blocking client (with an SSL context
        # of its own) that nothing here uses; these are the attributes it sets.
        self._close_session = False
        self.cache = None
        self.logger = logging.getLogger("zeep.transports")
        self.wsdl_client = None
        self.limits = limits
        self.where = where
        self.local_root = local_root
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(policy, max_response=limits.max_response,
                                       max_wsdl=limits.max_wsdl, ssl_context=ssl_context),
            timeout=limits.timeout, follow_redirects=False, max_redirects=MAX_REDIRECTS,
            auth=auth, headers={"User-Agent": USER_AGENT})

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- documents ---------------------------------------------------------------------

    async def fetch_document(self, url: str) -> bytes:
        """Download a WSDL (redirects followed and checked); FatalError when it cannot be
        had, RetriableError when its host is down."""
        shown = public_url(url)
        where = f"{self.where}: GET {shown}"
        try:
            async with self.client.stream("GET", url, follow_redirects=True,
                                          extensions={WSDL_LIMIT_KEY: True}) as response:
                status = response.status_code
                if status in (401, 403):
                    raise FatalError(f"{where} answered {status}",
                                     hint="the WSDL needs credentials: check username "
                                          "and password (auth: basic)",
                                     context={"status": status, "auth": True})
                if status in (408, 429) or status >= 500:
                    raise RetriableError(
                        f"{where} answered {status}", context={"status": status},
                        retry_after=parse_retry_after(response.headers.get("retry-after")))
                if status >= 300:
                    raise FatalError(f"{where} answered {status}", hint="check the wsdl URL",
                                     context={"status": status})
                body = await response.aread()
        except httpx.TooManyRedirects:
            raise FatalError(f"{where} redirects more than {MAX_REDIRECTS} times",
                             hint="check the wsdl URL") from None
        except httpx.UnsupportedProtocol as exc:
            raise FatalError(f"{where}: {exc}", hint="the wsdl URL must be http(s)") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"{where} failed: {type(exc).__name__} {exc}".rstrip(),
                                 hint="the WSDL host is unreachable; check the URL") from None
        refuse_dtd(body, where, fatal=True)
        return body

    def load(self, url: str) -> bytes:
        """A document zeep asks for while it parses (blocking: in the parsing thread)."""
        if not url:
            raise FatalError(f"{self.where}: an empty document location in the WSDL")
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):  # zeep's forbid_external stops these first
            raise FatalError(f"{self.where}: the WSDL imports {public_url(url)} from the "
                             "network; network imports are refused",
                             hint="save the imported documents next to the WSDL")
        if scheme == "file":
            path = url2pathname(urlsplit(url).path)
        elif len(scheme) > 1:
            raise FatalError(f"{self.where}: cannot load {public_url(url)}: scheme "
                             f"{scheme!r} is not supported", hint="use a path")
        else:
            path = url
        body = self._read_local(path)
        refuse_dtd(body, f"{self.where}: {path}", fatal=True)
        return body

    def _read_local(self, path: str) -> bytes:
        if self.local_root is None:
            raise FatalError(f"{self.where}: the WSDL came from a URL, so it may not read "
                             f"the local file {path!r}", hint="load the WSDL from a file "
                             "to use local imports")
        real = Path(os.path.realpath(os.path.expanduser(path)))
        root = self.local_root
        if real != root and root not in real.parents:
            raise FatalError(f"{self.where}: the WSDL imports {path!r}, outside its folder "
                             f"{root}", hint="keep the WSDL and the schemas it imports in "
                             "one folder")
        try:
            if real.stat().st_size > self.limits.max_wsdl:
                raise too_large(str(real), self.limits.max_wsdl, wsdl=True)
            return real.read_bytes()
        except FileNotFoundError:
            raise FatalError(f"{self.where}: no such file: {real}",
                             hint="the wsdl path is relative to the work directory") from None
        except OSError as exc:
            raise FatalError(f"{self.where}: cannot read {real}: {exc.strerror}") from None

    # -- calls -------------------------------------------------------------------------

    async def post(self, address: str, message: bytes, headers: Mapping[str, str]
                   ) -> httpx.Response:
        """POST an envelope; the answer when zeep should parse it, else the error the
        status table names. Envelopes are never logged (they may carry credentials)."""
        where = f"{self.where}: POST {public_url(address)}"
        try:
            response = await self.client.post(address, content=message, headers=headers)
        except httpx.TimeoutException as exc:
            raise RetriableError(f"{where} timed out ({type(exc).__name__})",
                                 hint="the service is slow or unreachable; the timeout "
                                      "option sets the limit") from None
        except httpx.UnsupportedProtocol as exc:
            raise FatalError(f"{where}: {exc}", hint="the endpoint must be http(s)") from None
        except httpx.TransportError as exc:
            raise RetriableError(f"{where} failed: {type(exc).__name__} {exc}".rstrip(),
                                 hint="the service is unreachable; the call is tried "
                                      "again later") from None
        check_answer(where, response)
        return response

    async def get_status(self, address: str) -> int:
        """The status of a GET of ``address`` (the body is not read), for ``check()``;
        errors propagate as httpx (or the egress guard) raised them."""
        async with self.client.stream("GET", address) as response:
            return response.status_code


def _is_xml(response: httpx.Response, body: bytes) -> bool:
    kind = response.headers.get("content-type", "").lower()
    return "xml" in kind or body.lstrip()[:1] == b"<"


def check_answer(where: str, response: httpx.Response) -> None:
    """Apply the status table (module docstring) and the DOCTYPE guard to an answer."""
    status = response.status_code
    body = response.content
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    context = {"status": status}
    if 300 <= status < 400:
        raise FatalError(f"{where} answered {status}, a redirect to "
                         f"{public_url(response.headers.get('location', '?'))}",
                         hint="set the endpoint option to the final address",
                         context=context)
    if status in (401, 403):
        raise FatalError(f"{where} answered {status}: the credentials were refused",
                         hint="check username, password and the auth option",
                         context={**context, "auth": True})
    if status in (404, 405, 415):
        raise FatalError(f"{where} answered {status}: {excerpt(body, 200)}",
                         hint="this is not the service's SOAP endpoint, or the port's "
                              "SOAP version is wrong; check endpoint, service and port",
                         context=context)
    if status in (408, 429, 502, 503, 504):
        raise RetriableError(f"{where} answered {status}: {excerpt(body)}",
                             retry_after=retry_after, context=context)
    xml = _is_xml(response, body)
    if xml:
        refuse_dtd(body, where)
    if status < 300 or (xml and b"Fault" in body):
        return  # zeep parses the result or the fault
    if status >= 500:
        raise RetriableError(f"{where} answered {status}: {excerpt(body)}",
                             retry_after=retry_after, context=context)
    raise RejectedError(f"{where} answered {status}: {excerpt(body)}",
                        hint="the service refused this request", context=context)
