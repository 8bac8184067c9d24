"""Credentials on the wire: HTTP Basic and WS-Security UsernameToken.

The password stays a :class:`~integrator.security.secrets.Secret` until a request is
built: both classes call ``reveal()`` per request, so the plain value is never stored
on a long-lived object, logged by zeep's transport (the connector's transport does not
log envelopes) or copied into an error.

``wsse-text`` sends ``<wsse:Password Type="...#PasswordText">``; ``wsse-digest`` sends
``Base64(SHA-1(nonce + created + password))`` with a fresh 16-byte nonce and a UTC
``Created`` (``...Z``) per request, as the UsernameToken Profile 1.1 says.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Any

import httpx
from zeep.wsse.username import UsernameToken

from integrator.security.secrets import Secret

__all__ = ["AUTH_MODES", "SecretBasicAuth", "SecretUsernameToken", "reveal"]

AUTH_MODES = ("none", "basic", "wsse-text", "wsse-digest")


def reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


class SecretBasicAuth(httpx.Auth):
    """``Authorization: Basic ...`` computed per request from the secret."""

    def __init__(self, username: str | Secret, password: str | Secret) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        pair = f"{reveal(self._username)}:{reveal(self._password)}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        yield request


class SecretUsernameToken(UsernameToken):
    """zeep's UsernameToken reading the password from a Secret when it signs a request."""

    def __init__(self, username: str | Secret, password: str | Secret, *,
                 digest: bool) -> None:
        self._username_value = username
        self._secret = password
        super().__init__(username="", password=None,  # type: ignore[no-untyped-call]
                         use_digest=digest, zulu_timestamp=True)

    @property
    def username(self) -> str:
        return reveal(self._username_value)

    @username.setter
    def username(self, value: Any) -> None:
        """zeep's constructor assigns it; the value given to ours wins."""

    @property
    def password(self) -> str:
        return reveal(self._secret)

    @password.setter
    def password(self, value: Any) -> None:
        """zeep's constructor assigns None; the secret given to ours wins."""

    def __repr__(self) -> str:
        return f"SecretUsernameToken(digest={self.use_digest})"
