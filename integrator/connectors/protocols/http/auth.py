"""Auth strategies: how a request proves who sends it.

A connection's ``auth`` mapping picks one strategy by ``type``:

==============================  =====================================================
``basic``                       ``Authorization: Basic base64(username:password)``
``bearer``                      ``Authorization: Bearer <token>``
``api_key``                     the key in a header (``name: value``) or query parameter
``oauth2_client_credentials``   RFC 6749 §4.4: a token from ``token_url``, cached
``oauth2_refresh_token``        RFC 6749 §6: a token bought with a refresh token; a
                                rotated refresh token is saved in the connector state
==============================  =====================================================

OAuth2 tokens are cached in memory, fetched again ``refresh_skew`` before they expire,
and once more after the API refuses one (:meth:`Auth.refresh`); concurrent requests
share one fetch. The token endpoint's answer decides: 400/401/403 (``invalid_client``,
``invalid_grant`` ...) is a FatalError (the credentials are wrong or revoked), 429/5xx
and network failures are RetriableError. Tokens obtained are registered with the run's
redactor, so they never appear in logs or dead letters.

The rotated refresh token is stored in the state under ``oauth2_refresh_token`` with a
fingerprint of the configured one: when an operator configures a new refresh token, the
stored rotation of the old one is ignored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from integrator.connectors.protocols.http.errors import (
    display_url,
    excerpt,
    status_error,
)
from integrator.connectors.protocols.http.settings import reveal
from integrator.connectors.spec import parse_duration
from integrator.errors import FatalError, IntegratorError
from integrator.flow.suggest import did_you_mean
from integrator.security.secrets import Redactor, Secret

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.client import HttpClient
    from integrator.connectors.state import StateStore

__all__ = [
    "AUTH_FIELDS",
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ClientCredentialsAuth",
    "RefreshTokenAuth",
    "auth_problems",
    "build_auth",
]

#: type → (required fields, optional fields)
AUTH_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "basic": (frozenset({"username", "password"}), frozenset()),
    "bearer": (frozenset({"token"}), frozenset()),
    "api_key": (frozenset({"name", "value"}), frozenset({"in"})),
    "oauth2_client_credentials": (
        frozenset({"token_url", "client_id", "client_secret"}),
        frozenset({"scope", "audience", "client_auth", "refresh_skew"})),
    "oauth2_refresh_token": (
        frozenset({"token_url", "refresh_token"}),
        frozenset({"client_id", "client_secret", "scope", "client_auth", "refresh_skew"})),
}
STATE_KEY = "oauth2_refresh_token"
DEFAULT_SKEW = 60.0


def auth_problems(raw: Any) -> list[str]:
    """Every problem of an ``auth`` mapping (lint shows them all)."""
    if not isinstance(raw, Mapping):
        return ["auth must be a mapping with a type"]
    kind = raw.get("type")
    if kind not in AUTH_FIELDS:
        hint = did_you_mean(str(kind), AUTH_FIELDS) if kind else None
        return [f"auth.type must be one of {', '.join(AUTH_FIELDS)}"
                + (f", got {kind!r}" if kind else "") + (f" ({hint})" if hint else "")]
    required, optional = AUTH_FIELDS[kind]
    out = []
    for name in sorted(required - set(raw)):
        out.append(f"auth ({kind}) needs {name}")
    known = required | optional | {"type"}
    for name in raw:
        if name not in known:
            suggestion = did_you_mean(str(name), known)
            out.append(f"auth ({kind}) has no field {name!r}"
                       + (f" ({suggestion})" if suggestion else
                          f"; fields: {', '.join(sorted(known - {'type'}))}"))
    for name, value in raw.items():
        if name != "type" and value is not None and not isinstance(value, str | Secret) \
                and name not in ("refresh_skew", "scope"):
            out.append(f"auth.{name} must be text, got {type(value).__name__}")
    if kind == "api_key" and raw.get("in", "header") not in ("header", "query"):
        out.append(f"auth.in must be header or query, got {raw.get('in')!r}")
    if raw.get("client_auth", "body") not in ("body", "basic"):
        out.append(f"auth.client_auth must be body or basic, got {raw.get('client_auth')!r}")
    token_url = raw.get("token_url")
    if isinstance(token_url, str):
        parts = urlsplit(token_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(f"auth.token_url {token_url!r} must be an http(s) URL")
    if raw.get("refresh_skew") is not None:
        try:
            parse_duration(raw["refresh_skew"])
        except ValueError as exc:
            out.append(f"auth.refresh_skew: {exc}")
    scope = raw.get("scope")
    if scope is not None and not isinstance(scope, str) and not (
            isinstance(scope, list) and all(isinstance(s, str) for s in scope)):
        out.append("auth.scope must be text or a list of text")
    return out


class Auth:
    """One way of authenticating requests.

    ``apply`` adds credentials to a request and returns what it used (compared by
    ``refresh`` so concurrent refusals cause one new token, not many). ``refresh`` is
    called once after the API refused the credentials, for ``refreshable`` strategies.
    """

    kind: ClassVar[str] = ""
    refreshable: ClassVar[bool] = False

    def bind(self, client: HttpClient) -> None:
        """The client a strategy may use to reach its token endpoint."""

    async def apply(self, request: httpx.Request) -> Any:
        raise NotImplementedError

    async def refresh(self, used: Any) -> None:
        return None


class BasicAuth(Auth):
    kind = "basic"

    def __init__(self, username: Any, password: Any) -> None:
        self.username = username
        self.password = password

    async def apply(self, request: httpx.Request) -> Any:
        pair = f"{reveal(self.username)}:{reveal(self.password)}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return None


class BearerAuth(Auth):
    kind = "bearer"

    def __init__(self, token: Any) -> None:
        self.token = token

    async def apply(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {reveal(self.token)}"
        return None


class ApiKeyAuth(Auth):
    kind = "api_key"

    def __init__(self, name: str, value: Any, where: str) -> None:
        self.name = name
        self.value = value
        self.where = where

    async def apply(self, request: httpx.Request) -> Any:
        if self.where == "query":
            request.url = request.url.copy_merge_params({self.name: reveal(self.value)})
        else:
            request.headers[self.name] = reveal(self.value)
        return None


class _OAuth2(Auth):
    """Shared by both grants: the cached token, its expiry, the fetch."""

    refreshable = True

    def __init__(self, raw: Mapping[str, Any], *, where: str, redactor: Redactor) -> None:
        self.token_url: str = raw["token_url"]
        self.client_id = raw.get("client_id")
        self.client_secret = raw.get("client_secret")
        scope = raw.get("scope")
        self.scope = " ".join(scope) if isinstance(scope, list) else scope
        self.audience = raw.get("audience")
        self.client_auth = raw.get("client_auth") or "body"
        self.skew = parse_duration(raw["refresh_skew"]) if raw.get("refresh_skew") \
            is not None else DEFAULT_SKEW
        self.where = where
        self.redactor = redactor
        self._client: HttpClient | None = None
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were fetched (tests and check read it)

    def bind(self, client: HttpClient) -> None:
        self._client = client

    def _valid(self) -> bool:
        if self._token is None:
            return False
        return self._expires_at is None or time.monotonic() < self._expires_at

    async def token(self) -> str:
        if not self._valid():
            async with self._lock:
                if not self._valid():
                    await self._fetch()
        assert self._token is not None
        return self._token

    async def apply(self, request: httpx.Request) -> Any:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        return token

    async def refresh(self, used: Any) -> None:
        async with self._lock:
            if self._token is not None and self._token != used and self._valid():
                return  # another request already fetched a new token
            self._token = None
            await self._fetch()

    async def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    async def _received(self, body: Mapping[str, Any]) -> None:
        """Hook for what else the token answer carries (a rotated refresh token)."""

    async def _fetch(self) -> None:
        client = self._client
        assert client is not None, "auth used before the client was bound"
        form = await self._grant()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        if self.client_id is not None:
            if self.client_auth == "basic":
                pair = f"{reveal(self.client_id)}:{reveal(self.client_secret or '')}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            else:
                form["client_id"] = reveal(self.client_id)
                if self.client_secret is not None:
                    form["client_secret"] = reveal(self.client_secret)
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = reveal(self.audience)
        where = f"{self.where}: token endpoint"
        try:
            answer = await client.send("POST", self.token_url, headers=headers,
                                       content=urlencode(form).encode(), authenticate=False,
                                       too_large=lambda m: FatalError(m, context=_AUTH))
        except IntegratorError as exc:
            exc.context.update(_AUTH)
            raise
        self.fetches += 1
        url = display_url(self.token_url)
        if answer.status >= 400:
            body = _json(answer.content)
            code = body.get("error") if isinstance(body, dict) else None
            if answer.status in (400, 401, 403):
                detail = f"{code}: {body.get('error_description') or ''}".strip(": ") \
                    if isinstance(body, dict) and code else \
                    excerpt(answer.content, answer.content_type, self.redactor)
                raise FatalError(
                    f"{where} {url} refused the credentials ({answer.status}"
                    f"{', ' + detail if detail else ''})",
                    hint="check client_id, client_secret, the refresh token and scope; "
                         "a revoked refresh token must be replaced in the secrets",
                    context={**_AUTH, "status": answer.status, "url": url})
            error = status_error(answer, where, retry_status=(), auth_failure_status=(),
                                 redact=self.redactor)
            assert error is not None
            error.context.update(_AUTH)
            raise error
        body = _json(answer.content)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FatalError(
                f"{where} {url} answered {answer.status} without an access_token: "
                f"{excerpt(answer.content, answer.content_type, self.redactor)}",
                hint="check token_url: it must be the OAuth2 token endpoint",
                context={**_AUTH, "url": url})
        assert isinstance(body, dict)
        self.redactor.register(token)
        await self._received(body)
        lifetime = _seconds(body.get("expires_in"))
        if lifetime is None:
            self._expires_at = None  # valid until the API refuses it
        else:
            skew = min(self.skew, lifetime / 2)
            self._expires_at = time.monotonic() + lifetime - skew
        self._token = token


class ClientCredentialsAuth(_OAuth2):
    kind = "oauth2_client_credentials"

    async def _grant(self) -> dict[str, str]:
        return {"grant_type": "client_credentials"}


class RefreshTokenAuth(_OAuth2):
    kind = "oauth2_refresh_token"

    def __init__(self, raw: Mapping[str, Any], *, where: str, redactor: Redactor,
                 state: StateStore) -> None:
        super().__init__(raw, where=where, redactor=redactor)
        self.configured = raw["refresh_token"]
        self.state = state
        self._refresh_token: str | None = None

    def _fingerprint(self) -> str:
        return hashlib.sha256(reveal(self.configured).encode()).hexdigest()[:16]

    async def current_refresh_token(self) -> str:
        if self._refresh_token is None:
            stored = await self.state.get(STATE_KEY)
            if (isinstance(stored, dict) and stored.get("seed") == self._fingerprint()
                    and isinstance(stored.get("token"), str)):
                self._refresh_token = stored["token"]
                self.redactor.register(stored["token"])
            else:
                self._refresh_token = reveal(self.configured)
        return self._refresh_token

    async def _grant(self) -> dict[str, str]:
        return {"grant_type": "refresh_token",
                "refresh_token": await self.current_refresh_token()}

    async def _received(self, body: Mapping[str, Any]) -> None:
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self.redactor.register(rotated)
            # durable before use: the peer may already have revoked the old one
            await self.state.put(STATE_KEY, {"seed": self._fingerprint(), "token": rotated})
            self._refresh_token = rotated


_AUTH = {"auth": True}


def _json(content: bytes | None) -> Any:
    try:
        return orjson.loads(content or b"")
    except orjson.JSONDecodeError:
        return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def build_auth(raw: Mapping[str, Any] | None, *, where: str, redactor: Redactor,
               state: StateStore) -> Auth | None:
    """The strategy an ``auth`` mapping describes (None without one)."""
    if raw is None:
        return None
    problems = auth_problems(raw)
    if problems:
        raise FatalError(f"{where}: {problems[0]}")
    kind = raw["type"]
    if kind == "basic":
        return BasicAuth(raw["username"], raw["password"])
    if kind == "bearer":
        return BearerAuth(raw["token"])
    if kind == "api_key":
        return ApiKeyAuth(str(raw["name"]), raw["value"], raw.get("in") or "header")
    if kind == "oauth2_client_credentials":
        return ClientCredentialsAuth(raw, where=where, redactor=redactor)
    if kind == "oauth2_refresh_token":
        return RefreshTokenAuth(raw, where=where, redactor=redactor, state=state)
    raise FatalError(f"{where}: unknown auth type {kind!r}")  # pragma: no cover

