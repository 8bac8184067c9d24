"""What stands between the SOAP connector and the network: egress, size, DTDs.

* **Egress.** :class:`GuardedTransport` (an httpx transport) checks every request —
  the WSDL download and each of its redirects, every operation call, the check's GET —
  against :class:`~integrator.security.egress.EgressPolicy` before a connection is
  opened. SOAP endpoints come from configuration, never from message data, so a
  refusal is a :class:`FatalError`; a name that does not resolve is a RetriableError
  (DNS outages pass).
* **Size.** Answers larger than the limit are cut off while reading (a lying or missing
  ``Content-Length`` does not help): RejectedError for a call, FatalError for a WSDL.
* **No DTD.** :func:`refuse_dtd` refuses a document whose prolog declares a
  ``<!DOCTYPE``, before any XML parser builds a tree: expat reads the prolog only and
  stops at the first element, so no entity is declared or expanded, no file is opened
  and no URL is fetched. zeep's own settings (``forbid_dtd``, ``forbid_entities``,
  ``forbid_external``) stay on behind it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.parsers import expat

import httpx

from integrator.codecs.lines import format_size
from integrator.connectors.protocols.http.errors import parse_retry_after  # one parser for both
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.security.egress import EgressPolicy

__all__ = [
    "WSDL_LIMIT_KEY",
    "GuardedTransport",
    "check_egress",
    "parse_retry_after",
    "public_url",
    "refuse_dtd",
    "too_large",
]

WSDL_LIMIT_KEY = "integrator.soap.wsdl"  # request extension: this GET loads a document


def public_url(url: str) -> str:
    """``scheme://host:port/path`` — no credentials, no query (they may carry tokens)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(malformed URL)"
    netloc = parts.hostname or ""
    if port:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?…" if parts.query else "")


# ------------------------------------------------------------------------ egress


def _fatal(exc: RejectedError) -> FatalError:
    return FatalError(exc.message, hint=(exc.hint or "") + "; a SOAP endpoint comes from the "
                      "connection's wsdl / endpoint options, so this is a configuration "
                      "problem", context=exc.context)


def _checked_addresses(policy: EgressPolicy, url: str, addresses: list[str]) -> None:
    try:
        policy.check_addresses(url, addresses)
    except RejectedError as exc:
        raise _fatal(exc) from None


async def check_egress(policy: EgressPolicy, url: str) -> None:
    """``EgressPolicy.check`` classified for SOAP (see the module docstring)."""
    try:
        host, port = policy.check_url(url)
    except RejectedError as exc:
        raise _fatal(exc) from None
    try:
        literal = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    else:
        _checked_addresses(policy, url, [literal])
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RetriableError(f"{public_url(url)}: the host {host!r} does not resolve "
                             f"({exc})", hint="check the name; a DNS outage passes, so "
                             "this is tried again later", context={"url": public_url(url)}
                             ) from None
    _checked_addresses(policy, url, [str(info[4][0]) for info in infos])


# ------------------------------------------------------------------------ size


def too_large(url: str, limit: int, *, wsdl: bool) -> IntegratorError:
    what = "the WSDL or schema" if wsdl else "the answer"
    option = "max_wsdl_size" if wsdl else "max_response_size"
    cls = FatalError if wsdl else RejectedError
    return cls(f"{public_url(url)}: {what} is larger than {format_size(limit)}; "
               "reading stopped", hint=f"raise {option} if such answers are expected",
               context={"url": public_url(url), "limit": limit})


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, url: str, limit: int, wsdl: bool):
        self.inner, self.url, self.limit, self.wsdl = inner, url, limit, wsdl

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            seen += len(chunk)
            if seen > self.limit:
                raise too_large(self.url, self.limit, wsdl=self.wsdl)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport with the egress check before, and the size cap after, every
    request. A request carrying the ``WSDL_LIMIT_KEY`` extension is a document download
    and gets ``max_wsdl`` instead of ``max_response``."""

    def __init__(self, policy: EgressPolicy, *, max_response: int, max_wsdl: int,
                 ssl_context: ssl.SSLContext) -> None:
        self.policy = policy
        self.max_response = max_response
        self.max_wsdl = max_wsdl
        self.inner = httpx.AsyncHTTPTransport(verify=ssl_context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        await check_egress(self.policy, url)
        wsdl = bool(request.extensions.get(WSDL_LIMIT_KEY))
        limit = self.max_wsdl if wsdl else self.max_response
        response = await self.inner.handle_async_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await response.aclose()
            raise too_large(url, limit, wsdl=wsdl)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_CappedStream(response.stream, url, limit, wsdl),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


# ------------------------------------------------------------------------ DTDs


class _PrologEnd(Exception):
    pass


class _Doctype(Exception):
    pass


def _raise_doctype(*_: Any) -> NoReturn:
    raise _Doctype


def _raise_end(*_: Any) -> NoReturn:
    raise _PrologEnd


def refuse_dtd(body: bytes, where: str, *, fatal: bool = False) -> None:
    """Raise when ``body``'s prolog has a ``<!DOCTYPE``; read nothing past the root tag.

    expat honours the byte-order mark and the declared encoding (UTF-16 cannot hide the
    declaration), is given no handler for external entities, and is stopped at the first
    element, so only the prolog is ever read. Malformed XML passes: zeep reports it.
    RejectedError for an answer, FatalError (``fatal``) for a WSDL.
    """
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _raise_doctype
    parser.EntityDeclHandler = _raise_doctype
    parser.StartElementHandler = _raise_end
    try:
        parser.Parse(body, True)
    except _PrologEnd:
        return
    except _Doctype:
        cls = FatalError if fatal else RejectedError
        raise cls(f"{where}: the document declares a DOCTYPE (a DTD or entities); it was "
                  "refused unread", hint="a SOAP peer never needs a DTD: this may be an "
                  "XXE or entity-expansion attack, or a proxy's error page; check the "
                  "service", context={"refused": "doctype"}) from None
    except expat.ExpatError:
        return
