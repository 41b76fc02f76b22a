"""The shipped Kaspa rules (rules/kaspa.yaml via deploy/alertbot.yaml) on a fake clock."""

from __future__ import annotations

import pytest

from tests.fakes.clock import FakeClock
from tests.sources.rules_kit import RulesBot

Bot = RulesBot


@pytest.fixture
def bot(clock: FakeClock) -> Bot:
    return RulesBot(clock, "kaspa")


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
