"""The ``soap`` connector: call operations of a SOAP service described by a WSDL.

Datasheet
=========
:roles:     sink (action ``call``) · lookup (one call per key, for ``enrich``). No source.
:driver:    zeep ≥ 4.3.3: ``zeep.AsyncClient`` with an ``AsyncTransport`` subclass over one
            httpx.AsyncClient per role. Calls run on the event loop, so a lookup batch
            runs ``concurrency`` calls at once without a thread each, and the egress and
            size guards are one httpx transport for every request. Only the WSDL parse
            is blocking (zeep has no async parser): it runs once per connection in a
            worker thread, after the WSDL URL (if any) was downloaded asynchronously.
:wsdl:      a file path (relative to the work directory; imports only from its folder)
            or an http(s) URL; network imports inside a WSDL are refused.
:endpoint:  the port's ``soap:address`` unless ``endpoint`` replaces it (a saved WSDL
            often names another host, or http://).
:auth:      ``basic`` (HTTP), ``wsse-text`` / ``wsse-digest`` (WS-Security UsernameToken,
            PasswordText / PasswordDigest); the password is a secret, revealed per request.
:answers:   ``zeep.helpers.serialize_object`` then plain JSON values: decimals as exact
            text by default (``decimals: number`` for numbers), dates and times as
            ISO 8601 text, binary as base64 (see :mod:`.values`).
:safety:    every request passes the connection's egress policy (the wsdl and endpoint
            hosts are allowed; internal addresses only when listed); answers are capped
            (``max_response_size``); a DOCTYPE in an answer is refused unread; zeep runs
            with ``forbid_dtd``, ``forbid_entities``, ``forbid_external`` and without
            ``xml_huge_tree``.

Errors (never retried here; the engine decides)
-----------------------------------------------
* open: a missing or malformed WSDL, an unknown service / port / operation / argument
  name (did-you-mean), an endpoint the egress policy refuses → FatalError.
* a call: client fault → RejectedError (dead letter) with ``faultcode`` / ``faultstring``
  in the context; server fault, timeouts, refused connections, 5xx, 429 → RetriableError
  (``retry_after`` from ``Retry-After``); 401/403, WS-Security faults, redirects, 404 →
  FatalError. ``reject_faults`` / ``retry_faults`` override the class of named faults.
  Full table: :mod:`.faults` and :mod:`.transport`.

Guarantees
----------
* Sink: deliveries of a batch are called one after another, in order; each gets its own
  result. After a peer-level temporary failure (network, 5xx, 429 — not a server fault
  for one message) the rest of the batch is not attempted and gets the same
  RetriableError. SOAP has no idempotency key: a call that timed out may have been
  applied, and a retry may apply it twice.
* Lookup: keys of one ``get_many`` are called concurrently (``concurrency``). A client
  fault makes that key a miss (``on_client_fault: miss``, logged) or answers
  ``{"fault": {"code", "string"}}`` (``on_client_fault: value``), so only the messages
  with that key are affected; a temporary or fatal failure of any key fails the batch.
* ``check()`` loads the WSDL, selects the connection's service and port, and GETs the
  endpoint: ``auth-failed`` on 401/403 (HTTP auth only; WS-Security credentials are
  first tested by a call), ``unreachable`` when nothing answers.
"""

from __future__ import annotations

import asyncio
import io
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from integrator.connectors.base import (
    Action,
    Capabilities,
    CheckResult,
    Connector,
    Runtime,
)
from integrator.connectors.protocols.soap.roles import SoapLookup, SoapSink
from integrator.connectors.spec import Config, ConfigSpec, Option, OptionProblem
from integrator.errors import (
    FatalError,
    IntegratorError,
    RejectedError,
    RetriableError,
)
from integrator.security.egress import EgressPolicy, policy_options

if TYPE_CHECKING:
    from integrator.connectors.protocols.soap.client import BoundPort, PortChoice
    from integrator.connectors.protocols.soap.transport import SoapTransport

__all__ = ["SoapConnector"]

_SERVICE = Option("service", "string", "The wsdl:service to use (default: the WSDL's first).",
                  default=None, examples=("checkVatService",))
_PORT = Option("port", "string", "The wsdl:port of that service (default: its first SOAP "
               "1.1 or 1.2 port).", default=None, examples=("checkVatPort",))
_OPERATION = Option("operation", "string", "The operation to call; checked against the "
                    "port's operations when the flow opens.", required=True,
                    examples=("checkVat",))


def _override(option: Option) -> Option:
    return Option(option.name, option.type, f"{option.description} Overrides the "
                  "connection's.", default=None, examples=option.examples)


_CONNECTION = ConfigSpec((
    Option("wsdl", "string", "The WSDL: a file path (relative to the work directory) or an "
           "http(s) URL. Documents it imports must be files in its folder (a WSDL given "
           "as a path); imports over the network are refused.", required=True,
           examples=("specs/vies/checkVatService.wsdl", "https://erp.example.com/ws?wsdl")),
    Option("endpoint", "string", "The URL calls go to, instead of the port's soap:address "
           "in the WSDL (saved WSDLs often name a test host, or http://). Its host is "
           "allowed by the egress policy.", default=None,
           examples=("https://ec.europa.eu/taxation_customs/vies/services/checkVatService",)),
    _SERVICE,
    _PORT,
    Option("auth", "enum", "How to authenticate: none; basic (HTTP Basic); wsse-text or "
           "wsse-digest (WS-Security UsernameToken with PasswordText / PasswordDigest).",
           default="none", choices=("none", "basic", "wsse-text", "wsse-digest")),
    Option("username", "string", "User name for auth (may be a secret).", default=None,
           examples=("integration",)),
    Option("password", "string", "Password for auth.", default=None, secret=True,
           examples=("${secret:ERP_SOAP_PASSWORD}",)),
    Option("timeout", "duration", "How long one request (a call, a WSDL download) may "
           "take; a timeout is a temporary failure.", default="30s", examples=("10s",)),
    Option("max_response_size", "size", "The largest answer read; larger ones are refused "
           "(the message is rejected).", default="10MB", examples=("50MB",)),
    Option("max_wsdl_size", "size", "The largest WSDL or schema document read.",
           default="10MB", examples=("20MB",)),
    Option("decimals", "enum", "How xsd:decimal values appear in answers: string keeps "
           "them exact (\"12.50\"); number makes JSON numbers (binary floats).",
           default="string", choices=("string", "number")),
    Option("reject_faults", "list", "Fault strings or fault codes that always reject the "
           "message (permanent), even when sent as a server fault.", default=[],
           examples=(["INVALID_INPUT"],)),
    Option("retry_faults", "list", "Fault strings or fault codes that are always "
           "temporary (tried again), even when sent as a client fault.", default=[],
           examples=(["SERVER_BUSY", "MS_MAX_CONCURRENT_REQ"],)),
    *policy_options(),
))

_CALL = ConfigSpec((
    _OPERATION,
    Option("arguments", "mapping", "The operation's arguments by name; text with {{ }} is "
           "a template rendered against the delivered document. Without it, the "
           "delivered document itself (an object) is the arguments.", default=None,
           examples=({"countryCode": "{{ country }}", "vatNumber": "{{ vat }}"},)),
    _override(_SERVICE),
    _override(_PORT),
))

_LOOKUP = ConfigSpec((
    _OPERATION,
    Option("key_argument", "string", "The argument that receives the looked-up key as it "
           "is.", default=None, examples=("vatNumber",)),
    Option("arguments", "mapping", "More arguments; text with {{ }} is a template "
           "rendered with `key` (the looked-up key).", default=None,
           examples=({"countryCode": "{{ key[:2] }}", "vatNumber": "{{ key[2:] }}"},)),
    Option("on_client_fault", "enum", "What a client fault for one key gives: miss (the "
           "key is not found; the enrich step's required/default decide) or value "
           "({\"fault\": {\"code\", \"string\"}} as the answer).", default="miss",
           choices=("miss", "value")),
    Option("concurrency", "integer", "Calls in flight at once for one batch of keys.",
           default=4, minimum=1, maximum=64),
    _override(_SERVICE),
    _override(_PORT),
))

_AUTH_MODES_WITH_USER = ("basic", "wsse-text", "wsse-digest")


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme.lower() in ("http", "https")


def _driver_missing(where: str, exc: ImportError) -> FatalError:
    return FatalError(f"{where}: the soap connector needs zeep and httpx ({exc})",
                      hint="pip install 'zeep>=4.3.3' httpx (both come with integrator)")


class SoapConnector(Connector):
    """SOAP services from a WSDL: ``call`` operations as a sink, look keys up."""

    type_name = "soap"
    summary = "Call SOAP operations from a WSDL (zeep): a sink action and per-key lookups."
    spec = _CONNECTION
    lookup_options = _LOOKUP
    actions = {
        "call": Action("Call `operation` once per delivery; a client fault rejects only "
                       "that message.", _CALL),
    }
    default_action = "call"
    capabilities = Capabilities(batching=False, ordering=True)
    examples = (
        "connections:\n  vies:\n    type: soap\n    wsdl: specs/vies/checkVatService.wsdl\n"
        "    endpoint: https://ec.europa.eu/taxation_customs/vies/services/checkVatService\n"
        "    reject_faults: [INVALID_INPUT]\n",
        "connections:\n  erp:\n    type: soap\n    wsdl: https://erp.example.com/ws/orders?wsdl\n"
        "    auth: wsse-digest\n    username: integration\n"
        "    password: ${secret:ERP_PASSWORD}\n",
    )

    def __init__(self, name: str, config: Config, runtime: Runtime) -> None:
        super().__init__(name, config, runtime)
        self._lock = asyncio.Lock()
        self._document: Any = None
        self._ssl_context: ssl.SSLContext | None = None

    # -- lint ----------------------------------------------------------------------------

    @classmethod
    def check_config(cls, raw: Mapping[str, Any]) -> list[OptionProblem]:
        problems: list[OptionProblem] = []
        auth = raw.get("auth") or "none"
        has_user = raw.get("username") is not None
        has_password = raw.get("password") is not None
        if auth in _AUTH_MODES_WITH_USER:
            for key, present in (("username", has_user), ("password", has_password)):
                if not present:
                    problems.append(OptionProblem(None, f"auth {auth} needs {key}",
                                                  f"add {key}: ... (a ${{secret:...}} for "
                                                  "the password)"))
        elif has_user or has_password:
            problems.append(OptionProblem("auth", "username/password are given but auth is "
                                          "none", "set auth: basic, wsse-text or wsse-digest"))
        endpoint = raw.get("endpoint")
        if isinstance(endpoint, str) and not _is_url(endpoint):
            problems.append(OptionProblem("endpoint", f"endpoint {endpoint!r} is not an "
                                          "http(s) URL", "e.g. https://host/ws/service"))
        ports = raw.get("allow_ports")
        if ports is not None and (not isinstance(ports, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in ports)):
            problems.append(OptionProblem("allow_ports", "allow_ports must be a list of "
                                          "port numbers", "e.g. [443, 8443]"))
        return problems

    # -- shared parts ---------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"connection {self.name!r} (soap)"

    def _wsdl_location(self) -> tuple[str, Path | None]:
        """The location zeep loads, and the folder local imports must stay in."""
        wsdl = str(self.config.wsdl)
        if _is_url(wsdl):
            return wsdl, None
        path = Path(wsdl).expanduser()
        if not path.is_absolute():
            path = self.runtime.workdir / path
        path = path.resolve()
        return str(path), path.parent

    def policy(self) -> EgressPolicy:
        """The egress policy: listed hosts plus the wsdl URL's and the endpoint's hosts."""
        hosts = list(self.config.allow_hosts or ())
        schemes = list(self.config.allow_schemes or ()) or ["https"]
        for url in (self.config.wsdl, self.config.endpoint):
            if url and _is_url(str(url)):
                parts = urlsplit(str(url))
                if parts.hostname:
                    hosts.append(parts.hostname)
                if parts.scheme.lower() not in schemes:
                    schemes.append(parts.scheme.lower())
        ports = tuple(int(p) for p in (self.config.allow_ports or ()))
        return EgressPolicy(tuple(hosts), tuple(schemes), ports)

    def _transport(self, local_root: Path | None = None) -> SoapTransport:
        try:
            import httpx

            from integrator.connectors.protocols.soap.auth import SecretBasicAuth
            from integrator.connectors.protocols.soap.transport import Limits, SoapTransport
        except ImportError as exc:
            raise _driver_missing(self.where, exc) from None
        config = self.config
        auth = (SecretBasicAuth(config.username, config.password)
                if config.auth == "basic" else None)
        limits = Limits(max_response=config.max_response_size,
                        max_wsdl=config.max_wsdl_size, timeout=config.timeout)
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return SoapTransport(policy=self.policy(), limits=limits, where=self.where,
                             ssl_context=self._ssl_context, auth=auth, local_root=local_root)

    def _wsse(self) -> Any:
        if self.config.auth not in ("wsse-text", "wsse-digest"):
            return None
        from integrator.connectors.protocols.soap.auth import SecretUsernameToken

        return SecretUsernameToken(self.config.username, self.config.password,
                                   digest=self.config.auth == "wsse-digest")

    async def document(self) -> Any:
        """The parsed WSDL, loaded once per connection (sink and lookup share it).

        A WSDL URL is downloaded on the event loop (through the egress guard); zeep
        parses synchronously, so the parse runs in a worker thread.
        """
        async with self._lock:
            if self._document is None:
                try:
                    from integrator.connectors.protocols.soap.client import load_document
                except ImportError as exc:
                    raise _driver_missing(self.where, exc) from None
                location, root = self._wsdl_location()
                transport = self._transport(root)
                try:
                    if root is None:
                        body = await transport.fetch_document(location)
                        self._document = await asyncio.to_thread(
                            load_document, io.BytesIO(body), transport, self.where, location)
                    else:
                        self._document = await asyncio.to_thread(
                            load_document, location, transport, self.where)
                finally:
                    await transport.aclose()
            return self._document

    def _endpoint(self, choice: PortChoice) -> str:
        endpoint = self.config.endpoint or choice.address
        if not endpoint:
            raise FatalError(f"{self.where}: port {choice.port!r} has no soap:address",
                             hint="set the endpoint option")
        policy = self.policy()
        try:
            policy.check_url(endpoint)  # no DNS here: each request checks it fully
        except RejectedError as exc:
            origin = "endpoint" if self.config.endpoint else "the WSDL's soap:address"
            raise FatalError(f"{self.where}: {origin} {exc.message}",
                             hint="set endpoint to the service's real address, or list "
                                  "its host under allow_hosts (and http under "
                                  "allow_schemes if needed)", context=exc.context) from None
        return str(endpoint)

    async def bind(self, service: str | None, port: str | None) -> BoundPort:
        """A :class:`BoundPort` for the service and port (the connection's by default)."""
        from integrator.connectors.protocols.soap.client import BoundPort, select_port
        from integrator.connectors.protocols.soap.faults import FaultRules

        document = await self.document()
        choice = select_port(document, service or self.config.service,
                             port or self.config.port, self.where)
        endpoint = self._endpoint(choice)
        rules = FaultRules.of(self.config.reject_faults or (),
                              self.config.retry_faults or ())
        return BoundPort(document, choice, endpoint, self._transport(), wsse=self._wsse(),
                         rules=rules, decimals=self.config.decimals, where=self.where)

    # -- check ------------------------------------------------------------------------------

    async def check(self) -> CheckResult:
        """Load the WSDL, select the port, GET the endpoint (see the datasheet)."""
        try:
            import httpx
        except ImportError as exc:
            return CheckResult("misconfigured", str(_driver_missing(self.where, exc)))
        started = time.perf_counter()
        try:
            port = await self.bind(None, None)
        except FatalError as exc:
            kind = "auth-failed" if exc.context.get("auth") else "misconfigured"
            return CheckResult(kind, str(exc))
        except RetriableError as exc:
            return CheckResult("unreachable", str(exc))
        from integrator.connectors.protocols.soap.guards import public_url

        shown = public_url(port.endpoint)
        try:
            status = await port.transport.get_status(port.endpoint)
        except FatalError as exc:
            return CheckResult("misconfigured", str(exc))
        except (httpx.HTTPError, IntegratorError) as exc:
            return CheckResult("unreachable", f"GET {shown} failed: {type(exc).__name__} "
                                              f"{exc}".rstrip())
        finally:
            await port.aclose()
        took = time.perf_counter() - started
        choice = port.choice
        if status in (401, 403):
            return CheckResult("auth-failed", f"GET {shown} answered {status}")
        return CheckResult("ok", f"service {choice.service}, port {choice.port}, operations "
                                 f"{', '.join(choice.operations)}; GET {shown} answered "
                                 f"{status} in {took:.2f}s")

    # -- roles ------------------------------------------------------------------------------

    def sink(self, action: str, options: Config) -> SoapSink:
        if action != "call":
            raise FatalError(f"{self.where}: unknown action {action!r}",
                             hint="the soap connector has one action: call")
        return SoapSink(self, options)

    def lookup(self, options: Config) -> SoapLookup:
        return SoapLookup(self, options)
