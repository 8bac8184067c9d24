"""Request templates: method, path, query and headers, compiled once, rendered per item.

Option values without ``{{``/``{%`` stay constant text (no rendering cost). A rendered
path is appended to the base URL; an absolute URL is used as it is (the egress policy
checks it before anything is sent). Rendered values are checked for what data must not
do: ``..`` segments, a scheme-relative ``//host``, control characters and spaces, a
method that is not a token — each a RejectedError for that message only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integrator.connectors.protocols.http.errors import display_url
from integrator.connectors.protocols.http.settings import reveal
from integrator.errors import FatalError, RejectedError
from integrator.mapping.templates import Template, compile_template
from integrator.security.secrets import Secret

__all__ = ["Prepared", "RequestTemplate", "Text", "join_url"]

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_METHOD = re.compile(r"^[A-Z]{1,20}$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")
_ENCODE = "encode values from data with `| urlencode | replace('/', '%2F')`"


class Text:
    """A constant, a secret, or a compiled template — rendered the same way."""

    __slots__ = ("const", "template")

    def __init__(self, value: Any, name: str, *, autoescape: bool = False) -> None:
        self.template: Template | None = None
        self.const: Any = None
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            self.template = compile_template(value, name=name, autoescape=autoescape)
        elif isinstance(value, Secret):
            self.const = value
        elif isinstance(value, bool):
            self.const = "true" if value else "false"
        else:
            self.const = "" if value is None else str(value)

    @property
    def constant(self) -> bool:
        return self.template is None

    def render(self, context: Mapping[str, Any]) -> str:
        template = self.template
        if template is None:
            return reveal(self.const) if isinstance(self.const, Secret) else self.const
        return template.render(context)


def join_url(base_url: str, path: str, where: str) -> str:
    """The absolute URL for a rendered path (see the module docstring for the checks)."""
    if _ABSOLUTE.match(path):
        if _BAD_CHARS.search(path):
            raise RejectedError(f"{where}: the rendered URL {display_url(path)} contains "
                                "spaces or control characters",
                                hint=_ENCODE)
        return path
    if path.startswith("//"):
        raise RejectedError(f"{where}: the rendered path {path[:100]!r} is a "
                            "scheme-relative URL", hint="give a path, or a full URL")
    if _BAD_CHARS.search(path):
        raise RejectedError(f"{where}: the rendered path {path[:100]!r} contains spaces "
                            "or control characters",
                            hint=_ENCODE)
    route = path.split("?", 1)[0].split("#", 1)[0]
    if any(segment in ("..", ".") for segment in route.split("/")):
        raise RejectedError(f"{where}: the rendered path {path[:100]!r} contains '.' or "
                            "'..' segments", hint="a value from the message must not "
                            "navigate the API's paths; " + _ENCODE)
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(slots=True)
class Prepared:
    """A rendered request line and headers."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]

    def key(self) -> tuple[Any, ...]:
        return (self.method, self.url, tuple(sorted(self.params.items())),
                tuple(sorted(self.headers.items())))


class RequestTemplate:
    """Method, path, query and headers of a sink, source or lookup request."""

    def __init__(self, base_url: str, *, method: Any, path: Any,
                 query: Mapping[str, Any] | None, headers: Mapping[str, Any] | None,
                 where: str) -> None:
        self.base_url = base_url
        self.where = where
        self.method = Text(method or "GET", f"{where}.method")
        self.path = Text(path or "", f"{where}.path")
        self.query = {str(k): Text(v, f"{where}.query.{k}") for k, v in (query or {}).items()}
        self.headers = {str(k): Text(v, f"{where}.headers.{k}")
                        for k, v in (headers or {}).items()}
        self._fixed_url: str | None = None
        self._fixed: Prepared | None = None
        try:
            if self.path.constant:
                self._fixed_url = join_url(base_url, self.path.render({}), where)
            if self.constant:
                self._fixed = self.render({})
        except RejectedError as exc:  # nothing came from data: the options are wrong
            raise FatalError(exc.message, hint=exc.hint) from None

    @property
    def constant(self) -> bool:
        """Nothing is templated: every item gets the same request line and headers."""
        return (self.method.constant and self.path.constant
                and all(t.constant for t in self.query.values())
                and all(t.constant for t in self.headers.values()))

    def render(self, context: Mapping[str, Any]) -> Prepared:
        """Raises TemplateError or RejectedError (both for this item only)."""
        fixed = self._fixed
        if fixed is not None:  # a copy: callers add headers
            return Prepared(fixed.method, fixed.url, dict(fixed.params), dict(fixed.headers))
        method = self.method.render(context).strip().upper()
        if not _METHOD.match(method):
            raise RejectedError(f"{self.where}: the rendered method {method[:30]!r} is not "
                                "an HTTP method")
        url = self._fixed_url or join_url(self.base_url, self.path.render(context),
                                          self.where)
        params = {k: t.render(context) for k, t in self.query.items()}
        headers = {k: t.render(context) for k, t in self.headers.items()}
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\x00" in value:
                raise RejectedError(f"{self.where}: header {name} rendered with a line "
                                    "break or NUL", hint="clean the value in a map step")
        return Prepared(method, url, params, headers)
