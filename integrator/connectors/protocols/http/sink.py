"""The sink actions: ``request`` (one request per delivery) and ``batch`` (a JSON array).

``request``
    Deliveries of one ``write_batch`` are sent one after another, in order; parallelism
    comes from the sink's ``concurrency`` (each engine worker is one request in flight),
    so keep the sink's ``batch_size`` small when concurrency matters. A per-delivery
    result says which succeeded. When a host cannot be reached (connection refused or
    timed out, token endpoint down) the remaining deliveries of the batch to that host
    are not sent and get the same RetriableError: each would wait for the same timeout.

``batch``
    Deliveries are grouped by their rendered request (method, URL, query, headers) and
    sent ``max_batch`` at a time as one JSON array (or inside ``envelope``). With
    ``results``, the answer's per-item results decide each delivery (``item_ok``);
    without it the request succeeds or fails as a whole. When per-item results cannot be
    read from a 2xx answer, every item is rejected, not retried: the peer may have
    applied them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from integrator.connectors.base import Delivery, Sink
from integrator.connectors.protocols.http.errors import (
    display_url,
    excerpt,
    html_title,
    is_html,
    status_error,
)
from integrator.connectors.protocols.http.request import Prepared, RequestTemplate, Text
from integrator.connectors.protocols.http.settings import origin_key, status_list
from integrator.connectors.spec import Config
from integrator.errors import (
    ConversionError,
    FatalError,
    IntegratorError,
    MessageError,
    RejectedError,
    RetriableError,
)
from integrator.mapping.context import TemplateContext
from integrator.mapping.jmespath import Expression, compile_expression, is_truthy
from integrator.mapping.templates.filters import json_default

if TYPE_CHECKING:
    from integrator.connectors.protocols.http.client import Answer, HttpClient
    from integrator.connectors.protocols.http.connector import HttpConnector

__all__ = ["HttpBatchSink", "HttpRequestSink", "encode_json"]

CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded",
                 "text": "text/plain; charset=utf-8"}


def encode_json(value: Any) -> bytes:
    """JSON bytes (Decimal as a number; integers beyond 64 bits through the json module).

    Raises ConversionError for values JSON cannot hold."""
    try:
        return orjson.dumps(value, default=json_default)
    except TypeError as exc:
        if "Integer exceeds" in str(exc):
            try:
                return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                  allow_nan=False).encode()
            except (TypeError, ValueError):
                pass
        raise ConversionError(f"the payload cannot be written as JSON: {exc}",
                              hint="map it to JSON values (text, numbers, lists, objects)"
                              ) from None


def _form(payload: Any, where: str) -> bytes:
    if not isinstance(payload, Mapping):
        raise ConversionError(f"{where}: body form needs an object payload, got "
                              f"{type(payload).__name__}")
    pairs: list[tuple[str, str]] = []
    for key, value in payload.items():
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict | list):
                raise ConversionError(f"{where}: body form cannot encode the nested value "
                                      f"of {key!r}", hint="flatten it in a map step")
            text = ("true" if item else "false") if isinstance(item, bool) else \
                "" if item is None else str(item)
            pairs.append((str(key), text))
    return urlencode(pairs).encode()


class _Body:
    """How a payload becomes the request body of the ``request`` action."""

    def __init__(self, kind: str, template: str | None, content_type: str | None,
                 where: str) -> None:
        self.kind = kind
        self.where = where
        self.content_type = content_type or CONTENT_TYPES.get(kind)
        xml = "xml" in (self.content_type or "")
        self.template = Text(template, f"{where}.template", autoescape=xml) \
            if template else None

    def encode(self, payload: Any, context: Mapping[str, Any]) -> bytes | None:
        if self.kind == "none":
            return None
        if self.template is not None:
            return self.template.render(context).encode()
        if self.kind == "json":
            return encode_json(payload)
        if self.kind == "form":
            return _form(payload, self.where)
        if isinstance(payload, str):
            return payload.encode()
        if isinstance(payload, bytes):
            return payload
        raise ConversionError(f"{self.where}: body text needs a text payload (or a "
                              f"template), got {type(payload).__name__}",
                              hint="render the payload with a template step or `template`")


class _HttpSink(Sink):
    """What both actions share: the connection's client, statuses, idempotency."""

    def __init__(self, connector: HttpConnector, options: Config, action: str) -> None:
        self.connector = connector
        self.where = f"connection {connector.name!r} (http {action})"
        settings = connector.settings
        self.request = RequestTemplate(settings.base_url, method=options.method,
                                       path=options.path, query=options.query,
                                       headers=options.headers, where=self.where)
        self.accept_status = status_list(options.accept_status, "accept_status")
        self.idempotency_header: str = options.idempotency_header or "Idempotency-Key"
        key = options.get("idempotency_key")
        self.idempotency_key = Text(key, f"{self.where}.idempotency_key") if key else None
        self.client: HttpClient | None = None

    async def open(self) -> None:
        self.client = await self.connector.acquire()

    async def close(self) -> None:
        if self.client is not None:
            self.client = None
            await self.connector.release()

    async def abort(self) -> None:
        await self.close()

    def _status_error(self, answer: Answer) -> IntegratorError | None:
        s = self.connector.settings
        error = status_error(answer, self.where, retry_status=s.retry_status,
                             auth_failure_status=s.auth_failure_status,
                             accept_status=self.accept_status, refreshed=answer.refreshed,
                             redact=self.connector.runtime.redactor)
        if isinstance(error, FatalError):
            raise error
        return error

    def _html_error(self, answer: Answer) -> RetriableError | None:
        if 200 <= answer.status < 300 and is_html(answer.content_type, answer.content):
            title = html_title(answer.content)
            return RetriableError(
                f"{self.where}: {answer.method} {display_url(answer.url)} answered "
                f"{answer.status} with an HTML page{f' ({title!r})' if title else ''} "
                "where the API's answer was expected",
                hint="a proxy, login or maintenance page answered instead of the API: "
                     "check base_url and auth (set reject_html: false if this API "
                     "answers HTML)",
                context={"url": display_url(answer.url), "status": answer.status})
        return None


def _unreachable(exc: IntegratorError) -> str | None:
    """The key under which a failure makes further requests of the batch pointless."""
    if not isinstance(exc, RetriableError):
        return None
    if exc.context.get("auth"):
        return "*"
    if exc.context.get("phase") == "connect":
        return str(exc.context.get("origin"))
    return None


class HttpRequestSink(_HttpSink):
    """Action ``request``: one request per delivery, in order."""

    def __init__(self, connector: HttpConnector, options: Config) -> None:
        super().__init__(connector, options, "request")
        self.body = _Body(options.body or "json", options.get("template"),
                          options.get("content_type"), self.where)
        self.reject_html = options.get("reject_html") is not False

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        results: list[IntegratorError | None] = [None] * len(deliveries)
        failed = False
        down: dict[str, IntegratorError] = {}
        for i, delivery in enumerate(deliveries):
            try:
                error = await self._deliver(delivery, down)
            except FatalError:
                raise
            except IntegratorError as exc:
                error = exc
            if error is not None:
                results[i] = error
                failed = True
        return results if failed else None

    async def _deliver(self, delivery: Delivery,
                       down: dict[str, IntegratorError]) -> IntegratorError | None:
        client = self.client
        if client is None:
            raise FatalError(f"{self.where}: write before open")
        context = TemplateContext(delivery.message, delivery.payload)
        prepared = self.request.render(context)
        content = self.body.encode(delivery.payload, context)
        headers = prepared.headers
        if content is not None and self.body.content_type and not any(
                k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = self.body.content_type
        if self.idempotency_key is not None:
            headers[self.idempotency_header] = self.idempotency_key.render(context)
        earlier = (down.get(origin_key(prepared.url)) or down.get("*")) if down else None
        if earlier is not None:
            return RetriableError(
                f"{self.where}: {prepared.method} {display_url(prepared.url)} was not sent: "
                f"an earlier request of this batch failed ({earlier.message})",
                retry_after=getattr(earlier, "retry_after", None), hint=earlier.hint,
                context={"url": display_url(prepared.url), "not_sent": True})
        try:
            answer = await client.send(prepared.method, prepared.url, params=prepared.params,
                                       headers=headers, content=content, read="head")
        except RetriableError as exc:
            key = _unreachable(exc)
            if key is not None:
                down[key] = exc
            raise
        error = self._status_error(answer)
        if error is None and self.reject_html:
            return self._html_error(answer)
        return error


def _default_item_ok(item: Any) -> bool:
    if not isinstance(item, Mapping):
        return is_truthy(item)
    if item.get("success") is False or item.get("ok") is False:
        return False
    if item.get("error") or item.get("errors"):
        return False
    status = _item_status(item)
    return status is None or status < 400


def _item_status(item: Mapping[str, Any]) -> int | None:
    for name in ("status", "statusCode", "status_code", "code"):
        value = item.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599:
            return int(value)
    return None


class HttpBatchSink(_HttpSink):
    """Action ``batch``: payloads grouped into JSON arrays, ``max_batch`` per request."""

    def __init__(self, connector: HttpConnector, options: Config) -> None:
        super().__init__(connector, options, "batch")
        self.max_batch: int = options.max_batch or 100
        self.envelope: str | None = options.get("envelope")
        self.envelope_fields: dict[str, Any] = dict(options.get("envelope_fields") or {})
        self.results: Expression | None = compile_expression(options.results) \
            if options.get("results") else None
        self.item_ok: Expression | None = compile_expression(options.item_ok) \
            if options.get("item_ok") else None
        self.item_error: Expression | None = compile_expression(options.item_error) \
            if options.get("item_error") else None

    async def write_batch(
        self, deliveries: Sequence[Delivery]
    ) -> list[IntegratorError | None] | None:
        if self.client is None:
            raise FatalError(f"{self.where}: write before open")
        results: list[IntegratorError | None] = [None] * len(deliveries)
        groups: dict[tuple[Any, ...], tuple[Prepared, list[int]]] = {}
        keys: list[str | None] = [None] * len(deliveries)
        encoded: list[bytes | None] = [None] * len(deliveries)
        constant = self.request.constant and self.idempotency_key is None
        fixed = self.request.render({}) if constant else None
        for i, delivery in enumerate(deliveries):
            try:
                if fixed is not None:
                    prepared = fixed
                else:
                    context = TemplateContext(delivery.message, delivery.payload)
                    prepared = self.request.render(context)
                    if self.idempotency_key is not None:
                        keys[i] = self.idempotency_key.render(context)
                encoded[i] = encode_json(delivery.payload)
            except MessageError as exc:
                results[i] = exc
                continue
            key = prepared.key() if fixed is None else ()
            group = groups.get(key)
            if group is None:
                groups[key] = (prepared, [i])
            else:
                group[1].append(i)
        down: IntegratorError | None = None
        for prepared, indexes in groups.values():
            for start in range(0, len(indexes), self.max_batch):
                chunk = indexes[start:start + self.max_batch]
                if down is not None:
                    outcome: list[IntegratorError | None] = [RetriableError(
                        f"{self.where}: {prepared.method} {display_url(prepared.url)} was "
                        f"not sent: an earlier request of this batch failed "
                        f"({down.message})", hint=down.hint)] * len(chunk)
                else:
                    try:
                        outcome = await self._send(prepared, [encoded[i] for i in chunk],
                                                   [keys[i] for i in chunk])
                    except FatalError:
                        raise
                    except IntegratorError as exc:
                        if _unreachable(exc) is not None:
                            down = exc
                        outcome = [exc] * len(chunk)
                for i, result in zip(chunk, outcome, strict=True):
                    results[i] = result
        return results if any(r is not None for r in results) else None

    async def _send(self, prepared: Prepared, items: list[bytes | None],
                    keys: list[str | None]) -> list[IntegratorError | None]:
        client = self.client
        assert client is not None
        array = b"[" + b",".join(i for i in items if i is not None) + b"]"
        if self.envelope:
            fields = {k: v for k, v in self.envelope_fields.items() if k != self.envelope}
            head = encode_json(fields)[:-1]  # the object without its closing brace
            content = head + (b"," if fields else b"") + encode_json(self.envelope) \
                + b":" + array + b"}"
        else:
            content = array
        headers = dict(prepared.headers)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        if self.idempotency_key is not None:
            digest = hashlib.sha256("\n".join(k or "" for k in keys).encode()).hexdigest()
            headers[self.idempotency_header] = digest[:40]
        n = len(items)
        answer = await client.send(
            prepared.method, prepared.url, params=prepared.params, headers=headers,
            content=content, read="body" if self.results is not None else "head",
            too_large=lambda m: RejectedError(
                m + "; the items may have been applied, so they are not retried",
                hint="raise max_response_size"))
        error = self._status_error(answer)
        if error is not None:
            return [error] * n
        html = self._html_error(answer)
        if html is not None:
            return [html] * n
        if self.results is None:
            return [None] * n
        return self._per_item(answer, n)

    def _per_item(self, answer: Answer, n: int) -> list[IntegratorError | None]:
        assert self.results is not None
        where = f"{self.where}: {answer.method} {display_url(answer.url)}"
        redact = self.connector.runtime.redactor

        def all_rejected(reason: str) -> list[IntegratorError | None]:
            error = RejectedError(
                f"{where} answered {answer.status}, but {reason}; the items may have "
                "been applied, so they are not retried",
                hint=f"check the results option ({self.results.source!r}) against the "
                     f"API's answer" if self.results else None,
                context={"url": display_url(answer.url), "status": answer.status})
            return [error] * n

        try:
            body = orjson.loads(answer.content or b"")
        except orjson.JSONDecodeError as exc:
            return all_rejected(f"the answer is not JSON ({exc}): "
                                f"{excerpt(answer.content, answer.content_type, redact)}")
        items = self.results.search(body)
        if not isinstance(items, list):
            return all_rejected(f"results {self.results.source!r} gave "
                                f"{type(items).__name__}, not a list of per-item results")
        if len(items) != n:
            return all_rejected(f"it gave {len(items)} results for {n} items")
        out: list[IntegratorError | None] = []
        for k, item in enumerate(items):
            ok = is_truthy(self.item_ok.search(item)) if self.item_ok is not None \
                else _default_item_ok(item)
            if ok:
                out.append(None)
                continue
            detail = self.item_error.search(item) if self.item_error is not None else item
            text = detail if isinstance(detail, str) else encode_json(detail).decode()
            text = excerpt(text.encode(), "application/json", redact)
            status = _item_status(item) if isinstance(item, Mapping) else None
            message = f"{where}: item {k + 1} of {n} failed" + \
                (f" with {status}" if status else "") + f": {text}"
            facts = {"url": display_url(answer.url), "item": k, "status": status}
            s = self.connector.settings
            if status is not None and (status in (429, 503) or status >= 500
                                       or status in s.retry_status):
                out.append(RetriableError(message, context=facts))
            else:
                out.append(RejectedError(message, hint="the peer refused this item",
                                         context=facts))
        return out
