"""The saved EU VIES WSDL against a local checkVat service: lookups, sink calls, faults,
name checks at open, and the real EU host refused without a request leaving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from soap_peers import (
    NetworkAudit,
    ViesService,
    make_connector,
    serve,
    vies_wsdl,
)

from integrator.connectors.base import Delivery
from integrator.connectors.protocols.soap import SoapConnector
from integrator.errors import FatalError, IntegratorError, RejectedError, RetriableError
from integrator.message import IdFactory, Message

SPLIT = {"countryCode": "{{ key[:2] }}", "vatNumber": "{{ key[2:] }}"}
REAL_ADDRESS = "http://ec.europa.eu/taxation_customs/vies/services/checkVatService"


@pytest.fixture()
def vies() -> Iterator[tuple[ViesService, str]]:
    service = ViesService()
    with serve(service) as url:
        yield service, url + "/taxation_customs/vies/services/checkVatService"


def connector(tmp_path: Path, endpoint: str | None, **config: Any) -> SoapConnector:
    return make_connector(tmp_path, "vies", wsdl=str(vies_wsdl()), endpoint=endpoint,
                          **config)


def lookup(conn: SoapConnector, keys: Sequence[Hashable],
           **options: Any) -> Mapping[Hashable, Any]:
    parsed = SoapConnector.lookup_options.parse({"operation": "checkVat", **options}, "t")

    async def run() -> Mapping[Hashable, Any]:
        role = conn.lookup(parsed)
        await role.open()
        try:
            return await role.get_many(keys)
        finally:
            await role.close()

    return asyncio.run(run())


def write(conn: SoapConnector, payloads: list[Any],
          **options: Any) -> list[IntegratorError | None] | None:
    parsed = SoapConnector.actions["call"].options.parse(
        {"operation": "checkVat", **options}, "t")
    ids = IdFactory()

    async def run() -> list[IntegratorError | None] | None:
        sink = conn.sink("call", parsed)
        await sink.open()
        try:
            return await sink.write_batch([Delivery(p, Message(p, ids, {}, None))
                                           for p in payloads])
        finally:
            await sink.close()

    return asyncio.run(run())


def test_saved_wsdl_loads_and_the_endpoint_replaces_its_address(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    _, url = vies
    conn = connector(tmp_path, url)

    async def run() -> None:
        port = await conn.bind(None, None)
        try:
            assert port.choice.service == "checkVatService"
            assert port.choice.port == "checkVatPort"
            assert port.choice.operations == ["checkVat", "checkVatApprox"]
            assert port.choice.address == REAL_ADDRESS
            assert port.endpoint == url
        finally:
            await port.aclose()

    asyncio.run(run())


def test_lookup_answers_valid_and_invalid_numbers_as_plain_json(
        tmp_path: Path, vies: tuple[ViesService, str],
        caplog: pytest.LogCaptureFixture) -> None:
    service, url = vies
    keys = ["PL5260250274", "DE811569869", "PL1111111111", "XX123", "PL!!"]
    with caplog.at_level(logging.WARNING, "integrator.connectors.soap"):
        found = lookup(connector(tmp_path, url), keys, arguments=SPLIT)
    assert found == {
        "PL5260250274": {"countryCode": "PL", "vatNumber": "5260250274",
                         "requestDate": "2024-05-01", "valid": True,
                         "name": "SKLEP TESTOWY SP. Z O.O.",
                         "address": "UL. PRÓBNA 1\n00-001 WARSZAWA"},
        "DE811569869": {"countryCode": "DE", "vatNumber": "811569869",
                        "requestDate": "2024-05-01", "valid": True, "name": "---",
                        "address": "---"},
        "PL1111111111": {"countryCode": "PL", "vatNumber": "1111111111",
                         "requestDate": "2024-05-01", "valid": False, "name": "---",
                         "address": "---"},
    }
    # the two malformed keys were client faults: misses, each logged with the fault
    assert sorted((c["countryCode"], c["vatNumber"]) for c in service.calls) == sorted(
        [("PL", "5260250274"), ("DE", "811569869"), ("PL", "1111111111"), ("XX", "123"),
         ("PL", "!!")])
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert all("soap:Client: INVALID_INPUT" in w for w in warned)
    assert any("'XX123'" in w for w in warned) and any("'PL!!'" in w for w in warned)


def test_lookup_can_answer_client_faults_as_values(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    _, url = vies
    found = lookup(connector(tmp_path, url), ["XX123", "PL1111111111"], arguments=SPLIT,
                   on_client_fault="value")
    assert found["XX123"] == {"fault": {"code": "soap:Client", "string": "INVALID_INPUT"}}
    assert found["PL1111111111"]["valid"] is False


def test_key_argument_takes_the_key_as_it_is(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    service, url = vies
    found = lookup(connector(tmp_path, url), ["5260250274"], key_argument="vatNumber",
                   arguments={"countryCode": "PL"})
    assert found["5260250274"]["valid"] is True
    assert service.calls[0]["vatNumber"] == "5260250274"


def test_lookup_server_fault_is_retriable_for_the_batch(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    service, url = vies
    with pytest.raises(RetriableError) as info:
        lookup(connector(tmp_path, url), ["PL5260250274", "CY10000000X"], arguments=SPLIT)
    assert info.value.context["faultcode"] == "soap:Server"
    assert info.value.context["faultstring"] == "MS_UNAVAILABLE"
    assert "MS_UNAVAILABLE" in str(info.value)
    assert {c["countryCode"] for c in service.calls} == {"PL", "CY"}  # both were asked


def test_sink_classifies_each_delivery_and_goes_on(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    service, url = vies
    payloads: list[Any] = [
        {"countryCode": "PL", "vatNumber": "5260250274"},
        {"countryCode": "XX", "vatNumber": "123"},          # INVALID_INPUT: client fault
        {"countryCode": "CY", "vatNumber": "10000000X"},    # MS_UNAVAILABLE: server fault
        {"countryCode": "PL", "vatNmber": "5260250274"},    # typo: refused before sending
        ["PL", "5260250274"],                               # not an object of arguments
        {"countryCode": "DE"},                              # vatNumber missing
        {"countryCode": "DE", "vatNumber": "811569869"},
    ]
    results = write(connector(tmp_path, url), payloads)
    assert results is not None and len(results) == 7
    ok, client, server, typo, shape, missing, last = results
    assert ok is None and last is None
    assert isinstance(client, RejectedError)
    assert client.context["faultcode"] == "soap:Client"
    assert client.context["faultstring"] == "INVALID_INPUT"
    assert isinstance(server, RetriableError)
    assert server.context["faultstring"] == "MS_UNAVAILABLE"
    assert isinstance(typo, RejectedError) and "did you mean 'vatNumber'?" in str(typo)
    assert isinstance(shape, RejectedError) and "not an object" in str(shape)
    assert isinstance(missing, RejectedError) and "vatNumber" in str(missing)
    # the typo, the list and the missing argument never reached the service
    assert [(c["countryCode"], c["vatNumber"]) for c in service.calls] == [
        ("PL", "5260250274"), ("XX", "123"), ("CY", "10000000X"), ("DE", "811569869")]


def test_sink_renders_templated_arguments(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    service, url = vies
    results = write(connector(tmp_path, url),
                    [{"vat_id": "PL5260250274"}, {"vat_id": "DE811569869"}, {"other": 1}],
                    arguments={"countryCode": "{{ vat_id[:2] }}",
                               "vatNumber": "{{ vat_id[2:] }}"})
    assert results is not None
    assert results[:2] == [None, None]
    assert "vat_id" in str(results[2])  # a template error for that message only
    assert [c["vatNumber"] for c in service.calls] == ["5260250274", "811569869"]


@pytest.mark.parametrize(("rules", "expected"), [
    ({}, RetriableError),
    ({"reject_faults": ["INVALID_INPUT"]}, RejectedError),
])
def test_fault_rules_override_how_a_server_fault_is_read(
        tmp_path: Path, rules: dict[str, Any], expected: type[IntegratorError]) -> None:
    service = ViesService(invalid_input_as_server=True)
    with serve(service) as url:
        results = write(connector(tmp_path, url, **rules),
                        [{"countryCode": "XX", "vatNumber": "1"}])
    assert results is not None
    assert type(results[0]) is expected
    assert results[0].context["faultcode"] == "soap:Server"


def test_retry_faults_make_a_client_fault_temporary(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    _, url = vies
    results = write(connector(tmp_path, url, retry_faults=["INVALID_INPUT"]),
                    [{"countryCode": "XX", "vatNumber": "1"}])
    assert results is not None and isinstance(results[0], RetriableError)


@pytest.mark.parametrize(("extra", "reason"), [
    ({}, "scheme 'http' is not allowed"),
    ({"allow_schemes": ["http"]}, "host 'ec.europa.eu' is not allowed"),
])
def test_the_real_eu_host_is_refused_without_any_request(
        tmp_path: Path, vies: tuple[ViesService, str], extra: dict[str, Any],
        reason: str) -> None:
    service, _ = vies
    conn = connector(tmp_path, None, allow_hosts=["127.0.0.1"], **extra)
    parsed = SoapConnector.actions["call"].options.parse({"operation": "checkVat"}, "t")

    async def run() -> None:
        await conn.sink("call", parsed).open()

    with NetworkAudit.recording() as events, pytest.raises(FatalError) as info:
        asyncio.run(run())
    assert reason in str(info.value)
    assert "the WSDL's soap:address" in str(info.value)
    assert "ec.europa.eu" in info.value.context["url"]
    assert events == []  # not even a DNS lookup, let alone a connection
    assert service.calls == []


def test_lookup_of_the_unpatched_address_is_refused_too(tmp_path: Path) -> None:
    conn = connector(tmp_path, None, allow_schemes=["http", "https"])
    with NetworkAudit.recording() as events, pytest.raises(FatalError) as info:
        lookup(conn, ["PL5260250274"], arguments=SPLIT)
    assert "host 'ec.europa.eu' is not allowed" in str(info.value)
    assert events == []


@pytest.mark.parametrize(("options", "message", "hint"), [
    ({"operation": "checkVAT"}, "has no operation 'checkVAT'", "did you mean 'checkVat'?"),
    ({"operation": "checkVat", "arguments": {"vatNumbr": "1"}},
     "names argument 'vatNumbr'", "did you mean 'vatNumber'?"),
    ({"operation": "checkVat", "service": "checkVatServis"}, "no service 'checkVatServis'",
     "did you mean 'checkVatService'?"),
    ({"operation": "checkVat", "port": "checkVatPrt"}, "no port 'checkVatPrt'",
     "did you mean 'checkVatPort'?"),
])
def test_wrong_names_fail_at_open_with_a_suggestion(
        tmp_path: Path, vies: tuple[ViesService, str], options: dict[str, Any],
        message: str, hint: str) -> None:
    service, url = vies
    conn = connector(tmp_path, url)
    parsed = SoapConnector.actions["call"].options.parse(options, "t")

    async def run() -> None:
        await conn.sink("call", parsed).open()

    with pytest.raises(FatalError) as info:
        asyncio.run(run())
    assert message in info.value.message
    assert info.value.hint is not None and hint in info.value.hint
    assert service.calls == []


def test_lookup_key_argument_is_checked_at_open(
        tmp_path: Path, vies: tuple[ViesService, str]) -> None:
    _, url = vies
    with pytest.raises(FatalError) as info:
        lookup(connector(tmp_path, url), ["x"], key_argument="vat")
    assert "'vat'" in info.value.message
    assert info.value.hint is not None and "vatNumber" in info.value.hint


def test_lookup_without_a_place_for_the_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="where the key goes"):
        lookup(connector(tmp_path, "http://127.0.0.1:9/"), ["x"])


def test_a_key_the_templates_cannot_use_is_a_logged_miss(
        tmp_path: Path, vies: tuple[ViesService, str],
        caplog: pytest.LogCaptureFixture) -> None:
    service, url = vies
    with caplog.at_level(logging.WARNING, "integrator.connectors.soap"):
        found = lookup(connector(tmp_path, url), [5260250274, "PL5260250274"],
                       arguments=SPLIT)
    assert list(found) == ["PL5260250274"]
    assert [c["vatNumber"] for c in service.calls] == ["5260250274"]  # one call only
    assert len(caplog.records) == 1 and "5260250274" in caplog.records[0].getMessage()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_lookup_concurrency_bounds_the_calls_in_flight(tmp_path: Path,
                                                       concurrency: int) -> None:
    service = ViesService(delay=0.05)
    keys = [f"PL{n:010d}" for n in range(8)]
    with serve(service) as url:
        found = lookup(connector(tmp_path, url), keys, arguments=SPLIT,
                       concurrency=concurrency)
    assert sorted(found) == keys and len(service.calls) == 8
    assert 1 <= service.most_active <= concurrency


def test_allow_ports_limits_the_endpoint(tmp_path: Path,
                                         vies: tuple[ViesService, str]) -> None:
    service, url = vies
    port = int(url.split(":")[2].split("/")[0])
    refused = connector(tmp_path, url, allow_ports=[443])
    with pytest.raises(FatalError, match=f"port {port} is not allowed"):
        lookup(refused, ["PL5260250274"], arguments=SPLIT)
    allowed = connector(tmp_path, url, allow_ports=[port])
    assert lookup(allowed, ["PL5260250274"], arguments=SPLIT)["PL5260250274"]["valid"]
    assert len(service.calls) == 1
