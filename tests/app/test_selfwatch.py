"""Watching the watcher: dead letters become self-alerts; the heartbeat keeps time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.app.service_kit import running, until, write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http_receiver import HttpReceiver, Reply

RULES = """\
rules:
  - id: bad-delivery
    source: alertbot
    event: dead_letter
    mode: event
    notify: [good]
    message: "{{ notifier }} lost {{ event.rule }}: {{ message }}"
  - id: backlog
    source: alertbot
    event: outbox_backlog
    when: {field: depth, above: 100}
    group_by: [notifier]
    notify: [good]
"""

TRIGGER = """\
  - id: reload-seen
    source: alertbot
    event: reload_failed
    mode: event
    notify: [bad]
"""


async def test_dead_letter_alerts_through_another_notifier(tmp_path: Path) -> None:
    """A 400 from one webhook dead-letters; the dead_letter rule tells the other one."""
    async with HttpReceiver(default=Reply(400, "bad payload")) as bad, \
            HttpReceiver() as good:
        config = {"notifiers": {"bad": {"kind": "webhook", "url": bad.url},
                                "good": {"kind": "webhook", "url": good.url}}}
        path = write_config(tmp_path, config, RULES + TRIGGER)
        async with running(path, watch_files=False) as service:
            service.watch.on_reload_failed([("rules/x.yaml", "x.yaml:1:1: broken")])
            await good.wait_for(1)
    alert = good.requests[0].json()
    assert alert["rule"] == "bad-delivery"
    assert alert["text"] == ("bad lost reload-seen: webhook bad (http://127.0.0.1/***): "
                             "HTTP 400: bad payload")
    assert len(bad.requests) == 1            # a 400 is not retried


async def test_a_dead_self_alert_does_not_loop(tmp_path: Path) -> None:
    """When the self-alert's own notifier is dead too, no second self-alert follows."""
    async with HttpReceiver(default=Reply(400)) as bad:
        config = {"notifiers": {"bad": {"kind": "webhook", "url": bad.url},
                                "good": {"kind": "webhook", "url": bad.url}}}
        path = write_config(tmp_path, config, RULES + TRIGGER)
        async with running(path, watch_files=False) as service:
            service.watch.on_reload_failed([("rules/x.yaml", "broken")])
            await bad.wait_for(2)
            await until(lambda: len(service.store.outbox_list("dead")) == 2)
            service.pump.drain()
            assert service.store.outbox_list("pending") == []
    assert [r.json()["rule"] for r in bad.requests] == ["reload-seen", "bad-delivery"]


async def test_heartbeat_on_schedule(tmp_path: Path) -> None:
    """heartbeat_url is hit once per heartbeat_interval of the (fake) clock."""
    hits: list[float] = []
    clock = FakeClock()
    beat = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(clock.now())
        beat.set()
        return httpx.Response(200)

    config = {"heartbeat_url": "https://hc.example/ping/abc", "heartbeat_interval": "60s"}
    path = write_config(tmp_path, config, "rules: []\n")
    start = clock.now()
    async with running(path, watch_files=False, clock=clock,
                       transport=httpx.MockTransport(handler)):
        for _ in range(3):
            beat.clear()
            clock.advance(30)
            await asyncio.sleep(0)
            assert not beat.is_set() or len(hits) > 0
            clock.advance(30)
            await asyncio.wait_for(beat.wait(), 2)
    assert [t - start for t in hits] == [60, 120, 180]


async def test_daily_digest_at_its_hour(tmp_path: Path) -> None:
    """The digest goes out at `at` o'clock with the day's fired/resolved counts."""
    from datetime import UTC, datetime

    clock = FakeClock(datetime(2026, 1, 1, 8, 0, tzinfo=UTC).timestamp())
    async with HttpReceiver() as hook:
        config = {"notifiers": {"hook": {"kind": "webhook", "url": hook.url}},
                  "digest": {"at": "09:00", "notify": ["hook"]}}
        path = write_config(tmp_path, config, "rules:\n" + TRIGGER.replace("[bad]", "[hook]"))
        async with running(path, watch_files=False, clock=clock) as service:
            service.watch.on_reload_failed([("rules/x.yaml", "broken")])
            await hook.wait_for(1)
            clock.advance(3599)
            await asyncio.sleep(0)
            assert len(hook.requests) == 1
            clock.advance(1)
            await hook.wait_for(2)
    digest = hook.requests[1].json()
    assert digest["rule"] == "alertbot-digest"
    assert digest["starts_at"] == "2026-01-01T09:00:00.000Z"
    assert digest["text"].startswith("Digest of the last 1 h: 1 fired, 0 resolved")
    assert "- reload-seen: fired 1, resolved 0" in digest["text"]


async def test_retention_prunes_every_hour(tmp_path: Path) -> None:
    """The store is pruned hourly with every table's retention setting."""
    clock = FakeClock()
    calls: list[tuple[float, dict[str, float]]] = []
    pruned = asyncio.Event()
    path = write_config(tmp_path, {"retention": {"notify_log": "7d"}}, "rules: []\n")
    async with running(path, watch_files=False, clock=clock) as service:
        real = service.store.prune

        def spy(now: float, retention: dict[str, float]) -> int:
            calls.append((now, dict(retention)))
            pruned.set()
            return real(now, retention)

        service.store.prune = spy  # type: ignore[method-assign]
        start = clock.now()
        clock.advance(3600)
        await asyncio.wait_for(pruned.wait(), 2)
    assert calls[0][0] == start + 3600
    assert calls[0][1]["notify_log"] == 7 * 86400
    assert set(calls[0][1]) == {"notify_log", "outbox_dead", "silences_expired",
                                "instances_resolved", "emitted"}
