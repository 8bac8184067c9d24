"""The http connector's pure parts: classification, excerpts, URLs, watermark bookkeeping."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from integrator.connectors.protocols.http.client import Answer
from integrator.connectors.protocols.http.errors import (
    display_url,
    excerpt,
    status_error,
)
from integrator.connectors.protocols.http.request import join_url
from integrator.connectors.protocols.http.watermark import (
    Watermark,
    WatermarkSettings,
    order_key,
)
from integrator.connectors.state import MemoryStateStore
from integrator.errors import FatalError, RejectedError, RetriableError


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    return Answer("POST", "https://api.example.com/v1/orders?token=abc", status,
                  httpx.Headers(headers or {}), body, 0.01)


def classify(status: int, **kw: Any) -> Any:
    return status_error(answer(status, **kw), "sink 'erp'", retry_status={408, 425},
                        auth_failure_status={401})


@pytest.mark.parametrize(("status", "kind"), [
    (200, None), (201, None), (204, None), (302, None),
    (400, RejectedError), (403, RejectedError), (404, RejectedError),
    (409, RejectedError), (422, RejectedError),
    (401, FatalError),
    (408, RetriableError), (425, RetriableError), (429, RetriableError),
    (500, RetriableError), (502, RetriableError), (503, RetriableError),
    (504, RetriableError),
])
def test_status_classification(status: int, kind: type | None) -> None:
    error = classify(status)
    if kind is None:
        assert error is None
    else:
        assert type(error) is kind
        assert f"POST https://api.example.com/v1/orders?… answered {status}" in str(error)
        assert "token=abc" not in str(error)


def test_accept_status_and_retry_after_header() -> None:
    assert status_error(answer(409), "x", retry_status=(), auth_failure_status=(),
                        accept_status={409}) is None
    error = classify(429, headers={"Retry-After": "2.0"})
    assert isinstance(error, RetriableError) and error.retry_after == 2.0


def test_excerpt_masks_token_fields_and_bounds_length() -> None:
    body = (b'{"access_token": "abc", "nested": {"client_secret": "s", "ok": 1}, '
            b'"message": "' + b"x" * 2000 + b'"}')
    text = excerpt(body, "application/json")
    assert '"access_token":"********"' in text and '"client_secret":"********"' in text
    assert len(text) == 500 and text.endswith("…")
    assert excerpt(b"plain  text\n\nhere", "text/plain") == "plain text here"
    assert excerpt(b"", "application/json") == ""
    assert excerpt(b"key=secret-value-1", "text/plain",
                   lambda t: t.replace("secret-value-1", "***")) == "key=***"


def test_display_url_hides_credentials_and_query() -> None:
    assert display_url("https://user:pw@api.example.com:8443/a/b?key=1") == \
        "https://api.example.com:8443/a/b?…"
    assert display_url("http://[::1]:8080/x") == "http://[::1]:8080/x"


def test_join_url() -> None:
    base = "https://api.example.com/v1/"
    assert join_url(base, "/orders", "w") == "https://api.example.com/v1/orders"
    assert join_url(base, "orders/7", "w") == "https://api.example.com/v1/orders/7"
    assert join_url(base, "", "w") == base
    assert join_url(base, "https://other.example.com/x", "w") == "https://other.example.com/x"
    for bad in ("//evil.example.com/x", "/a/../b", "/a b", "/x\r\nHost: y"):
        with pytest.raises(RejectedError):
            join_url(base, bad, "w")


def test_order_key() -> None:
    assert order_key(3) < order_key(10)  # numbers, not text
    assert order_key("2024-05-01T10:00:00+02:00") < order_key("2024-05-01T09:00:00Z")
    assert order_key("2024-05-01T09:00:00Z") == order_key("2024-05-01T11:00:00+02:00")
    assert order_key("b") > order_key("a")


def test_watermark_waits_for_earlier_polls_and_out_of_order_acks() -> None:
    async def main() -> dict[str, Any]:
        state = MemoryStateStore()
        wm = Watermark(WatermarkSettings.build({"field": "v", "param": "since"}, "w"),
                       state)
        await wm.load()
        first = wm.begin()
        t1 = [wm.admit(first, {"v": v, "id": i}) for i, v in enumerate([5, 3, 9])]
        await wm.finish(first, complete=True)
        second = wm.begin()
        assert wm.query(second) == {"since": "9"}  # next poll: from the last complete one
        assert wm.admit(second, {"v": 9, "id": 2}) is None  # the boundary record again
        t2 = [wm.admit(second, {"v": 12, "id": 3})]
        await wm.finish(second, complete=True)
        await wm.ack(t2)  # the later poll is acked first: nothing may be saved yet
        assert state.values == {}
        await wm.ack(t1[:2])
        assert state.values == {}
        await wm.ack(t1[2:])
        return state.values

    values = asyncio.run(main())
    assert values["watermark"]["value"] == 12


def test_watermark_problems() -> None:
    with pytest.raises(FatalError, match="watermark needs param"):
        WatermarkSettings.build({"field": "updated_at"}, "w")
    with pytest.raises(FatalError, match=r"watermark\.field"):
        WatermarkSettings.build({"field": "a[", "param": "p"}, "w")
