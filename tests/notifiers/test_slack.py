"""Tests of the Slack incoming-webhook notifier against a real local receiver."""

from __future__ import annotations

import logging

import pytest

from alertbot.errors import DeliveryError
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import SlackSettings
from alertbot.notifiers.slack import build
from tests.fakes.http_receiver import HttpReceiver, Reply

from .samples import make_notification

SECRET_PATH = "/services/T0SECRET/B0SECRET/abcdefSECRETxyz"


def settings(base: str) -> SlackSettings:
    return SlackSettings.model_validate({"kind": "slack", "webhook_url": base + SECRET_PATH})


async def test_posts_block_kit_with_fallback() -> None:
    """The body has Block Kit blocks and a plain `text` fallback with a severity marker."""
    async with HttpReceiver() as rx:
        slack = build("team", settings(rx.url), NotifierContext())
        await slack.send(make_notification("team"))
        await slack.aclose()
    body = rx.requests[0].json()
    assert rx.requests[0].path == SECRET_PATH
    assert body["text"].startswith("\U0001F534 [FIRING] critical btc_high")
    assert body["blocks"][0]["type"] == "section"


async def test_429_retries_after_header() -> None:
    """Slack's 429 with Retry-After is retryable after exactly that many seconds."""
    async with HttpReceiver([Reply(429, "rate_limited", {"Retry-After": "2"})]) as rx:
        slack = build("team", settings(rx.url), NotifierContext())
        with pytest.raises(DeliveryError) as info:
            await slack.send(make_notification("team"))
        await slack.aclose()
    assert (info.value.retry, info.value.retry_after) == (True, 2.0)


@pytest.mark.parametrize(("status", "body"), [(400, "invalid_payload"),
                                              (404, "channel_not_found"),
                                              (410, "channel_is_archived"),
                                              (403, "action_prohibited")])
async def test_permanent_errors_dead_letter_with_body_logged(
        status: int, body: str, caplog: pytest.LogCaptureFixture) -> None:
    """Permanent Slack errors are not retried; the body is logged, the URL never is."""
    caplog.set_level(logging.DEBUG)
    async with HttpReceiver([Reply(status, body)]) as rx:
        slack = build("team", settings(rx.url), NotifierContext())
        with pytest.raises(DeliveryError) as info:
            await slack.send(make_notification("team"))
        await slack.aclose()
    assert info.value.retry is False and body in str(info.value)
    assert body in caplog.text
    assert "SECRET" not in caplog.text and "SECRET" not in str(info.value)
