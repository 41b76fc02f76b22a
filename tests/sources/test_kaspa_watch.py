"""Kaspa watcher end to end: simulator → runner → KaspaSource → Engine → pipeline.

Durations are scaled down (`for` 0.3 s, stall 0.5 s, polls 0.1 s); time is the wall
clock because the runner's connection timers run on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from alertbot.clock import SystemClock
from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.metrics import RecordingMetrics
from alertbot.model import Alert, Event, Notification
from alertbot.pipeline import build_pipeline
from alertbot.settings import Config
from alertbot.sources.kaspa import KaspaSettings, KaspaSource
from alertbot.sources.runner import EventContext, SourceRunner
from alertbot.sources.sim.kaspa import KaspaSim

RULES: list[dict[str, Any]] = [
    {"id": "kaspa-node-down", "source": "kaspa", "event": "connection",
     "when": {"field": "state", "equals": "disconnected"}, "for": 0.3,
     "inhibits": ["kaspa-daa-stalled"], "notify": ["console"]},
    {"id": "kaspa-daa-stalled", "source": "kaspa", "event": "daa_score",
     "unchanged_for": {"field": "virtual_daa_score", "duration": 0.5}, "notify": ["console"]},
    {"id": "kaspa-not-synced", "source": "kaspa", "event": "sync_status",
     "when": {"field": "is_synced", "equals": False}, "for": 0.3, "notify": ["console"]},
    {"id": "kaspa-version-changed", "source": "kaspa", "event": "server_info",
     "mode": "event", "when": {"field": "server_version", "changed": True},
     "notify": ["console"]},
]


class Harness:
    """Feeds the source's events through a real Engine and pipeline, on the wall clock."""

    def __init__(self, sim: KaspaSim) -> None:
        self.clock = SystemClock()
        rules = [Rule.model_validate(r) for r in RULES]
        self.engine = Engine(rules, clock=self.clock)
        config = Config.model_validate({"notifiers": {"console": {"kind": "console"}}})
        self.pipeline = build_pipeline(config, rules, store=None, dry_run=True)
        self.events: list[Event] = []
        self.alerts: list[Alert] = []
        self.notes: list[Notification] = []
        self.changed = asyncio.Event()
        ctx = EventContext("kaspa", clock=self.clock, metrics=RecordingMetrics(), store=None,
                           emit=self._on_event)
        settings = KaspaSettings.model_validate({
            "kind": "kaspa", "url": sim.url, "poll_interval": 0.1, "request_timeout": 0.2,
            "heartbeat_timeout": 2, "ping_interval": 1, "pong_timeout": 1,
            "open_timeout": 1, "healthy_after": 0.05,
            "reconnect": {"initial": 0.05, "max": 0.1, "jitter": 0}})
        self.source = KaspaSource("kaspa", settings, ctx)
        self.runner = SourceRunner(self.source, rng=random.Random(0))

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._take(self.engine.process(event), event.time)

    def _take(self, alerts: list[Alert], now: float) -> None:
        self.alerts += alerts
        self.notes += self.pipeline.submit(alerts, now)
        self.changed.set()

    async def tick(self) -> None:
        """Drive the engine's and pipeline's timers (the app's timer loop, simplified)."""
        self._take(self.engine.start(), self.clock.now())
        while True:
            now = self.clock.now()
            self._take(self.engine.advance(now), now)
            self.notes += self.pipeline.advance(now)
            await asyncio.sleep(0.01)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def of(self, etype: str) -> list[Event]:
        return [e for e in self.events if e.type == etype]

    def alerts_of(self, rule: str, status: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.rule == rule and status in (None, a.status)]

    def notes_of(self, rule: str) -> list[tuple[str, str]]:
        return [(n.alert.rule, n.alert.status) for n in self.notes if n.alert.rule == rule]


@pytest.fixture
async def sim() -> AsyncIterator[KaspaSim]:
    async with KaspaSim(tick=0.02) as s:
        yield s


@pytest.fixture
async def h(sim: KaspaSim) -> AsyncIterator[Harness]:
    harness = Harness(sim)
    tasks = [asyncio.create_task(harness.runner.run()), asyncio.create_task(harness.tick())]
    await harness.wait_for(lambda: bool(harness.of("daa_score")) and any(
        e.data["state"] == "connected" for e in harness.of("connection")))
    yield harness
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_events_flow_with_declared_types(h: Harness) -> None:
    """Notifications and every poll reach the engine as typed events."""
    await h.wait_for(lambda: all(h.of(t) for t in
                                 ("server_info", "dag_info", "sync_status", "peers",
                                  "sink_blue_score")))
    assert h.of("peers")[-1].data == {"count": 8, "outbound": 4, "inbound": 4, "ibd_peers": 0}
    assert h.of("server_info")[-1].data["server_version"] == "1.0.1"
    scores = [e.data["virtual_daa_score"] for e in h.of("daa_score")]
    assert scores == sorted(scores) and isinstance(scores[0], int)
    assert not h.of("source_error")


async def test_node_down_alerts_once_inhibits_stall_and_resubscribes(
        h: Harness, sim: KaspaSim) -> None:
    """Node down → one disconnected alert after `for`, stall muted; back → resolve, resubscribe."""
    await sim.down()
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-daa-stalled", "firing")))
    await asyncio.sleep(0)  # let the tick loop hand over anything due at the same instant
    fired = h.alerts_of("kaspa-node-down", "firing")
    assert len(fired) == 1
    assert fired[0].starts_at - h.of("connection")[-1].time >= 0.3 - 1e-3
    await sim.up()
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-node-down", "resolved")))
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-daa-stalled", "resolved")))
    assert len(h.alerts_of("kaspa-node-down", "firing")) == 1
    assert sim.connections == 2
    assert sim.requested("subscribe", connection=2) == 2
    assert sim.subscribed("VirtualDaaScoreChanged") and sim.subscribed("SinkBlueScoreChanged")
    # the pipeline delivers node-down firing + resolved, and nothing for the muted stall
    assert h.notes_of("kaspa-node-down") == [("kaspa-node-down", "firing"),
                                             ("kaspa-node-down", "resolved")]
    assert h.notes_of("kaspa-daa-stalled") == []


async def test_daa_stall_alerts_and_resolves(h: Harness, sim: KaspaSim) -> None:
    """A DAA score that stops rising fires the stall rule; rising again resolves it."""
    sim.stalled = True
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-daa-stalled", "firing")))
    sim.stalled = False
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-daa-stalled", "resolved")))
    assert h.notes_of("kaspa-daa-stalled") == [("kaspa-daa-stalled", "firing"),
                                               ("kaspa-daa-stalled", "resolved")]
    assert not h.alerts_of("kaspa-node-down")
    assert sim.connections == 1  # polls kept the quiet link alive


async def test_not_synced_longer_than_for_alerts(h: Harness, sim: KaspaSim) -> None:
    """isSynced false for longer than `for` fires; true again resolves."""
    sim.synced = False
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-not-synced", "firing")))
    first_false = next(e for e in h.of("sync_status") if e.data["is_synced"] is False)
    assert h.alerts_of("kaspa-not-synced", "firing")[0].starts_at - first_false.time >= 0.3 - 1e-3
    sim.synced = True
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-not-synced", "resolved")))


async def test_unanswered_request_times_out_without_holding_anything(
        h: Harness, sim: KaspaSim, caplog: pytest.LogCaptureFixture) -> None:
    """getBlockDagInfo never answered: timeouts logged, DAA and other polls flow, no stall."""
    caplog.set_level(logging.WARNING)
    sim.never_answer("getBlockDagInfo")
    start = len(h.events)

    def timeouts() -> list[Event]:
        return [e for e in h.of("source_error") if e.data["kind"] == "timeout"]

    await h.wait_for(lambda: len(timeouts()) >= 3)
    later = h.events[start:]
    assert "getBlockDagInfo" in timeouts()[0].data["message"]
    assert any("timeout" in r.getMessage() and "getBlockDagInfo" in r.getMessage()
               for r in caplog.records)
    after_first = [e for e in later if e.time > timeouts()[0].time]
    assert sum(e.type == "daa_score" for e in after_first) > 5
    assert any(e.type == "server_info" for e in after_first)
    assert any(e.type == "peers" for e in after_first)
    assert not h.alerts_of("kaspa-daa-stalled")
    assert sim.connections == 1


async def test_version_change_notifies_once(h: Harness, sim: KaspaSim) -> None:
    """A new server version (node upgraded) is an event-mode alert."""
    await h.wait_for(lambda: bool(h.of("server_info")))
    sim.server_version = "1.1.0"
    await h.wait_for(lambda: bool(h.alerts_of("kaspa-version-changed")))
    alerts = h.alerts_of("kaspa-version-changed")
    assert len(alerts) == 1 and alerts[0].event is not None
    assert alerts[0].event.data["server_version"] == "1.1.0"


async def test_unknown_method_makes_the_sim_close_like_kaspad(sim: KaspaSim) -> None:
    """The simulator drops the socket on an unknown method, as kaspad's JSON handler does."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(sim.url) as ws:
        await ws.send('{"id":1,"method":"getBlockDagInfoRequest","params":{}}')
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)
    async with connect(sim.url) as ws:
        await ws.send('{"id":2,"method":"notifyBlockAdded","params":{}}')
        reply = await asyncio.wait_for(ws.recv(), 2)
    assert '"RPC method not found"' in str(reply) and '"id":2' in str(reply)
