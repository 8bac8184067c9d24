"""Pagination strategies: given one page's answer, the request for the next page.

==============  ========================================================================
``none``        one request is the whole answer
``link_header`` ``Link: <...>; rel="next"`` (RFC 8288) — Shopify, GitHub. The next URL
                is used verbatim (Shopify's page_info must not be combined with filters)
``next_url``    a JMESPath to the next page's URL in the body — Salesforce
                ``nextRecordsUrl``, OData ``"@odata.nextLink"``; relative URLs resolve
                against the current page's URL
``cursor``      the next cursor (a JMESPath on the body, or on the last record) goes into
                query parameter ``param``; ``has_more`` false, or no cursor, stops —
                Stripe ``starting_after``, HubSpot ``after``
``page``        ``param`` counts pages from ``start``; stops at an empty page, a page
                shorter than ``size`` (when ``size_param`` asks for that size), or
                ``total_pages`` — WooCommerce, Magento
``offset``      ``param`` advances by the records received; stops like ``page``, or when
                ``total`` is reached — Mailchimp ``offset``/``count``/``total_items``
==============  ========================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from integrator.connectors.protocols.http.errors import display_url
from integrator.errors import ExpressionSyntaxError, FatalError
from integrator.flow.suggest import did_you_mean
from integrator.mapping.jmespath import Expression, compile_expression

__all__ = [
    "PAGINATION_FIELDS",
    "PageRequest",
    "Pagination",
    "build_pagination",
    "pagination_problems",
    "parse_link_header",
]

#: type → (required fields, optional fields)
PAGINATION_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "none": (frozenset(), frozenset()),
    "link_header": (frozenset(), frozenset({"rel"})),
    "next_url": (frozenset({"next"}), frozenset()),
    "cursor": (frozenset({"param"}), frozenset({"cursor", "cursor_from_last", "has_more"})),
    "page": (frozenset(), frozenset({"param", "start", "size_param", "size",
                                     "total_pages"})),
    "offset": (frozenset(), frozenset({"param", "start", "size_param", "size", "total"})),
}
_EXPRESSIONS = ("next", "cursor", "cursor_from_last", "has_more", "total_pages", "total")
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)


@dataclass(frozen=True)
class PageRequest:
    """One page to fetch: the URL, the query parameters to merge into it, its number."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    number: int = 1

    @property
    def identity(self) -> str:
        return str(httpx.URL(self.url).copy_merge_params(dict(self.params)))


def parse_link_header(values: list[str]) -> dict[str, str]:
    """``rel`` → URL from ``Link`` header values (several rels may share a link)."""
    out: dict[str, str] = {}
    for value in values:
        for m in _LINK.finditer(value):
            url, params = m.group(1).strip(), m.group(2)
            for rel in _REL.finditer(params):
                for name in (rel.group(1) or rel.group(2) or "").split():
                    out.setdefault(name.lower(), url)
    return out


class Pagination:
    """Decides the next page from the current one's answer (None: no more pages)."""

    kind: ClassVar[str] = "none"

    def first(self, url: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(url, dict(params), 1)

    def next(self, current: PageRequest, url: str, headers: httpx.Headers, body: Any,
             records: list[Any]) -> PageRequest | None:
        """``url`` is the answer's final URL (after redirects)."""
        return None


class LinkHeaderPagination(Pagination):
    kind = "link_header"

    def __init__(self, rel: str) -> None:
        self.rel = rel.lower()

    def next(self, current: PageRequest, url: str, headers: httpx.Headers, body: Any,
             records: list[Any]) -> PageRequest | None:
        target = parse_link_header(headers.get_list("link")).get(self.rel)
        if not target:
            return None
        return PageRequest(str(httpx.URL(url).join(target)), {}, current.number + 1)


class NextUrlPagination(Pagination):
    kind = "next_url"

    def __init__(self, expression: Expression) -> None:
        self.expression = expression

    def next(self, current: PageRequest, url: str, headers: httpx.Headers, body: Any,
             records: list[Any]) -> PageRequest | None:
        target = self.expression.search(body)
        if target is None or target == "" or target is False:
            return None
        if not isinstance(target, str):
            raise FatalError(f"pagination next {self.expression.source!r} gave "
                             f"{type(target).__name__}, not a URL, on page "
                             f"{current.number} ({display_url(url)})")
        return PageRequest(str(httpx.URL(url).join(target)), {}, current.number + 1)


class CursorPagination(Pagination):
    kind = "cursor"

    def __init__(self, param: str, cursor: Expression | None,
                 from_last: Expression | None, has_more: Expression | None) -> None:
        self.param = param
        self.cursor = cursor
        self.from_last = from_last
        self.has_more = has_more

    def first(self, url: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(url, dict(params), 1)

    def next(self, current: PageRequest, url: str, headers: httpx.Headers, body: Any,
             records: list[Any]) -> PageRequest | None:
        if self.has_more is not None and not _truthy(self.has_more.search(body)):
            return None
        if self.cursor is not None:
            value = self.cursor.search(body)
        elif self.from_last is not None and records:
            value = self.from_last.search(records[-1])
        else:
            return None
        if value is None or value == "" or isinstance(value, dict | list | bool):
            return None
        text = str(value)
        if current.params.get(self.param) == text:
            return None  # the same cursor again: the peer has nothing newer
        return PageRequest(current.url, {**current.params, self.param: text},
                           current.number + 1)


class CountingPagination(Pagination):
    """``page`` and ``offset``: a counter in a query parameter."""

    def __init__(self, kind: str, param: str, start: int, size_param: str | None,
                 size: int | None, total: Expression | None) -> None:
        self.kind = kind  # type: ignore[misc]  # one class serves both kinds
        self.param = param
        self.start = start
        self.size_param = size_param
        self.size = size
        self.total = total

    def first(self, url: str, params: Mapping[str, str]) -> PageRequest:
        first = {**params, self.param: str(self.start)}
        if self.size_param and self.size:
            first[self.size_param] = str(self.size)
        return PageRequest(url, first, 1)

    def next(self, current: PageRequest, url: str, headers: httpx.Headers, body: Any,
             records: list[Any]) -> PageRequest | None:
        if not records:
            return None
        if self.size_param and self.size and len(records) < self.size:
            return None
        position = int(current.params[self.param])
        position += 1 if self.kind == "page" else len(records)
        if self.total is not None:
            total = self.total.search(body)
            if isinstance(total, int | float) and not isinstance(total, bool):
                done = position > total if self.kind == "page" else position >= total
                if done:
                    return None
        return PageRequest(current.url, {**current.params, self.param: str(position)},
                           current.number + 1)


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {}) and value != "false"


def pagination_problems(raw: Any) -> list[str]:
    """Every problem of a ``pagination`` mapping."""
    if not isinstance(raw, Mapping):
        return ["pagination must be a mapping with a type"]
    kind = raw.get("type")
    if kind not in PAGINATION_FIELDS:
        hint = did_you_mean(str(kind), PAGINATION_FIELDS) if kind else None
        return [f"pagination.type must be one of {', '.join(PAGINATION_FIELDS)}"
                + (f", got {kind!r}" if kind else "") + (f" ({hint})" if hint else "")]
    required, optional = PAGINATION_FIELDS[kind]
    out = [f"pagination ({kind}) needs {name}" for name in sorted(required - set(raw))]
    known = required | optional | {"type"}
    for name in raw:
        if name not in known:
            suggestion = did_you_mean(str(name), known)
            out.append(f"pagination ({kind}) has no field {name!r}"
                       + (f" ({suggestion})" if suggestion else
                          f"; fields: {', '.join(sorted(known - {'type'})) or 'none'}"))
    if kind == "cursor" and ("cursor" in raw) == ("cursor_from_last" in raw):
        out.append("pagination (cursor) needs exactly one of cursor (JMESPath on the "
                   "answer) and cursor_from_last (JMESPath on the last record)")
    for name in _EXPRESSIONS:
        if name in raw and name in known:
            value = raw[name]
            if not isinstance(value, str):
                out.append(f"pagination.{name} must be a JMESPath text")
                continue
            try:
                compile_expression(value)
            except ExpressionSyntaxError as exc:
                out.append(f"pagination.{name}: {exc.message}")
    for name in ("start", "size"):
        if name in raw and name in known:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                out.append(f"pagination.{name} must be a whole number ≥ 0")
    for name in ("param", "size_param", "rel"):
        if name in raw and name in known and not isinstance(raw[name], str):
            out.append(f"pagination.{name} must be text")
    if kind in ("page", "offset") and raw.get("size_param") and not raw.get("size"):
        out.append(f"pagination ({kind}) with size_param needs size")
    return out


def build_pagination(raw: Mapping[str, Any] | None, where: str) -> Pagination:
    if raw is None:
        return Pagination()
    problems = pagination_problems(raw)
    if problems:
        raise FatalError(f"{where}: {problems[0]}")

    def expr(name: str) -> Expression | None:
        return compile_expression(raw[name]) if raw.get(name) else None

    kind = raw["type"]
    if kind == "link_header":
        return LinkHeaderPagination(raw.get("rel") or "next")
    if kind == "next_url":
        nxt = expr("next")
        assert nxt is not None
        return NextUrlPagination(nxt)
    if kind == "cursor":
        return CursorPagination(raw["param"], expr("cursor"), expr("cursor_from_last"),
                                expr("has_more"))
    if kind in ("page", "offset"):
        return CountingPagination(
            kind, raw.get("param") or kind,
            int(raw.get("start", 1 if kind == "page" else 0)),
            raw.get("size_param"), raw.get("size"),
            expr("total_pages" if kind == "page" else "total"))
    return Pagination()
