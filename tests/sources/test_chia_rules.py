"""The shipped Chia rules (rules/chia.yaml via deploy/alertbot.yaml) on a fake clock."""

from __future__ import annotations

import pytest

from tests.fakes.clock import FakeClock
from tests.sources.rules_kit import RulesBot

FARMER = {"origin": "chia_farmer"}


Bot = RulesBot


@pytest.fixture
def bot(clock: FakeClock) -> Bot:
    return RulesBot(clock, "chia")


def sp(bot: Bot, t: float, index: int, missing: int = 0) -> None:
    bot.at(t, "signage_point", signage_point_index=index, challenge_hash="0x1",
           missing_signage_points=missing, **FARMER)


def test_signage_stall_tolerates_end_of_slot_gap(bot: Bot) -> None:
    """9.4 s cadence with an 18.75 s end-of-sub-slot gap never alerts; a 60 s stall does once."""
    t = 0.0
    for i in range(1, 130):
        t += 18.75 if i % 64 == 0 else 9.375
        sp(bot, t, i % 64)
    assert bot.of("chia-signage-stalled") == []
    for s in range(int(t) + 1, int(t) + 200, 5):
        bot.at(s)
    assert len(bot.of("chia-signage-stalled")) == 1
    assert bot.of("chia-signage-stalled")[0].starts_at - bot.t0 == pytest.approx(t + 60)
    sp(bot, t + 200, 1)
    assert bot.delivered("chia-signage-stalled") == ["firing", "resolved"]


def test_skipped_signage_points(bot: Bot) -> None:
    """One skipped SP is normal; two or more notify once per signage point."""
    sp(bot, 1, 5, missing=1)
    sp(bot, 2, 8, missing=2)
    sp(bot, 3, 8, missing=2)          # the same SP again (e.g. after a reconnect)
    notes = [a.text for a in bot.of("chia-signage-skipped")]
    assert len(notes) == 1 and "skipped 2 signage points before index 8" in notes[0]


def test_not_synced_and_peak_stalled(bot: Bot) -> None:
    """synced false for 5 min fires; a peak stuck for 5 min fires; both resolve."""
    for s in range(0, 330, 30):
        bot.at(s, "blockchain_state", synced=False, sync_mode=False, peak_height=500)
    assert [a.starts_at - bot.t0 for a in bot.of("chia-not-synced")] == [pytest.approx(300)]
    assert len(bot.of("chia-peak-stalled")) == 1
    bot.at(340, "blockchain_state", synced=True, sync_mode=False, peak_height=501)
    assert bot.delivered("chia-not-synced") == ["firing", "resolved"]
    assert bot.delivered("chia-peak-stalled") == ["firing", "resolved"]


def test_harvester_disconnect_and_plot_drop(bot: Bot) -> None:
    """harvester_removed alerts per harvester; losing 2 plots within 10 min alerts."""
    h = {"host": "10.0.0.5", "connected": True}
    bot.at(0, "harvester", node_id="0xaa", plots=100, **h)
    bot.at(0, "harvester", node_id="0xbb", plots=50, **h)
    bot.at(700, "harvester", node_id="0xaa", plots=99, **h)
    assert bot.of("chia-plots-dropped") == []
    bot.at(1400, "harvester", node_id="0xaa", plots=97, **h)
    assert len(bot.of("chia-plots-dropped")) == 1
    bot.at(1500, "harvester", node_id="0xbb", connected=False)
    assert len(bot.of("chia-harvester-disconnected")) == 1
    bot.at(1600, "harvester", node_id="0xbb", plots=50, **h)
    assert bot.delivered("chia-harvester-disconnected") == ["firing", "resolved"]


def test_slow_lookup_and_missing_farming_info(bot: Bot) -> None:
    """A lookup over 5 s alerts and resolves on a fast one; 90 s without any alerts."""
    info = {"node_id": "0xaa", "passed_filter": 1, "proofs": 0, "total_plots": 6, **FARMER}
    bot.at(1, "farming_info", lookup_time=0.4, **info)
    bot.at(10, "farming_info", lookup_time=7.5, **info)
    assert "7.5 s" in bot.of("chia-lookup-slow")[0].text
    bot.at(20, "farming_info", lookup_time=0.3, **info)
    assert bot.delivered("chia-lookup-slow") == ["firing", "resolved"]
    bot.at(105)
    assert bot.of("chia-farming-info-missing") == []
    bot.at(115)
    assert len(bot.of("chia-farming-info-missing")) == 1


def test_failed_partial_and_proof(bot: Bot) -> None:
    """A failed partial fires at once; a found proof notifies once (info)."""
    bot.at(5, "partial", status="submitted", launcher_id="0xab", points=10)
    assert bot.of("chia-partial-failed") == []
    bot.at(6, "partial", status="failed", p2_singleton_puzzle_hash="0xcdcdcdcdcdcdcdcdcd")
    assert len(bot.of("chia-partial-failed")) == 1
    bot.at(7, "proof", challenge_hash="0x9", signage_point_index=12)
    bot.at(8, "proof", challenge_hash="0x9", signage_point_index=12)
    assert len([a for a in bot.alerts if a.rule == "chia-proof-found"]) == 1


def test_daemon_down_mutes_the_stall(bot: Bot) -> None:
    """With the daemon unreachable, only the daemon-down alert is delivered."""
    sp(bot, 1, 1)
    bot.at(2, "connection", state="disconnected", url="wss://x", reason="closed by peer")
    for s in range(3, 200, 5):
        bot.at(s)
    assert bot.delivered("chia-daemon-down") == ["firing"]
    assert bot.of("chia-signage-stalled") and bot.delivered("chia-signage-stalled") == []


def test_farmer_without_full_node(bot: Bot) -> None:
    """The farmer reporting no full node peer for 2 minutes alerts."""
    for s in range(0, 150, 30):
        bot.at(s, "connections", service="chia_farmer", count=1, full_nodes=0, harvesters=1)
    assert len(bot.of("chia-farmer-no-full-node")) == 1
