"""Hot reload: Engine.swap keeps state while Rule.state_key() is unchanged."""

from __future__ import annotations

from tests.engine.conftest import Harness, ev, rule

FIRST = ("r", "firing", "first")


def test_pending_for_still_fires_at_original_time_after_swap() -> None:
    """Changing the message keeps the pending instance and its deadline."""
    h = Harness([rule(when={"field": "last", "above": 1}, for_=60)])
    h.feed(ev(0, last=2))
    assert h.engine.swap([rule(when={"field": "last", "above": 1}, for_=60,
                               message="new {{ last }}")]) == []
    out = h.engine.advance(h.clock.now() + 60)
    assert [a.text for a in out] == ["new 2"]


def test_half_full_count_window_stays_half_full() -> None:
    """A count window keeps its samples across a reload."""
    spec = {"at_least": 3, "within": 60}
    h = Harness([rule(event="trade", count=spec)])
    h.feed(ev(0, "trade"), ev(1, "trade"))
    h.engine.swap([rule(event="trade", count=spec, severity="critical")])
    assert h.feed(ev(2, "trade")) == [(*FIRST, 1, 2, None)]


def test_removed_rule_drops_its_instances_silently() -> None:
    """A rule removed by a reload emits nothing and is gone from firing()."""
    h = Harness([rule(when={"field": "last", "above": 1})])
    h.feed(ev(0, last=2))
    assert h.engine.swap([]) == []
    assert h.engine.firing() == []
    assert h.feed(ev(1, last=0)) == []


def test_changed_group_by_starts_fresh() -> None:
    """A changed state_key (group_by) drops the old instances; new ones start over."""
    h = Harness([rule(when={"field": "last", "above": 1})])
    h.feed(ev(0, last=2))
    h.engine.swap([rule(group_by=["symbol"], when={"field": "last", "above": 1})])
    assert h.engine.firing() == []
    assert h.feed(ev(1, symbol="A", last=2)) == [(*FIRST, 1, 1, None)]


def test_indexed_threshold_rules_keep_edge_state_and_see_new_rules() -> None:
    """After a reload an armed crossing stays armed and an added level rule fires."""
    h = Harness([rule(id="x", where={"symbol": "A"},
                      when={"field": "last", "crosses_above": 10})])
    h.feed(ev(0, symbol="A", last=5))
    h.engine.swap([rule(id="x", where={"symbol": "A"},
                        when={"field": "last", "crosses_above": 10}),
                   rule(id="y", where={"symbol": "A"}, when={"field": "last", "above": 3})])
    out = h.feed(ev(1, symbol="A", last=4))
    assert [a[0] for a in out] == ["y"]
    assert [a[0] for a in h.feed(ev(2, symbol="A", last=11))] == ["x"]


def test_timers_of_a_dropped_clause_do_not_fire_after_swap() -> None:
    """Removing absent_for by a reload (same state_key) disarms its timer."""
    h = Harness([rule(source="chia", event="signage_point", absent_for=60)])
    h.engine.swap([rule(source="chia", event="signage_point",
                        when={"field": "x", "above": 1})])
    assert h.at(1000) == []
