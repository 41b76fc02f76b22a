"""Tests of the shared HTTP helper: status table, Retry-After, secret scrubbing."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from alertbot.errors import DeliveryError
from alertbot.notifiers.http import (
    NotifierContext,
    Scrubber,
    classify_status,
    make_client,
    parse_retry_after,
    post,
    safe_url,
)

STATUS_TABLE = {200: None, 204: None, 400: False, 401: False, 403: False, 404: False,
                408: True, 410: False, 413: False, 425: True, 429: True, 500: True,
                502: True, 503: True, 504: True}


@pytest.mark.parametrize(("status", "retry"), sorted(STATUS_TABLE.items()))
def test_status_table(status: int, retry: bool | None) -> None:
    """2xx succeed, 5xx/408/425/429 retry, every other 4xx dead-letters."""
    assert classify_status(status) is retry


def test_retry_after_seconds_and_http_date() -> None:
    """Retry-After accepts delta-seconds and an HTTP date (relative to now)."""
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_scrubber_masks_url_path_and_tokens() -> None:
    """The secret URL, its path alone and plain tokens are masked; short bits are not."""
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    scrub = Scrubber([url, "tok-123456", "ab"])
    text = f"GET {url} failed; path /services/T000/B000/XXXXSECRET tok-123456 ab"
    out = scrub(text)
    assert "XXXXSECRET" not in out and "tok-123456" not in out and out.endswith("ab")


def test_safe_url_hides_secret_path() -> None:
    """A secret-path URL is shown as scheme and host only."""
    assert safe_url("https://h.example/s/k", secret_path=True) == "https://h.example/***"


async def test_post_maps_429_with_retry_after() -> None:
    """A 429 becomes a retryable DeliveryError carrying retry_after and the status."""
    transport = httpx.MockTransport(
        lambda r: httpx.Response(429, headers={"Retry-After": "3"}, text="slow down"))
    async with make_client(NotifierContext(transport=transport), 1.0) as client:
        with pytest.raises(DeliveryError) as info:
            await post(client, "http://127.0.0.1/x", what="t", scrub=Scrubber(), now=0.0,
                       content=b"{}", headers={})
    assert (info.value.retry, info.value.retry_after, info.value.status) == (True, 3.0, 429)
    assert "slow down" in str(info.value)


async def test_post_connection_error_is_retryable_and_scrubbed() -> None:
    """A connection error retries and its text never contains the secret URL."""
    secret_url = "http://127.0.0.1:9/very-secret-path"

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    async with make_client(NotifierContext(transport=httpx.MockTransport(fail)),
                           1.0) as client:
        with pytest.raises(DeliveryError) as info:
            await post(client, secret_url, what="t", scrub=Scrubber([secret_url]),
                       now=0.0, content=b"{}", headers={})
    assert info.value.retry is True
    assert "very-secret-path" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
