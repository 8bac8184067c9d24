"""What a SOAP fault means for the engine: permanent, temporary, or fatal.

=====================================================  ==================  ===========
fault code (local name before the first ``.``)         error               the engine
=====================================================  ==================  ===========
``Client`` (SOAP 1.1), ``Sender`` (1.2),               RejectedError       dead letter
``DataEncodingUnknown``, any code not listed here
``Server`` (1.1), ``Receiver`` (1.2)                   RetriableError      tries again
WS-Security ``FailedAuthentication``,                  FatalError          stops the run
``InvalidSecurity``, ``InvalidSecurityToken``,
``FailedCheck``, ``SecurityTokenUnavailable``
(as the code or a SOAP 1.2 subcode)
``VersionMismatch``, ``MustUnderstand``                FatalError          stops the run
=====================================================  ==================  ===========

Services do not always follow the rule (some send a malformed VAT number as a *server*
fault), so the connection options ``reject_faults`` and ``retry_faults`` list fault
strings or codes whose class is fixed by the flow author; they win over the table.

This module imports no SOAP library: it classifies the code and string a fault carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError

__all__ = ["FaultRules", "excerpt", "fault_error"]

_PERMANENT = frozenset({"client", "sender", "dataencodingunknown"})
_TEMPORARY = frozenset({"server", "receiver"})
_AUTH = frozenset({"failedauthentication", "invalidsecurity", "invalidsecuritytoken",
                   "failedcheck", "securitytokenunavailable"})
_PROTOCOL = frozenset({"versionmismatch", "mustunderstand"})

MAX_EXCERPT = 500


def excerpt(text: str | bytes | None, limit: int = MAX_EXCERPT) -> str:
    """At most ``limit`` characters of a peer's answer, on one line, for error messages."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _local(code: str) -> str:
    """``soap11env:Client.InvalidQuantity`` → ``client``; ``{ns}Sender`` → ``sender``."""
    name = code.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
    return name.split(".", 1)[0].strip().lower()


@dataclass(frozen=True)
class FaultRules:
    """The flow author's overrides: fault strings or codes always rejected / retried."""

    reject: frozenset[str] = frozenset()
    retry: frozenset[str] = frozenset()

    @classmethod
    def of(cls, reject: Iterable[str] = (), retry: Iterable[str] = ()) -> FaultRules:
        return cls(frozenset(reject), frozenset(retry))

    def _listed(self, names: frozenset[str], code: str, string: str) -> bool:
        if not names:
            return False
        full = code.strip()
        local = full.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
        return bool({string.strip(), full, local} & names)

    def classify(self, code: str | None, string: str | None,
                 subcodes: Iterable[str] = ()) -> str:
        """``rejected``, ``retriable``, ``auth`` or ``protocol`` for one fault."""
        code = code or ""
        string = string or ""
        if self._listed(self.retry, code, string):
            return "retriable"
        if self._listed(self.reject, code, string):
            return "rejected"
        locals_ = [_local(code), *(_local(str(s)) for s in subcodes)]
        if any(name in _AUTH for name in locals_):
            return "auth"
        head = locals_[0]
        if head in _PROTOCOL:
            return "protocol"
        if head in _TEMPORARY:
            return "retriable"
        return "rejected"  # Client / Sender and anything unknown: same answer next time


def fault_error(rules: FaultRules, *, where: str, code: str | None, string: str | None,
                subcodes: Iterable[str] = (), detail: str | None = None,
                context: Mapping[str, Any] | None = None) -> IntegratorError:
    """The integrator error for a SOAP fault, with code, string and detail in context."""
    subcodes = [str(s) for s in subcodes]
    kind = rules.classify(code, string, subcodes)
    ctx = {**(context or {}), "faultcode": code, "faultstring": excerpt(string)}
    if subcodes:
        ctx["subcodes"] = subcodes
    if detail:
        ctx["detail"] = excerpt(detail)
    shown = f"{code or '(no faultcode)'}: {excerpt(string, 200) or '(no faultstring)'}"
    if kind == "retriable":
        return RetriableError(
            f"{where} answered a server fault {shown}", context=ctx,
            hint="the service failed on its side; the call is tried again later. List the "
                 "fault string under reject_faults if retrying can never help")
    if kind == "auth":
        return FatalError(
            f"{where} refused the credentials: {shown}", context={**ctx, "auth": True},
            hint="check username, password and the auth option (wsse-text or wsse-digest)")
    if kind == "protocol":
        return FatalError(
            f"{where} does not understand the request: {shown}", context=ctx,
            hint="the port's SOAP version or a mustUnderstand header does not match the "
                 "service; pick another port, or check the WSDL")
    return RejectedError(
        f"{where} refused the call with a client fault {shown}", context=ctx,
        hint="the arguments are wrong for the service; fix the data or the mapping. List "
             "the fault string under retry_faults if the service means 'try again'")
