"""``HttpConnector``: the spec, the capabilities, and the roles it hands out.

All roles of one connection share one :class:`~.client.HttpClient` (one keep-alive pool,
one auth strategy with its token cache), opened by the first role and closed by the last.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Runtime,
    Sink,
    Source,
)
from integrator.connectors.protocols.http.auth import Auth, build_auth
from integrator.connectors.protocols.http.client import HttpClient
from integrator.connectors.protocols.http.errors import display_url
from integrator.connectors.protocols.http.lookup import HttpLookup
from integrator.connectors.protocols.http.options import (
    BATCH_OPTIONS,
    CONNECTION_OPTIONS,
    LOOKUP_OPTIONS,
    REQUEST_OPTIONS,
    SOURCE_OPTIONS,
)
from integrator.connectors.protocols.http.pagination import pagination_problems
from integrator.connectors.protocols.http.request import join_url
from integrator.connectors.protocols.http.settings import (
    ConnectionSettings,
    connection_problems,
)
from integrator.connectors.protocols.http.sink import HttpBatchSink, HttpRequestSink
from integrator.connectors.protocols.http.source import HttpFollowSource, HttpSource
from integrator.connectors.protocols.http.watermark import watermark_problems
from integrator.connectors.spec import Config, ConfigSpec, OptionProblem
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.security.secrets import Secret

__all__ = ["HttpConnector"]


def _parsed(spec: ConfigSpec, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """Option values with defaults applied, or None when one does not parse (the spec's
    own check reports that)."""
    values: dict[str, Any] = {}
    for opt in spec:
        if raw.get(opt.name) is not None:
            try:
                values[opt.name] = opt.parse(raw[opt.name])
            except ValueError:
                return None
        elif opt.has_default:
            values[opt.name] = opt.parse(opt.default) if opt.default is not None else None
    return values


class HttpConnector(Connector):
    """Any HTTP/REST API as source, sink (``request``, ``batch``) and lookup."""

    type_name = "http"
    summary = ("HTTP/REST APIs: templated requests, auth (basic, bearer, API key, OAuth2), "
               "pagination, watermarks, egress policy, TLS options.")
    spec = CONNECTION_OPTIONS
    source_options = SOURCE_OPTIONS
    lookup_options = LOOKUP_OPTIONS
    actions = {
        "request": Action(
            "One request per delivery: templated method, path, query and headers; the "
            "payload as JSON (or a form, text, or a rendered template) as the body.",
            REQUEST_OPTIONS, max_batch=1),
        "batch": Action(
            "Up to max_batch payloads per request as a JSON array (optionally in an "
            "envelope); per-item results from the answer when `results` is set.",
            BATCH_OPTIONS),
    }
    default_action = "request"
    capabilities = Capabilities(batching=True, idempotency_keys=True, ordering=True)
    examples = (
        "connections:\n  shop:\n    type: http\n"
        "    base_url: https://acme.myshopify.com/admin/api/2024-01\n"
        "    auth: {type: api_key, name: X-Shopify-Access-Token, "
        "value: '${secret:SHOPIFY_TOKEN}'}\n"
        "source:\n  connection: shop\n  options:\n    path: /orders.json\n"
        "    query: {status: any, limit: 250}\n    records: orders\n"
        "    pagination: {type: link_header}\n"
        "    watermark: {field: updated_at, param: updated_at_min}\n",
        "connections:\n  erp:\n    type: http\n    base_url: https://erp.example.com/api\n"
        "    auth:\n      type: oauth2_client_credentials\n"
        "      token_url: https://login.example.com/oauth2/token\n"
        "      client_id: integrator\n      client_secret: ${secret:ERP_SECRET}\n"
        "sinks:\n  orders:\n    connection: erp\n    action: request\n"
        "    options:\n      method: PUT\n      path: /orders/{{ external_id }}\n"
        "      idempotency_key: order-{{ external_id }}\n",
    )

    def __init__(self, name: str, config: Config, runtime: Runtime) -> None:
        super().__init__(name, config, runtime)
        self.where = f"connection {name!r} (http)"
        self.settings = ConnectionSettings.build(config, runtime.workdir, self.where)
        for value in _secrets(dict(config)):
            runtime.redactor.register(value.reveal())  # masked in every excerpt we log
        self._auth: Auth | None = None
        self._auth_built = False
        self._client: HttpClient | None = None
        self._users = 0

    # -- lint ---------------------------------------------------------------------------

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        values = _parsed(cls.spec, raw)
        if values is None:
            return []
        return [OptionProblem(_problem_key(p), p) for p in connection_problems(values)]

    @staticmethod
    def source_problems(options: Mapping[str, Any]) -> list[str]:
        """Problems of source options beyond the spec (pagination, watermark)."""
        out: list[str] = []
        if options.get("pagination") is not None:
            out += pagination_problems(options["pagination"])
        if options.get("watermark") is not None:
            out += watermark_problems(options["watermark"])
        return out

    # -- the shared client --------------------------------------------------------------

    def auth(self) -> Auth | None:
        if not self._auth_built:
            self._auth = build_auth(self.settings.auth, where=self.where,
                                    redactor=self.runtime.redactor, state=self.state)
            self._auth_built = True
        return self._auth

    def new_client(self) -> HttpClient:
        return HttpClient(self.settings, where=self.where, auth=self.auth(),
                          redact=self.runtime.redactor)

    async def acquire(self) -> HttpClient:
        """The connection's client, opened on first use; pair with :meth:`release`."""
        if self._client is None:
            self._client = self.new_client()
        self._users += 1
        try:
            await self._client.open()
        except BaseException:
            await self.release()
            raise
        return self._client

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._client is not None:
            client, self._client = self._client, None
            self._users = 0
            await client.close()

    # -- roles --------------------------------------------------------------------------

    def source(self, options: Config) -> Source:
        problems = self.source_problems(options)
        if problems:
            raise FatalError(f"{self.where}: source: {problems[0]}")
        cls = HttpFollowSource if options.get("follow") else HttpSource
        return cls(self, options)

    def sink(self, action: str, options: Config) -> Sink:
        if action == "request":
            return HttpRequestSink(self, options)
        if action == "batch":
            return HttpBatchSink(self, options)
        raise FatalError(f"{self.where}: unknown action {action!r}",
                         hint="actions: request, batch")

    def lookup(self, options: Config) -> HttpLookup:
        return HttpLookup(self, options)

    # -- check --------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """``health_path`` answered 2xx (or, without it, the base URL answered at all)
        and the credentials were not refused. Never raises."""
        started = time.perf_counter()
        s = self.settings
        explicit = s.health_path is not None
        try:
            url = join_url(s.base_url, s.health_path or "", self.where)
        except RejectedError as exc:
            return CheckResult("misconfigured", exc.message)
        client = self.new_client()
        try:
            await client.open()
            answer = await client.send("GET" if explicit else "HEAD", url, read="head")
            if not explicit and answer.status in (405, 501):
                answer = await client.send("GET", url, read="head")
        except FatalError as exc:
            status = "auth-failed" if exc.context.get("auth") else "misconfigured"
            return CheckResult(status, self._redact(exc), time.perf_counter() - started)
        except RetriableError as exc:
            status = "auth-failed" if exc.context.get("auth") else "unreachable"
            return CheckResult(status, self._redact(exc), time.perf_counter() - started)
        except IntegratorError as exc:
            return CheckResult("misconfigured", self._redact(exc),
                               time.perf_counter() - started)
        finally:
            await client.close()
        seconds = time.perf_counter() - started
        target = f"{answer.method} {display_url(answer.url)}"
        if answer.status in s.auth_failure_status:
            return CheckResult("auth-failed", f"{target} answered {answer.status}: the "
                               "credentials were refused", seconds)
        if not explicit:
            note = "" if answer.status < 400 else "; set health_path for a real check"
            return CheckResult("ok", f"{target} answered {answer.status}{note}", seconds)
        if answer.status < 400:
            return CheckResult("ok", f"{target} answered {answer.status}", seconds)
        if answer.status >= 500 or answer.status == 429:
            return CheckResult("unreachable", f"{target} answered {answer.status}", seconds)
        return CheckResult("misconfigured", f"{target} answered {answer.status}", seconds)

    def _redact(self, exc: IntegratorError) -> str:
        return self.runtime.redactor(exc.message)


def _secrets(value: Any) -> list[Secret]:
    """Every Secret inside a config value (auth and headers nest them)."""
    if isinstance(value, Secret):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _secrets(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _secrets(v)]
    return []


def _problem_key(message: str) -> str | None:
    for name in ("base_url", "min_tls_version", "client_key", "auth_failure_status",
                 "retry_status", "allow_ports", "headers", "auth"):
        if message.startswith(name):
            return name
    return None
