"""Egress policy: where a connection may send requests.

URLs are often templated from message data (``/orders/{{ id }}``, a callback URL from a
webhook). A policy makes sure such a URL cannot reach anywhere else — no other host, no
internal service, no cloud metadata endpoint — whatever the data says.

Rules, checked for every request (and again for every redirect):

1. the scheme must be allowed (``https`` by default; ``http`` only when listed);
2. the host must match ``hosts`` — exact names, ``*.suffix`` wildcards, IP addresses or
   CIDR ranges; the host of the connection's own base URL is always allowed;
3. the port, when ``ports`` is given, must be listed;
4. every address the host resolves to must be public, unless that address (or a range
   containing it) is listed explicitly: loopback, private (RFC 1918, unique-local),
   link-local (169.254/16 — cloud metadata), multicast, reserved and unspecified
   addresses are refused by default. Checking the resolved addresses, not the name,
   stops DNS names that point inside the network.

A refusal raises :class:`~integrator.errors.RejectedError` (the URL came from data, so
this message is permanently wrong) with the reason and the allowed list as a hint; a host
that does not resolve raises :class:`~integrator.errors.RetriableError` (DNS may recover).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from integrator.errors import RejectedError, RetriableError

__all__ = ["EgressPolicy", "is_public_address", "policy_options"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address.is_loopback or address.is_private or address.is_link_local
            or address.is_multicast or address.is_reserved or address.is_unspecified):
        return False
    return not (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class EgressPolicy:
    """Allowed schemes, hosts (names, ``*.wildcards``, IPs, CIDRs) and ports."""

    hosts: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("https",)
    ports: tuple[int, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names, suffixes, networks = set(), [], []
        for raw in self.hosts:
            entry = raw.strip().lower().rstrip(".")
            net = _network(entry)
            if net is not None:
                networks.append(net)
            elif entry.startswith("*."):
                suffixes.append(entry[1:])  # ".example.com"
            else:
                names.add(entry)
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_suffixes", tuple(suffixes))
        object.__setattr__(self, "_networks", tuple(networks))

    @classmethod
    def for_base_url(cls, base_url: str | None, *, hosts: Sequence[str] = (),
                     schemes: Sequence[str] = (), ports: Sequence[int] = ()) -> EgressPolicy:
        """The policy of a connection: its base URL's host and scheme, plus what is listed."""
        allowed_hosts = list(hosts)
        allowed_schemes = list(schemes) or ["https"]
        if base_url:
            parts = urlsplit(base_url)
            if parts.hostname:
                allowed_hosts.append(parts.hostname)
            if parts.scheme and parts.scheme not in allowed_schemes:
                allowed_schemes.append(parts.scheme)
        return cls(tuple(allowed_hosts), tuple(allowed_schemes), tuple(ports))

    def _listed_address(self, address: IPAddress) -> bool:
        return any(address in net for net in self._networks if net.version == address.version)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self._names or any(host.endswith(s) for s in self._suffixes):
            return True
        try:
            return self._listed_address(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            return False

    def _refuse(self, url: str, reason: str) -> RejectedError:
        allowed = ", ".join(self.hosts) or "nothing"
        return RejectedError(
            f"request to {_redact(url)} refused by the egress policy: {reason}",
            hint=f"allowed hosts: {allowed}; schemes: {', '.join(self.schemes)}. List "
                 "more under the connection's egress options if this target is intended",
            context={"url": _redact(url)},
        )

    def check_url(self, url: str) -> tuple[str, int]:
        """Check scheme, host and port of ``url``; returns (host, port) for resolution."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise self._refuse(url, f"the URL is malformed ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise self._refuse(url, f"scheme {scheme or '(none)'!r} is not allowed")
        host = parts.hostname
        if not host:
            raise self._refuse(url, "the URL has no host")
        if parts.username or parts.password:
            raise self._refuse(url, "credentials in the URL are not allowed")
        if not self.host_allowed(host):
            raise self._refuse(url, f"host {host!r} is not allowed")
        effective = port if port is not None else (443 if scheme == "https" else 80)
        if self.ports and effective not in self.ports:
            raise self._refuse(url, f"port {effective} is not allowed")
        return host, effective

    def check_addresses(self, url: str, addresses: Iterable[str]) -> None:
        """Refuse when any resolved address is internal and not listed explicitly."""
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public_address(address) and not self._listed_address(address):
                raise self._refuse(
                    url, f"it resolves to {address}, an internal address that is not listed")

    async def check(self, url: str) -> None:
        """The full check: URL parts, then DNS resolution of the host."""
        host, port = self.check_url(url)
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            self.check_addresses(url, [str(literal)])
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            # Not a refusal: DNS may be down for a moment, so the call can succeed later.
            raise RetriableError(f"{_redact(url)}: the host does not resolve ({exc})",
                                 hint="check the host name and the machine's DNS") from None
        self.check_addresses(url, [str(info[4][0]) for info in infos])


def _redact(url: str) -> str:
    """The URL without credentials and query string (which often carry tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(malformed URL)"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def policy_options() -> list[Any]:
    """Connection options a connector adds to offer an egress policy (see http)."""
    from integrator.connectors.spec import Option

    return [
        Option("allow_hosts", "list", "Hosts requests may go to besides the base URL's: "
               "names, *.wildcards, IP addresses or CIDR ranges. Internal addresses "
               "(loopback, private, link-local) are refused unless listed here.",
               default=[], examples=(["*.myshopify.com", "10.20.0.0/16"],)),
        Option("allow_schemes", "list", "URL schemes allowed (default: the base URL's, "
               "and https).", default=[], examples=(["https", "http"],)),
        Option("allow_ports", "any", "Ports allowed, a list of numbers (default: any).",
               default=[], examples=([443, 8443],)),
    ]
