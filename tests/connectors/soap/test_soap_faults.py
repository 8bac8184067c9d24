"""How faults are classified — SOAP 1.1 and 1.2 against a real spyne service, and the
whole table (WS-Security codes, protocol codes, the flow author's overrides) — and how
answers become JSON."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from soap_peers import echo_service_soap12, make_connector, serve

from integrator.connectors.protocols.soap.faults import FaultRules, excerpt, fault_error
from integrator.connectors.protocols.soap.values import json_safe
from integrator.errors import FatalError, RejectedError, RetriableError


def test_soap12_sender_and_receiver_faults_from_spyne(tmp_path: Path) -> None:
    with serve(echo_service_soap12()) as url:
        conn = make_connector(tmp_path, wsdl=f"{url}/?wsdl")

        async def run() -> list[Any]:
            port = await conn.bind(None, None)
            out: list[Any] = []
            try:
                assert type(port.choice.binding).__name__ == "Soap12Binding"
                for text in ("ok", "c", "s"):
                    try:
                        out.append(await port.call("echo", {"text": text}))
                    except (RejectedError, RetriableError) as exc:
                        out.append(exc)
            finally:
                await port.aclose()
            return out

        answer, sender, receiver = asyncio.run(run())
    assert answer == "OK"
    assert isinstance(sender, RejectedError)
    assert sender.context["faultcode"].endswith(":Sender")
    assert sender.context["faultstring"] == "bad text"
    assert isinstance(receiver, RetriableError)
    assert receiver.context["faultcode"].endswith(":Receiver")


@pytest.mark.parametrize(("code", "string", "subcodes", "expected"), [
    ("soap:Client", "INVALID_INPUT", (), "rejected"),
    ("soapenv:Client.Authentication", "x", (), "rejected"),
    ("Client", "x", (), "rejected"),
    ("env:Sender", "x", (), "rejected"),
    ("soap:Server", "MS_UNAVAILABLE", (), "retriable"),
    ("soap12env:Receiver", "x", (), "retriable"),
    ("{http://schemas.xmlsoap.org/soap/envelope/}Server", "x", (), "retriable"),
    ("wsse:FailedAuthentication", "token refused", (), "auth"),
    ("wsse:InvalidSecurityToken", "x", (), "auth"),
    ("env:Sender", "x", ("{http://docs.oasis-open.org/wss}FailedAuthentication",), "auth"),
    ("soap:VersionMismatch", "x", (), "protocol"),
    ("soap:MustUnderstand", "x", (), "protocol"),
    ("ns1:SomethingCustom", "x", (), "rejected"),
    (None, None, (), "rejected"),
])
def test_the_fault_table(code: str | None, string: str | None, subcodes: tuple[str, ...],
                         expected: str) -> None:
    assert FaultRules().classify(code, string, subcodes) == expected


def test_overrides_win_and_match_string_full_code_or_local_code() -> None:
    rules = FaultRules.of(reject=["INVALID_INPUT", "Server.Validation"],
                          retry=["SERVER_BUSY", "soap:Client.Throttled"])
    assert rules.classify("soap:Server", "INVALID_INPUT") == "rejected"
    assert rules.classify("ns:Server.Validation", "whatever") == "rejected"
    assert rules.classify("soap:Client", "SERVER_BUSY") == "retriable"
    assert rules.classify("soap:Client.Throttled", "slow down") == "retriable"
    assert rules.classify("soap:Server", "MS_UNAVAILABLE") == "retriable"


def test_fault_errors_carry_their_facts() -> None:
    auth = fault_error(FaultRules(), where="w", code="wsse:FailedAuthentication",
                       string="no", detail="<d>" + "x" * 2000 + "</d>")
    assert isinstance(auth, FatalError) and auth.context["auth"] is True
    assert len(auth.context["detail"]) == 500
    proto = fault_error(FaultRules(), where="w", code="soap:VersionMismatch", string="v")
    assert isinstance(proto, FatalError) and "auth" not in proto.context
    assert excerpt(b"a\n  b\tc") == "a b c"


def test_json_safe_edge_values() -> None:
    assert json_safe(Decimal("1E+2")) == "100"
    assert json_safe(Decimal("1E+2"), decimals="number") == 100
    assert json_safe(Decimal("-0.10"), decimals="number") == -0.1
    assert json_safe(Decimal("NaN")) == "NaN"
    assert json_safe(Decimal("-Infinity"), decimals="number") == "-INF"
    assert json_safe(math.inf) == "INF" and json_safe(float("nan")) == "NaN"
    assert json_safe(b"\x00\x01") == "AAE="
    assert json_safe({1: (Decimal("2.5"), None)}) == {"1": ["2.5", None]}
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="deeper than"):
        json_safe(deep)
