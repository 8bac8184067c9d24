"""The lookup: one GET per key (``/customers/{{ key }}.json``), ``concurrency`` at once.

A status in ``not_found_status`` (404, 410) or a ``result`` that is null means "not
found": the key is absent from the answer. Any other failure fails the lookup (the
enrich step then fails the messages of that batch): RetriableError for temporary
failures and unreadable answers, RejectedError for other refusals (a 400 for a key the
API considers malformed), FatalError when the credentials are refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from integrator.connectors.base import Lookup
from integrator.connectors.protocols.http.errors import display_url, status_error
from integrator.connectors.protocols.http.request import RequestTemplate
from integrator.connectors.protocols.http.settings import status_list
from integrator.connectors.protocols.http.source import decode_json
from integrator.connectors.spec import Config
from integrator.errors import FatalError, RejectedError
from integrator.mapping.jmespath import compile_expression

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.client import HttpClient
    from integrator.connectors.protocols.http.connector import HttpConnector

__all__ = ["HttpLookup"]

_MISSING: Any = object()


class HttpLookup(Lookup):
    def __init__(self, connector: HttpConnector, options: Config) -> None:
        self.connector = connector
        self.where = f"connection {connector.name!r} (http lookup)"
        self.request = RequestTemplate(connector.settings.base_url,
                                       method=options.method or "GET", path=options.path,
                                       query=options.query, headers=options.headers,
                                       where=self.where)
        self.result = compile_expression(options.result) if options.get("result") else None
        self.not_found = status_list(options.get("not_found_status", [404, 410]),
                                     "not_found_status")
        self.concurrency: int = options.get("concurrency") or 4
        self.client: HttpClient | None = None

    async def open(self) -> None:
        self.client = await self.connector.acquire()

    async def close(self) -> None:
        if self.client is not None:
            self.client = None
            await self.connector.release()

    async def get_many(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Any]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: Hashable) -> Any:
            async with gate:
                return await self._get(key)

        answers = await asyncio.gather(*(one(k) for k in keys), return_exceptions=True)
        errors = [a for a in answers if isinstance(a, BaseException)]
        if errors:
            fatal = [e for e in errors if isinstance(e, FatalError)]
            raise fatal[0] if fatal else errors[0]
        return {k: a for k, a in zip(keys, answers, strict=True) if a is not _MISSING}

    async def _get(self, key: Hashable) -> Any:
        client = self.client
        if client is None:
            raise FatalError(f"{self.where}: lookup before open")
        prepared = self.request.render({"key": key})
        answer = await client.send(
            prepared.method, prepared.url, params=prepared.params, headers=prepared.headers,
            read="body", too_large=lambda m: RejectedError(m, hint="raise "
                                                           "max_response_size"))
        if answer.status in self.not_found:
            return _MISSING
        s = self.connector.settings
        error = status_error(answer, self.where, retry_status=s.retry_status,
                             auth_failure_status=s.auth_failure_status,
                             refreshed=answer.refreshed,
                             redact=self.connector.runtime.redactor)
        if error is not None:
            raise error
        if 300 <= answer.status < 400:
            raise RejectedError(f"{self.where}: {answer.method} {display_url(answer.url)} "
                                f"answered {answer.status} (a redirect) and "
                                "follow_redirects is off")
        if answer.status == 204 or not answer.content:
            return _MISSING
        body = decode_json(answer, self.where, self.connector.runtime.redactor)
        value = self.result.search(body) if self.result is not None else body
        return _MISSING if value is None else value
