"""Typed settings of an ``http`` connection, parsed and checked once.

Roles read these, never the raw config. ``connection_problems`` lists every cross-option
problem (lint shows them all); ``ConnectionSettings.build`` raises the first one as a
FatalError.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi

from integrator.connectors.spec import parse_duration
from integrator.errors import FatalError
from integrator.security.egress import EgressPolicy
from integrator.security.secrets import Secret

__all__ = [
    "ConnectionSettings",
    "TlsSettings",
    "connection_problems",
    "origin_key",
    "origin_of",
    "reveal",
    "status_list",
]

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def reveal(value: Any) -> str:
    """The text of a credential field: a Secret's value, or plain text as given."""
    if isinstance(value, Secret):
        return value.reveal()
    return str(value)


def status_list(value: Any, name: str) -> frozenset[int]:
    """A set of HTTP statuses from a list of numbers; ValueError says what is wrong."""
    if value is None:
        return frozenset()
    items = value if isinstance(value, list | tuple) else [value]
    out = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ValueError(f"{name} must be a list of HTTP statuses, got {item!r}")
        try:
            status = int(item)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not an HTTP status") from None
        if not 100 <= status <= 599:
            raise ValueError(f"{name}: {status} is not an HTTP status (100-599)")
        out.add(status)
    return frozenset(out)


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def _ports(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 < item < 65536:
            raise ValueError(f"allow_ports must be a list of port numbers, got {item!r}")
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class TlsSettings:
    """TLS verification, trust, client certificate and minimum version."""

    verify: bool = True
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    key_password: Secret | str | None = None
    min_version: str = "1.2"

    def context(self, where: str) -> ssl.SSLContext:
        """A client SSLContext; FatalError when a file is missing or unreadable."""
        try:
            ctx = ssl.create_default_context(
                cafile=str(self.ca_bundle) if self.ca_bundle else certifi.where())
        except (OSError, ssl.SSLError) as exc:
            raise FatalError(f"{where}: cannot load ca_bundle {self.ca_bundle}: "
                             f"{getattr(exc, 'strerror', None) or exc}",
                             hint="ca_bundle must be a PEM file of CA certificates") from None
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = TLS_VERSIONS[self.min_version]
        if self.client_cert is not None:
            password = reveal(self.key_password) if self.key_password is not None else None
            try:
                ctx.load_cert_chain(str(self.client_cert),
                                    str(self.client_key) if self.client_key else None,
                                    password)
            except (OSError, ssl.SSLError) as exc:
                raise FatalError(
                    f"{where}: cannot load client_cert {self.client_cert}"
                    f"{' / client_key ' + str(self.client_key) if self.client_key else ''}: "
                    f"{getattr(exc, 'strerror', None) or exc}",
                    hint="both must be PEM; an encrypted key needs client_key_password"
                ) from None
        return ctx


@dataclass(frozen=True)
class ConnectionSettings:
    """What every role of one ``http`` connection shares."""

    base_url: str
    headers: Mapping[str, Any]
    user_agent: str
    timeouts: Mapping[str, float]
    max_connections: int
    max_keepalive_connections: int
    keepalive_expiry: float
    max_response_size: int
    follow_redirects: bool
    max_redirects: int
    tls: TlsSettings
    auth: Mapping[str, Any] | None
    auth_failure_status: frozenset[int]
    retry_status: frozenset[int]
    health_path: str | None
    policy: EgressPolicy

    @property
    def origin(self) -> tuple[str, str, int]:
        return origin_of(self.base_url)

    @classmethod
    def build(cls, values: Mapping[str, Any], workdir: Path, where: str) -> ConnectionSettings:
        problems = connection_problems(values)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FatalError(f"{where}: {problems[0]}{more}")

        def path(name: str) -> Path | None:
            value = values.get(name)
            if not value:
                return None
            p = Path(value)
            return p if p.is_absolute() else workdir / p

        auth = values.get("auth")
        hosts = list(values.get("allow_hosts") or ())
        token_url = auth.get("token_url") if isinstance(auth, Mapping) else None
        if isinstance(token_url, str):
            token_host = urlsplit(token_url).hostname
            if token_host:
                hosts.append(token_host)
        base_url = str(values["base_url"])
        return cls(
            base_url=base_url,
            headers=dict(values.get("headers") or {}),
            user_agent=str(values.get("user_agent") or "integrator-http/0.1"),
            timeouts={name: float(values.get(f"{name}_timeout") or default)
                      for name, default in (("connect", 10.0), ("read", 30.0),
                                            ("write", 30.0), ("pool", 10.0))},
            max_connections=int(values.get("max_connections") or 100),
            max_keepalive_connections=int(values.get("max_keepalive_connections") or 0),
            keepalive_expiry=float(values.get("keepalive_expiry") or 5.0),
            max_response_size=int(values.get("max_response_size") or 10_000_000),
            follow_redirects=values.get("follow_redirects") is not False,
            max_redirects=_int(values.get("max_redirects"), 5),
            tls=TlsSettings(
                verify=values.get("verify_tls") is not False,
                ca_bundle=path("ca_bundle"),
                client_cert=path("client_cert"),
                client_key=path("client_key"),
                key_password=values.get("client_key_password"),
                min_version=str(values.get("min_tls_version") or "1.2"),
            ),
            auth=dict(auth) if isinstance(auth, Mapping) else None,
            auth_failure_status=status_list(values.get("auth_failure_status", [401]),
                                            "auth_failure_status"),
            retry_status=status_list(values.get("retry_status", [408, 425]),
                                     "retry_status"),
            health_path=values.get("health_path"),
            policy=EgressPolicy.for_base_url(
                base_url, hosts=hosts,
                schemes=tuple(values.get("allow_schemes") or ()),
                ports=_ports(values.get("allow_ports") or [])),
        )


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port


def origin_key(url: str) -> str:
    """``scheme://host:port`` of a URL: the unit of reachability."""
    scheme, host, port = origin_of(url)
    return f"{scheme}://{host}:{port}"


def connection_problems(values: Mapping[str, Any]) -> list[str]:
    """Every problem of parsed connection values that the spec alone cannot see."""
    from integrator.connectors.protocols.http.auth import auth_problems

    out: list[str] = []
    base_url = values.get("base_url")
    if isinstance(base_url, str):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            out.append(f"base_url {base_url!r} must be an http:// or https:// URL with a "
                       "host")
        elif parts.username or parts.password:
            out.append("base_url must not carry credentials; use auth")
        elif parts.query:
            out.append("base_url must not have a query string; use the query option")
    version = str(values.get("min_tls_version") or "1.2")
    if version not in TLS_VERSIONS:
        out.append(f"min_tls_version must be 1.2 or 1.3, got {version!r}")
    if values.get("client_key") and not values.get("client_cert"):
        out.append("client_key is set without client_cert")
    for name, default in (("auth_failure_status", [401]), ("retry_status", [408, 425])):
        try:
            status_list(values.get(name, default), name)
        except ValueError as exc:
            out.append(str(exc))
    try:
        _ports(values.get("allow_ports") or [])
    except ValueError as exc:
        out.append(str(exc))
    for name, value in (values.get("headers") or {}).items():
        if not isinstance(value, str | int | float | Secret) or isinstance(value, bool):
            out.append(f"headers.{name} must be text, got {type(value).__name__}")
    for name in ("connect_timeout", "read_timeout", "write_timeout", "pool_timeout"):
        value = values.get(name)
        if value is not None:
            try:
                if parse_duration(value) <= 0:
                    out.append(f"{name} must be more than 0")
            except ValueError as exc:
                out.append(f"{name}: {exc}")
    auth = values.get("auth")
    if auth is not None:
        out += auth_problems(auth)
    return out
