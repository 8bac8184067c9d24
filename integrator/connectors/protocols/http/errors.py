"""How HTTP answers and httpx failures become :mod:`integrator.errors`.

==============================================  ==================  ======================
what happened                                   error               the engine then
==============================================  ==================  ======================
429, 503 (``Retry-After`` seconds or a date)    RetriableError      waits ``retry_after``
other 5xx, 408, 425, ``retry_status``           RetriableError      retries later
timeouts, refused or lost connections           RetriableError      retries later
status in ``auth_failure_status`` (401)         FatalError          stops the run
other 4xx (400, 403, 404, 409, 422 ...)         RejectedError       dead-letters the message
egress policy refusal, bad URL from data        RejectedError       dead-letters the message
TLS failure at the connection's own base URL    FatalError          stops the run
TLS failure at a host a message pointed to      RejectedError       dead-letters the message
==============================================  ==================  ======================

Every message names the method and the URL without credentials or query string (which
often carry tokens), the status, a redacted excerpt of the peer's answer (at most 500
characters; an HTML page is reduced to its title and text) and a hint.
"""

from __future__ import annotations

import email.utils
import http
import math
import re
import socket
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from integrator.connectors.protocols.http.settings import origin_key
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.client import Answer

__all__ = [
    "EXCERPT_CHARS",
    "EXCERPT_READ",
    "display_url",
    "excerpt",
    "html_title",
    "is_html",
    "parse_retry_after",
    "status_error",
    "transport_error",
]

#: The longest excerpt of a peer's answer put into an error message.
EXCERPT_CHARS = 500
#: How much of an error answer is read to make the excerpt; the rest is not read.
EXCERPT_READ = 64 * 1024

_SENSITIVE = re.compile(
    r"(access_?token|refresh_?token|id_?token|^token$|password|passwd|secret|api_?key|"
    r"authorization|signature|session)", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
_TLS_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "SSL", "TLS", "certificate", "handshake")


def display_url(url: str | httpx.URL) -> str:
    """``url`` without credentials and query string: safe for messages and logs."""
    try:
        parts = url if isinstance(url, httpx.URL) else httpx.URL(url)
        host = parts.host
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(malformed URL)"
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta seconds or an HTTP date.

    Returns None when absent or unreadable; never negative (a date in the past is 0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_html(content_type: str, content: bytes | None) -> bool:
    """True for an HTML page: by Content-Type, or by how the body starts."""
    if "html" in content_type.lower():
        return True
    head = (content or b"")[:256].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def html_title(content: bytes | None) -> str | None:
    m = _TITLE.search((content or b"")[:EXCERPT_READ])
    if not m:
        return None
    return _SPACE.sub(" ", m.group(1).decode("utf-8", "replace")).strip() or None


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("********" if isinstance(k, str) and _SENSITIVE.search(k)
                    and isinstance(v, str | int | float) else _mask(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def excerpt(content: bytes | None, content_type: str,
            redact: Callable[[str], str] | None = None) -> str:
    """A short, redacted, single-line excerpt of an answer body ('' when empty).

    JSON has token, password and key fields masked; an HTML page becomes
    ``HTML page "title": text``; known secrets are masked by ``redact``.
    """
    if not content:
        return ""
    raw = content[:EXCERPT_READ]
    if is_html(content_type, raw):
        title = html_title(raw)
        text = _SPACE.sub(" ", _TAG.sub(" ", raw.decode("utf-8", "replace"))).strip()
        if title and text.startswith(title):
            text = text[len(title):].strip()
        label = f'HTML page "{title}"' if title else "HTML page"
        text = f"{label}: {text}" if text else label
    else:
        text = raw.decode("utf-8", "replace")
        if text.lstrip()[:1] in ("{", "["):
            try:
                text = orjson.dumps(_mask(orjson.loads(raw))).decode()
            except orjson.JSONDecodeError:
                pass
        text = _SPACE.sub(" ", text).strip()
    if redact is not None:
        text = redact(text)
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1] + "…"
    return text


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_error(answer: Answer, where: str, *,
                 retry_status: Collection[int],
                 auth_failure_status: Collection[int],
                 accept_status: Collection[int] = (),
                 refreshed: bool = False,
                 redact: Callable[[str], str] | None = None) -> IntegratorError | None:
    """The error an answer's status means, or None for success (2xx, 3xx, accepted)."""
    status = answer.status
    if status < 400 or status in accept_status:
        return None
    what = f"{answer.method} {display_url(answer.url)} answered {status} {_phrase(status)}"
    body = excerpt(answer.content, answer.content_type, redact)
    if body:
        what += f": {body}"
    if is_html(answer.content_type, answer.content):
        what += " (an HTML page, not an API answer: a proxy, gateway or login page?)"
    facts: dict[str, Any] = {"method": answer.method, "url": display_url(answer.url),
                             "status": status}
    request_id = _request_id(answer.headers)
    if request_id:
        facts["request_id"] = request_id
    if status in auth_failure_status:
        again = " even after a fresh token was fetched" if refreshed else ""
        return FatalError(
            f"{where}: {what} — the connection's credentials were refused{again}",
            hint="check the connection's auth settings and that the secret is current",
            context=facts)
    if status in (429, 503) or status >= 500 or status in retry_status:
        retry_after = parse_retry_after(answer.headers.get("retry-after"))
        if retry_after is not None:
            facts["retry_after"] = retry_after
        wait = f"; it asked to wait {retry_after:g}s" if retry_after is not None else ""
        return RetriableError(
            f"{where}: {what}{wait}", retry_after=retry_after,
            hint="a temporary failure at the peer: the message is retried later",
            context=facts)
    return RejectedError(
        f"{where}: {what}",
        hint="the peer refused this message; fix the data or the mapping, then replay "
             "the dead letter",
        context=facts)


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id"):
        value = headers.get(name)
        if value:
            return value[:100]
    return None


def _tls_cause(exc: BaseException) -> str | None:
    """The TLS reason inside an httpx exception chain, if the failure was TLS."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLError):
            reason = getattr(current, "verify_message", None) or current.reason \
                or str(current)
            return str(reason)
    text = str(exc)
    if any(marker in text for marker in _TLS_MARKERS) and "ssl" in text.lower():
        return text
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 20:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _connect_reason(exc: BaseException) -> str:
    """What a failed connection attempt ran into, in words."""
    chain = _chain(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "the host name does not resolve"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return str(e.strerror)
    return str(exc) or type(exc).__name__


def transport_error(exc: httpx.HTTPError, method: str, url: str | httpx.URL, where: str, *,
                    own_origin: bool, timeouts: Mapping[str, float | None]) -> IntegratorError:
    """Translate an httpx failure (no answer was received) into an integrator error.

    ``own_origin``: the request went to the connection's base URL (a TLS failure there
    means the connection is misconfigured: FatalError; elsewhere it is this message's).
    """
    target = f"{method} {display_url(url)}"
    facts: dict[str, Any] = {"method": method, "url": display_url(url),
                             "origin": origin_key(str(url))}
    tls = _tls_cause(exc)
    if tls is not None and isinstance(exc, httpx.NetworkError | httpx.ProtocolError):
        message = f"{where}: {target}: TLS failed: {tls}"
        hint = ("check ca_bundle (the CA that signed the server's certificate), "
                "client_cert/client_key when the server asks for one, and min_tls_version")
        if own_origin:
            return FatalError(message, hint=hint, context=facts)
        return RejectedError(message, hint=hint, context=facts)
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        facts["phase"] = "connect"  # nothing reached the peer
    if isinstance(exc, httpx.ConnectTimeout):
        return RetriableError(
            f"{where}: {target}: no connection within connect_timeout "
            f"({timeouts.get('connect')}s)", hint="the peer is down or unreachable; "
            "the message is retried later", context=facts)
    if isinstance(exc, httpx.ReadTimeout):
        return RetriableError(
            f"{where}: {target}: no answer within read_timeout ({timeouts.get('read')}s)",
            hint="the peer may still have applied the request; give the sink an "
                 "idempotency_key so a retry cannot apply it twice", context=facts)
    if isinstance(exc, httpx.WriteTimeout):
        return RetriableError(
            f"{where}: {target}: could not send the request within write_timeout "
            f"({timeouts.get('write')}s)", context=facts)
    if isinstance(exc, httpx.PoolTimeout):
        return RetriableError(
            f"{where}: {target}: no free connection within pool_timeout "
            f"({timeouts.get('pool')}s)", hint="raise max_connections, or lower the "
            "sink's concurrency", context=facts)
    if isinstance(exc, httpx.ConnectError):
        reason = _connect_reason(exc)
        return RetriableError(f"{where}: {target}: cannot connect ({reason})",
                              hint="the peer is down or unreachable; the message is "
                                   "retried later", context=facts)
    if isinstance(exc, httpx.DecodingError):
        return RetriableError(f"{where}: {target}: the answer could not be decoded "
                              f"({exc})", context=facts)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol
                  | httpx.LocalProtocolError):
        return RejectedError(f"{where}: {target}: the request cannot be sent ({exc})",
                             hint="check the URL and header values this message produced",
                             context=facts)
    hint = "the peer may still have applied the request; it is retried later"
    if str(url).startswith("https:") and isinstance(
            exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        hint += ("; a TLS 1.3 server that requires a client certificate drops the "
                 "connection like this: set client_cert (and client_key)")
    if isinstance(exc, httpx.RemoteProtocolError):
        return RetriableError(f"{where}: {target}: the peer closed the connection or "
                              f"broke the protocol ({exc})", hint=hint, context=facts)
    detail = str(exc) or _connect_reason(exc)
    return RetriableError(f"{where}: {target}: the connection failed "
                          f"({type(exc).__name__}: {detail})", hint=hint, context=facts)
