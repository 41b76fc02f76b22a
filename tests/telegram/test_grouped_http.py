"""Grouped webhook and Slack messages (run once webhook.py/slack.py gain send_group)."""

from __future__ import annotations

import asyncio

import pytest

from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import SlackSettings, WebhookSettings
from alertbot.notifiers.slack import SlackNotifier
from alertbot.notifiers.slack import build as sbuild
from alertbot.notifiers.webhook import WebhookNotifier, build
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.http_receiver import HttpReceiver
from tests.notifiers.test_webhook import WHSEC, verify_standard_webhook

from .test_grouping import burst, row_states, until


async def test_webhook_and_slack_groups_are_one_post_each(clock: FakeClock) -> None:
    """50 alerts within group_wait: one signed webhook POST {group_key, alerts}, one Slack."""
    if not hasattr(WebhookNotifier, "send_group") or not hasattr(SlackNotifier, "send_group"):
        pytest.skip("webhook/slack send_group not landed yet (see docs/notifiers.md)")
    async with HttpReceiver() as rx:
        store = SQLiteStore(":memory:")
        s = WebhookSettings.model_validate({"kind": "webhook", "url": rx.url,
                                            "secret": WHSEC, "group_wait": 5})
        s2 = SlackSettings.model_validate({"kind": "slack", "group_wait": 5,
                                           "webhook_url": rx.url + "/services/x"})
        w = DeliveryWorker(store, {"hook": build("hook", s, NotifierContext()),
                                   "sl": sbuild("sl", s2, NotifierContext())}, clock=clock)
        t0 = clock.now()
        store.enqueue(burst("hook", 50, t0) + burst("sl", 50, t0), t0)
        task = asyncio.create_task(w.run())
        clock.set(t0 + 5)
        await until(lambda: not row_states(store))
        task.cancel()
        await w.aclose()
    assert len(rx.requests) == 2
    bodies = {r.path: r.json() for r in rx.requests}
    hook = bodies["/"]
    assert hook["group_key"] == "hook:{}" and len(hook["alerts"]) == 50
    assert verify_standard_webhook(WHSEC, next(r for r in rx.requests if r.path == "/"))
    assert bodies["/services/x"]["text"] == "50 alerts"
