"""The shipped Kaspa rules (rules/kaspa.yaml via deploy/alertbot.yaml) on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alertbot.engine import Engine
from alertbot.loader import load
from alertbot.model import Alert, Event, Notification
from alertbot.pipeline import build_pipeline
from tests.fakes.clock import FakeClock

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertbot.yaml"


class Bot:
    """Engine + dry-run pipeline over the shipped Kaspa rules; time moves only on demand."""

    def __init__(self, clock: FakeClock) -> None:
        loaded = load(CONFIG)
        rules = [r for r in loaded.rules if r.source == "kaspa"]
        self.clock = clock
        self.engine = Engine(rules, clock=clock, defaults=loaded.config.defaults)
        self.pipeline = build_pipeline(loaded.config, rules, store=None, dry_run=True)
        self.alerts: list[Alert] = []
        self.notes: list[Notification] = []
        self.t0 = clock.now()
        self._take(self.engine.start())

    def _take(self, alerts: list[Alert]) -> None:
        self.alerts += alerts
        self.notes += self.pipeline.submit(alerts, self.clock.now())
        self.notes += self.pipeline.advance(self.clock.now())

    def at(self, seconds: float, etype: str | None = None, **data: Any) -> None:
        """Move to t0 + seconds (firing timers), then feed one event of `etype` if given."""
        self.clock.set(self.t0 + seconds)
        self._take(self.engine.advance(self.clock.now()))
        if etype is not None:
            self._take(self.engine.process(Event("kaspa", etype, self.clock.now(), data)))

    def fired(self, rule: str, status: str = "firing") -> list[float]:
        return [a.starts_at - self.t0 if status == "firing" else (a.ends_at or 0) - self.t0
                for a in self.alerts if a.rule == rule and a.status == status]

    def delivered(self, rule: str) -> list[str]:
        return [n.alert.status for n in self.notes if n.alert.rule == rule]


@pytest.fixture
def bot(clock: FakeClock) -> Bot:
    return Bot(clock)


def test_node_down_fires_after_30s_and_mutes_the_stall(bot: Bot) -> None:
    """Disconnected 30 s → node-down; the DAA stall meanwhile is inhibited; both resolve."""
    bot.at(0, "connection", state="connected", url="ws://n", reason="healthy")
    for s in range(10):
        bot.at(s, "daa_score", virtual_daa_score=1000 + 10 * s)
    bot.at(10, "connection", state="disconnected", url="ws://n", reason="closed by peer")
    for s in range(11, 400):
        bot.at(s)
    assert bot.fired("kaspa-node-down") == [pytest.approx(40)]
    assert bot.fired("kaspa-daa-stalled")  # the engine sees the stall ...
    assert bot.delivered("kaspa-daa-stalled") == []  # ... the pipeline keeps it quiet
    bot.at(400, "connection", state="connected", url="ws://n", reason="healthy")
    bot.at(401, "daa_score", virtual_daa_score=5000)
    assert bot.fired("kaspa-node-down", "resolved") == [pytest.approx(400)]
    assert bot.fired("kaspa-daa-stalled", "resolved")
    assert bot.delivered("kaspa-node-down") == ["firing", "resolved"]
    assert bot.delivered("kaspa-daa-stalled") == []


def test_short_blip_does_not_alert(bot: Bot) -> None:
    """A disconnect shorter than 30 s stays pending and never notifies."""
    bot.at(0, "connection", state="disconnected", url="ws://n", reason="x")
    bot.at(20, "connection", state="connected", url="ws://n", reason="healthy")
    bot.at(100)
    assert bot.fired("kaspa-node-down") == []


def test_daa_stall_alone_notifies(bot: Bot) -> None:
    """A connected node whose DAA score stops advancing is reported, then resolved."""
    bot.at(0, "connection", state="connected", url="ws://n", reason="healthy")
    for s in range(0, 300, 5):
        bot.at(s, "daa_score", virtual_daa_score=777)
    bot.at(300, "daa_score", virtual_daa_score=778)
    assert bot.delivered("kaspa-daa-stalled") == ["firing", "resolved"]


def test_not_synced_for_5_minutes(bot: Bot) -> None:
    """isSynced false for 5 minutes fires, not before."""
    for s in range(0, 290, 10):
        bot.at(s, "sync_status", is_synced=False)
    assert bot.fired("kaspa-not-synced") == []
    for s in range(290, 320, 10):
        bot.at(s, "sync_status", is_synced=False)
    assert bot.fired("kaspa-not-synced") == [pytest.approx(300)]


def test_peers_low_and_version_change(bot: Bot) -> None:
    """Too few peers for long enough fires; a new server version notifies once."""
    for s in range(0, 200, 10):
        bot.at(s, "peers", count=2, outbound=1, inbound=1, ibd_peers=0)
    assert bot.fired("kaspa-peers-low")
    bot.at(200, "server_info", server_version="1.0.1", is_synced=True)
    bot.at(210, "server_info", server_version="1.0.1", is_synced=True)
    bot.at(220, "server_info", server_version="1.1.0", is_synced=True)
    bot.at(230, "server_info", server_version="1.1.0", is_synced=True)
    changed = [a for a in bot.alerts if a.rule == "kaspa-version-changed"]
    assert len(changed) == 1 and "1.1.0" in changed[0].text
