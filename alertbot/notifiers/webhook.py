"""The `webhook` notifier: POST each notification as JSON, signed per Standard Webhooks.

The body is the notification JSON of DESIGN §2.5, or with `format: alertmanager`
Alertmanager's webhook v4 body (so existing receivers work; `endsAt` is set on resolve
and is the zero time while firing). With a `secret`, three headers are added:
`webhook-id` (the notification id, stable across retries so receivers can dedup),
`webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`; a `whsec_` secret is base64-decoded after the prefix. Sending and
error classification go through `notifiers/http.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from typing import Any

from ..model import Notification, dumps, format_time
from .http import NotifierContext, Scrubber, make_client, post, safe_url, secret_value
from .settings import WebhookSettings

log = logging.getLogger(__name__)

ZERO_TIME = "0001-01-01T00:00:00Z"


def signing_key(secret: str) -> bytes:
    """Standard Webhooks: `whsec_<base64>` is decoded; any other secret is used as UTF-8."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def alertmanager_body(n: Notification, receiver: str,
                      external_url: str = "") -> dict[str, Any]:
    """Alertmanager webhook v4 payload carrying this one notification."""
    a = n.alert
    labels = {**{k: str(v) for k, v in a.labels.items()}, "alertname": a.rule,
              "severity": str(a.severity)}
    annotations = {"summary": a.text}
    ends_at = ZERO_TIME
    if a.status == "resolved":
        ends_at = format_time(a.ends_at if a.ends_at is not None else n.created_at)
    alert = {"status": a.status, "labels": labels, "annotations": annotations,
             "startsAt": format_time(a.starts_at), "endsAt": ends_at,
             "generatorURL": external_url, "fingerprint": a.fingerprint}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{a.rule}", fingerprint="{a.fingerprint}"}}',
        "truncatedAlerts": 0,
        "status": a.status,
        "receiver": receiver,
        "groupLabels": {"alertname": a.rule},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "notification_reason": a.reason,
        "alerts": [alert],
    }


class WebhookNotifier:
    """Sends to one URL; its path, query and header values are masked in every text."""

    def __init__(self, name: str, settings: WebhookSettings, ctx: NotifierContext) -> None:
        self.name = name
        self.settings = settings
        self._url = settings.url
        secret = secret_value(settings.secret)
        self._key = None if secret is None else signing_key(secret)
        # Many receivers put a token in the path or query, and custom headers often
        # carry credentials (Authorization): all of them count as secrets.
        self._scrub = Scrubber([secret, settings.url, *settings.headers.values()])
        self._what = f"webhook {name} ({safe_url(settings.url, secret_path=True)})"
        self._ctx = ctx
        self._client = make_client(ctx, float(settings.timeout))
        self._closed = False

    def body(self, n: Notification) -> bytes:
        if self.settings.format == "alertmanager":
            obj = alertmanager_body(n, self.name, self.settings.external_url)
        else:
            obj = n.to_json()
        return dumps(obj).encode()

    def headers(self, n: Notification, body: bytes) -> dict[str, str]:
        headers = {**self.settings.headers, "Content-Type": "application/json",
                   "webhook-id": n.id}
        if self._key is not None:
            # Wall time on purpose: receivers check it against their own clock.
            ts = int(time.time())
            headers["webhook-timestamp"] = str(ts)
            headers["webhook-signature"] = sign(self._key, n.id, ts, body)
        return headers

    async def send(self, notification: Notification) -> None:
        body = self.body(notification)
        await post(self._client, self._url, what=self._what, scrub=self._scrub,
                   now=time.time(), content=body, headers=self.headers(notification, body))
        log.debug("%s: delivered %s", self._what, notification.id)

    async def send_group(self, group_key: str,
                         notifications: Sequence[Notification]) -> None:
        """One POST for a group: `{"group_key", "alerts": [...]}` (or one v4 body)."""
        if self.settings.format == "alertmanager":
            bodies = [alertmanager_body(n, self.name, self.settings.external_url)
                      for n in notifications]
            obj = {**bodies[0], "groupKey": group_key,
                   "alerts": [a for b in bodies for a in b["alerts"]],
                   "status": ("firing" if any(n.alert.status == "firing"
                                              for n in notifications) else "resolved")}
        else:
            obj = {"group_key": group_key, "alerts": [n.to_json() for n in notifications]}
        body = dumps(obj).encode()
        # A stable id for the same set of notifications, so receivers can dedup retries.
        digest = hashlib.sha256("|".join(sorted(n.id for n in notifications)).encode())
        first = notifications[0]
        headers = self.headers(first, body)
        msg_id = "grp_" + digest.hexdigest()[:24]
        headers["webhook-id"] = msg_id
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, msg_id,
                                                int(headers["webhook-timestamp"]), body)
        await post(self._client, self._url, what=self._what, scrub=self._scrub,
                   now=time.time(), content=body, headers=headers)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def build(name: str, settings: WebhookSettings, ctx: NotifierContext | None) -> WebhookNotifier:
    """NOTIFIERS factory for `kind: webhook`."""
    return WebhookNotifier(name, settings, ctx or NotifierContext())
