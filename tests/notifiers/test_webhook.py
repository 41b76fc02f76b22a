"""Tests of the webhook notifier against a real local HTTP receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from alertbot.errors import DeliveryError
from alertbot.model import format_time
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import WebhookSettings
from alertbot.notifiers.webhook import build
from tests.fakes.http_receiver import HttpReceiver, Reply, Request

from .samples import T0, make_notification

RAW_KEY = b"0123456789abcdef-standard-webhooks"
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()


def verify_standard_webhook(secret: str, request: Request, tolerance: float = 300) -> bool:
    """Independent Standard Webhooks v1 verification, written from the spec."""
    key = (base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_")
           else secret.encode())
    msg_id = request.headers["webhook-id"]
    ts = request.headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    content = msg_id.encode() + b"." + ts.encode() + b"." + request.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for sig in request.headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def settings(url: str, **kw: object) -> WebhookSettings:
    return WebhookSettings.model_validate({"kind": "webhook", "url": url, **kw})


async def test_posts_notification_json() -> None:
    """The default body is the notification JSON of DESIGN §2.5 with custom headers."""
    async with HttpReceiver() as rx:
        hook = build("hook", settings(rx.url + "/in", headers={"X-Team": "ops"}),
                     NotifierContext())
        n = make_notification()
        await hook.send(n)
        await hook.aclose()
    req = rx.requests[0]
    body = req.json()
    assert req.path == "/in" and req.headers["x-team"] == "ops"
    assert body["id"] == n.id and body["notifier"] == "hook" and body["ends_at"] is None
    assert body["rule"] == "btc_high" and body["event"]["data"]["last"] == "100001.5"
    assert "webhook-signature" not in req.headers


@pytest.mark.parametrize("secret", [WHSEC, "plain-text-secret-value"])
async def test_signature_verifies_independently(secret: str) -> None:
    """A signed request passes an independent Standard Webhooks check (whsec_ and plain)."""
    async with HttpReceiver() as rx:
        hook = build("hook", settings(rx.url, secret=secret), NotifierContext())
        await hook.send(make_notification())
        await hook.aclose()
    req = rx.requests[0]
    assert verify_standard_webhook(secret, req)
    tampered = Request(req.method, req.path, req.headers, req.body + b" ", req.at)
    assert not verify_standard_webhook(secret, tampered)


async def test_alertmanager_format_firing_and_resolved() -> None:
    """format: alertmanager sends a v4 body; endsAt is zero while firing, set on resolve."""
    async with HttpReceiver() as rx:
        hook = build("am", settings(rx.url, format="alertmanager"), NotifierContext())
        await hook.send(make_notification("am"))
        await hook.send(make_notification("am", status="resolved", reason="resolved",
                                          ends_at=T0 + 60))
        await hook.aclose()
    firing, resolved = (r.json() for r in rx.requests)
    assert firing["version"] == "4" and firing["receiver"] == "am"
    assert firing["status"] == "firing" and firing["alerts"][0]["endsAt"] == (
        "0001-01-01T00:00:00Z")
    alert = resolved["alerts"][0]
    assert resolved["status"] == "resolved" and alert["endsAt"] == format_time(T0 + 60)
    assert alert["labels"] == {"alertname": "btc_high", "severity": "critical",
                               "symbol": "BTC/USD"}
    assert alert["annotations"]["summary"] == "BTC above 100000"
    assert alert["fingerprint"] == "fp0001" and firing["groupKey"]


async def test_timeout_is_retryable() -> None:
    """A receiver that never answers within `timeout` gives a retryable DeliveryError."""
    async with HttpReceiver([Reply(hold=True)]) as rx:
        hook = build("hook", settings(rx.url, timeout=0.05), NotifierContext())
        with pytest.raises(DeliveryError) as info:
            await hook.send(make_notification())
        await hook.aclose()
    assert info.value.retry is True and "timed out" in str(info.value)


async def test_4xx_is_permanent_with_body() -> None:
    """A 400 is not retried and the receiver's answer is in the error text."""
    async with HttpReceiver([Reply(400, "bad field x")]) as rx:
        hook = build("hook", settings(rx.url), NotifierContext())
        with pytest.raises(DeliveryError) as info:
            await hook.send(make_notification())
        await hook.aclose()
    assert info.value.retry is False and info.value.status == 400
    assert "bad field x" in str(info.value)
