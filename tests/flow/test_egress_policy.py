"""The egress policy refuses what a templated URL must not reach."""

from __future__ import annotations

import asyncio

import pytest

from integrator.errors import RejectedError
from integrator.security.egress import EgressPolicy


def check(policy: EgressPolicy, url: str) -> None:
    asyncio.run(policy.check(url))


def test_base_url_host_is_allowed_and_others_are_not() -> None:
    policy = EgressPolicy.for_base_url("https://93.184.216.34/api")
    check(policy, "https://93.184.216.34/api/orders/1")
    with pytest.raises(RejectedError, match=r"host 'evil\.example' is not allowed"):
        check(policy, "https://evil.example/steal")
    with pytest.raises(RejectedError, match=r"scheme 'http'"):
        check(policy, "http://93.184.216.34/api")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "169.254.169.254", "10.1.2.3", "192.168.0.1", "172.16.5.4",
    "0.0.0.0", "::ffff:127.0.0.1", "fc00::1", "fe80::1", "224.0.0.1",
])
def test_internal_addresses_are_refused_unless_listed(address: str) -> None:
    # A permitted name that resolves to an internal address is still refused.
    policy = EgressPolicy(("erp.example.com",), ("http",))
    with pytest.raises(RejectedError, match="internal address"):
        policy.check_addresses("http://erp.example.com/", [address])
    policy.check_addresses("http://erp.example.com/", ["93.184.216.34"])  # public is fine


def test_listed_cidr_allows_internal_targets() -> None:
    policy = EgressPolicy(("127.0.0.0/8",), ("http",))
    check(policy, "http://127.0.0.1:9999/x")
    with pytest.raises(RejectedError):
        check(policy, "http://10.0.0.1/x")


def test_names_resolving_inside_are_refused() -> None:
    policy = EgressPolicy(("localhost",), ("http",))
    with pytest.raises(RejectedError, match="resolves to"):
        check(policy, "http://localhost/")


def test_wildcards_ports_and_credentials() -> None:
    policy = EgressPolicy(("*.myshopify.com",), ("https",), (443,))
    assert policy.host_allowed("shop-pl.myshopify.com")
    assert not policy.host_allowed("myshopify.com.evil.example")
    with pytest.raises(RejectedError, match="port 8443"):
        policy.check_url("https://a.myshopify.com:8443/")
    with pytest.raises(RejectedError, match="credentials"):
        policy.check_url("https://user:pw@a.myshopify.com/")


def test_refusal_message_hides_query_and_credentials() -> None:
    policy = EgressPolicy(("api.example.com",))
    with pytest.raises(RejectedError) as err:
        policy.check_url("https://other.example.com/x?token=SECRET")
    assert "SECRET" not in str(err.value) and "other.example.com/x?…" in str(err.value)
