"""The source: poll an API, page by page, from a watermark that advances on ack.

One *poll* reads every page (see :mod:`.pagination`); each page becomes one batch of
records (``records`` picks them from the answer). ``follow: false`` polls once and ends;
``follow: true`` polls every ``interval`` until ``stop()``.

Errors: a page the API refuses (4xx) is a FatalError — the source is misconfigured; a
temporary failure (5xx, 429, timeout) or an unreadable answer (malformed JSON, an HTML
page) is a RetriableError. With ``follow: true`` a RetriableError is logged and the next
poll starts after ``interval`` from the same watermark; with ``follow: false`` it ends
the run. Records already read are still acknowledged as they finish; the watermark does
not move past a poll that failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from integrator.connectors.base import Record, Source
from integrator.connectors.protocols.http.errors import (
    display_url,
    excerpt,
    html_title,
    is_html,
    status_error,
)
from integrator.connectors.protocols.http.pagination import PageRequest, build_pagination
from integrator.connectors.protocols.http.request import join_url
from integrator.connectors.protocols.http.settings import reveal
from integrator.connectors.protocols.http.sink import encode_json
from integrator.connectors.protocols.http.watermark import Poll, Watermark, WatermarkSettings
from integrator.connectors.spec import Config
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.mapping.jmespath import compile_expression

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.client import Answer, HttpClient
    from integrator.connectors.protocols.http.connector import HttpConnector

__all__ = ["HttpFollowSource", "HttpSource", "decode_json"]


def decode_json(answer: Answer, where: str, redact: Any) -> Any:
    """The JSON of an answer; RetriableError for an HTML page or malformed JSON."""
    target = f"{answer.method} {display_url(answer.url)}"
    facts = {"url": display_url(answer.url), "status": answer.status}
    if is_html(answer.content_type, answer.content):
        title = html_title(answer.content)
        raise RetriableError(
            f"{where}: {target} answered {answer.status} with an HTML page"
            f"{f' ({title!r})' if title else ''} where JSON was expected",
            hint="a proxy, login or maintenance page answered instead of the API: check "
                 "base_url, path and auth", context=facts)
    try:
        return orjson.loads(answer.content or b"")
    except orjson.JSONDecodeError as exc:
        raise RetriableError(
            f"{where}: {target} answered {answer.status} with malformed JSON ({exc}): "
            f"{excerpt(answer.content, answer.content_type, redact)}",
            hint="the API sent a broken answer; it is read again later",
            context=facts) from None


class HttpSource(Source):
    """Reads once (``follow: false``); :class:`HttpFollowSource` keeps polling."""

    def __init__(self, connector: HttpConnector, options: Config) -> None:
        self.connector = connector
        self.where = f"connection {connector.name!r} (http source)"
        base = connector.settings.base_url
        try:
            self.url = join_url(base, options.path or "", self.where)
        except RejectedError as exc:
            raise FatalError(exc.message, hint=exc.hint) from None
        self.method = (options.method or "GET").upper()
        self.params = {str(k): _param(v) for k, v in (options.query or {}).items()}
        self.headers = dict(options.headers or {})
        self.body = encode_json(options.body) if options.body is not None else None
        if self.body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.records = compile_expression(options.records) if options.records else None
        self.pagination = build_pagination(options.pagination, self.where)
        self.watermark = Watermark(WatermarkSettings.build(options.watermark, self.where),
                                   connector.state) if options.watermark else None
        self.follow = bool(options.follow)
        self.interval: float = options.interval if options.interval is not None else 60.0
        self.max_pages: int = options.max_pages or 10_000
        self.client: HttpClient | None = None
        self._stop = asyncio.Event()
        self._read = 0

    async def open(self) -> None:
        self.client = await self.connector.acquire()
        if self.watermark is not None:
            await self.watermark.load()

    async def close(self) -> None:
        if self.client is not None:
            self.client = None
            await self.connector.release()

    def stop(self) -> None:
        self._stop.set()

    async def ack(self, tokens: Sequence[Any]) -> None:
        if self.watermark is not None:
            await self.watermark.ack(tokens)

    async def batches(self) -> AsyncIterator[list[Record]]:
        log = self.connector.runtime.logger
        while not self._stop.is_set():
            poll = self.watermark.begin() if self.watermark is not None else None
            complete = False
            pause = self.interval
            try:
                async for batch in self._poll(poll):
                    yield batch
                complete = not self._stop.is_set()
            except RetriableError as exc:
                if not self.follow:
                    raise
                pause = max(pause, exc.retry_after or 0.0)
                log.warning("%s: poll failed, next poll in %ss: %s", self.where,
                            pause, self.connector.runtime.redactor(str(exc)))
            finally:
                if poll is not None and self.watermark is not None:
                    await self.watermark.finish(poll, complete=complete)
            if not self.follow:
                return
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
            except TimeoutError:
                pass

    async def _poll(self, poll: Poll | None) -> AsyncIterator[list[Record]]:
        client = self.client
        if client is None:
            raise FatalError(f"{self.where}: read before open")
        params = dict(self.params)
        if poll is not None and self.watermark is not None:
            params.update(self.watermark.query(poll))
        page: PageRequest | None = self.pagination.first(self.url, params)
        seen: dict[str, int] = {}
        redact = self.connector.runtime.redactor
        headers = {k: reveal(v) for k, v in self.headers.items()}
        while page is not None and not self._stop.is_set():
            if page.number > self.max_pages:
                raise FatalError(f"{self.where}: more than max_pages ({self.max_pages}) "
                                 "pages in one poll", hint="raise max_pages, or check that "
                                 "the pagination settings match the API")
            identity = page.identity
            if identity in seen:
                raise FatalError(f"{self.where}: the pagination loops: page {page.number} "
                                 f"asks for {display_url(page.url)} again (as page "
                                 f"{seen[identity]})", hint="check the pagination settings")
            seen[identity] = page.number
            # a next link is a complete URL to GET; counters repeat the first request
            first_like = page.number == 1 or self.pagination.kind in ("cursor", "page",
                                                                       "offset")
            try:
                answer = await client.send(
                    self.method if first_like else "GET", page.url, params=page.params,
                    headers=headers, content=self.body if first_like else None,
                    read="body", too_large=lambda m: FatalError(
                        m, hint="raise max_response_size, or ask for smaller pages (a "
                                "page size parameter)"))
            except RejectedError as exc:  # e.g. a next link the egress policy refuses
                raise FatalError(exc.message, hint=exc.hint, context=exc.context) from None
            error = self._status_error(answer)
            if error is not None:
                raise error
            body = decode_json(answer, self.where, redact)
            records = self._extract(body, answer)
            meta = {"url": display_url(answer.url), "page": page.number}
            batch: list[Record] = []
            for item in records:
                if poll is not None and self.watermark is not None:
                    token = self.watermark.admit(poll, item)
                    if token is None:
                        continue  # delivered before, at the boundary value
                else:
                    token = (0, self._read + len(batch))
                batch.append(Record(item, dict(meta), token))
            self._read += len(batch)
            if batch:
                yield batch
            page = self.pagination.next(page, answer.url, answer.headers, body, records)

    def _status_error(self, answer: Answer) -> IntegratorError | None:
        s = self.connector.settings
        error = status_error(answer, self.where, retry_status=s.retry_status,
                             auth_failure_status=s.auth_failure_status,
                             refreshed=answer.refreshed,
                             redact=self.connector.runtime.redactor)
        if isinstance(error, RejectedError):
            return FatalError(error.message, hint="the API refuses the source's request: "
                              "check path, query and auth", context=error.context)
        if error is None and 300 <= answer.status < 400:
            return FatalError(f"{self.where}: {answer.method} {display_url(answer.url)} "
                              f"answered {answer.status} (a redirect) and "
                              "follow_redirects is off", hint="turn follow_redirects on, "
                              "or point path at the final URL")
        return error

    def _extract(self, body: Any, answer: Answer) -> list[Any]:
        found = self.records.search(body) if self.records is not None else body
        if found is None:
            return []
        if isinstance(found, list):
            return found
        if isinstance(found, dict):
            return [found]
        raise FatalError(
            f"{self.where}: records {self.records.source if self.records else '@'!r} gave "
            f"{type(found).__name__} on {display_url(answer.url)}, not a list of records",
            hint="point records at the array of records in the answer")


class HttpFollowSource(HttpSource):
    """``follow: true``: polls until stopped."""

    finite = False


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return reveal(value)
