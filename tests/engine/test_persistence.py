"""Restart behaviour through the StateStore (an in-memory fake): DESIGN §2.6."""

from __future__ import annotations

from alertbot.engine.rules import Rule
from tests.engine.conftest import T0, Harness, MemoryStore, ev, rule

FIRST = ("r", "firing", "first")
RESOLVED = ("r", "resolved", "resolved")


def restart(rules: list[Rule], store: MemoryStore, at: float) -> Harness:
    """A fresh engine over the same store, started at T0 + at."""
    h = Harness.__new__(Harness)
    from alertbot.engine import Engine
    from alertbot.metrics import RecordingMetrics
    from tests.fakes.clock import FakeClock

    h.clock = FakeClock(T0 + at)
    h.metrics = RecordingMetrics()
    h.store = store
    h.engine = Engine(rules, clock=h.clock, store=store,  # type: ignore[arg-type]
                      metrics=h.metrics)
    h.started = h.engine.start()
    return h


def test_flush_writes_one_batch_and_round_trips_state() -> None:
    """flush() saves dirty instances in one batch; a restart sees the same state."""
    store = MemoryStore()
    rules = [rule(group_by=["symbol"], when={"field": "last", "above": 1})]
    h = Harness(rules, store=store)
    h.feed(ev(0, symbol="A", last=2), ev(1, symbol="B", last=2), ev(2, symbol="B", last=0))
    h.engine.flush()
    h.engine.flush()  # nothing dirty: no second batch
    assert store.batches == 1
    h2 = restart(rules, store, 10)
    assert [a.labels["symbol"] for a in h2.engine.firing()] == ["A"]
    # firing A does not fire again; its episode continues
    assert h2.feed(ev(11, symbol="A", last=3)) == []
    assert h2.feed(ev(12, symbol="A", last=0)) == [(*RESOLVED, 1, 0, 12)]


def test_pending_for_keeps_start_and_fires_only_after_confirmation() -> None:
    """A restored pending `for` does not fire by timer alone; the first true evaluation
    after the deadline fires it, with the persisted pending_since."""
    store = MemoryStore()
    rules = [rule(when={"field": "last", "above": 1}, for_=60)]
    h = Harness(rules, store=store)
    h.feed(ev(0, last=2))
    h.engine.flush()
    h2 = restart(rules, store, 30)
    assert h2.at(100) == []
    out = h2.engine.process(ev(110, last=2))
    assert [(a.reason, a.starts_at - T0, a.pending_since) for a in out] == [
        ("first", 110, T0)]


def test_pending_for_confirmed_before_deadline_fires_at_original_time() -> None:
    """Confirmed before its deadline, a restored pending fires at pending_since + for."""
    store = MemoryStore()
    rules = [rule(when={"field": "last", "above": 1}, for_=60)]
    h = Harness(rules, store=store)
    h.feed(ev(0, last=2))
    h.engine.flush()
    h2 = restart(rules, store, 30)
    assert h2.feed(ev(40, last=3)) == []
    assert h2.at(60) == [(*FIRST, 1, 60, None)]


def test_pending_for_refuted_after_restart_is_cancelled() -> None:
    """A restored pending whose first new evaluation is false goes back to inactive."""
    store = MemoryStore()
    rules = [rule(when={"field": "last", "above": 1}, for_=60)]
    h = Harness(rules, store=store)
    h.feed(ev(0, last=2))
    h.engine.flush()
    h2 = restart(rules, store, 30)
    assert h2.feed(ev(40, last=0)) == []
    assert h2.at(1000) == []


def test_absent_for_rearmed_from_startup_not_last_seen() -> None:
    """After a restart absent_for counts the full duration from start-up."""
    store = MemoryStore()
    rules = [rule(source="chia", event="signage_point", absent_for=60)]
    h = Harness(rules, store=store)
    h.feed(ev(0, "signage_point", "chia"))
    h.engine.flush()
    h2 = restart(rules, store, 50)
    assert h2.at(109) == []
    assert h2.at(110) == [(*FIRST, 1, 110, None)]


def test_event_mode_dedup_remembered_across_restart() -> None:
    """An event-mode key emitted before a restart is not emitted again in the window."""
    store = MemoryStore()
    rules = [rule(source="kakitu", event="confirmation", mode="event",
                  dedup_key="{{ send_hash }}", dedup_window=100)]
    h = Harness(rules, store=store)
    assert len(h.feed(ev(0, "confirmation", "kakitu", send_hash="h"))) == 1
    h.engine.flush()
    h2 = restart(rules, store, 10)
    assert h2.feed(ev(20, "confirmation", "kakitu", send_hash="h")) == []
    assert len(h2.feed(ev(120, "confirmation", "kakitu", send_hash="h"))) == 1


def test_crossing_must_be_rearmed_after_restart() -> None:
    """An armed-but-inactive crosses rule starts unarmed after a restart."""
    store = MemoryStore()
    rules = [rule(group_by=["symbol"], when={"field": "last", "crosses_above": 10})]
    h = Harness(rules, store=store)
    h.feed(ev(0, symbol="A", last=5))
    h.engine.flush()
    h2 = restart(rules, store, 10)
    assert h2.feed(ev(11, symbol="A", last=15)) == []
    assert len(h2.feed(ev(12, symbol="A", last=5), ev(13, symbol="A", last=15))) == 1


def test_fast_rule_restored_firing_resolves_on_first_sample_below() -> None:
    """Single-threshold (indexed) rules restore too: no refire, resolve when it clears."""
    store = MemoryStore()
    rules = [rule(where={"symbol": "A"}, when={"field": "last", "crosses_above": 10})]
    h = Harness(rules, store=store)
    assert len(h.feed(ev(0, symbol="A", last=5), ev(1, symbol="A", last=15))) == 1
    h.engine.flush()
    h2 = restart(rules, store, 10)
    assert h2.feed(ev(11, symbol="A", last=16)) == []
    assert h2.feed(ev(12, symbol="A", last=9)) == [(*RESOLVED, 1, 1, 12)]


def test_instances_of_removed_rules_are_deleted_on_start() -> None:
    """A persisted instance whose rule no longer exists is dropped from the store."""
    store = MemoryStore()
    h = Harness([rule(id="gone", when={"field": "last", "above": 1})], store=store)
    h.feed(ev(0, last=2))
    h.engine.flush()
    h2 = restart([rule(when={"field": "last", "above": 1})], store, 10)
    h2.engine.flush()
    assert store.rows == {}


def test_keep_firing_for_deadline_survives_restart() -> None:
    """A running keep_firing_for resolves at its original deadline after a restart."""
    store = MemoryStore()
    rules = [rule(when={"field": "last", "above": 1}, keep_firing_for=60)]
    h = Harness(rules, store=store)
    h.feed(ev(0, last=2), ev(10, last=0))
    h.engine.flush()
    h2 = restart(rules, store, 20)
    assert h2.at(69) == []
    assert h2.at(70) == [(*RESOLVED, 1, 0, 70)]
