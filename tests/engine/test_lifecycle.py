"""One focused test per DESIGN §2.6 clause, driving the Engine with explicit times."""

from __future__ import annotations

from alertbot.model import Severity
from alertbot.settings import Defaults
from tests.engine.conftest import T0, Harness, ev, rule

FIRST = ("r", "firing", "first")
RESOLVED = ("r", "resolved", "resolved")


def test_above_fires_on_first_sample_and_resolves_at_or_below() -> None:
    """`above` is a level: the first sample over L fires; a sample == L resolves."""
    h = Harness([rule(when={"field": "last", "above": 100})])
    assert h.feed(ev(1, last=101)) == [(*FIRST, 1, 1, None)]
    assert h.feed(ev(2, last=102)) == []
    assert h.feed(ev(3, last=100)) == [(*RESOLVED, 1, 1, 3)]


def test_below_mirrors_above() -> None:
    """`below` fires on value < L, resolves at >= L."""
    h = Harness([rule(when={"field": "last", "below": 10})])
    assert h.feed(ev(1, last=10), ev(2, last=9.5)) == [(*FIRST, 1, 2, None)]
    assert h.feed(ev(3, last=10)) == [(*RESOLVED, 1, 2, 3)]


def test_crosses_above_first_sample_only_arms() -> None:
    """A first sample already above L does not fire; it needs a sample <= L first."""
    h = Harness([rule(when={"field": "last", "crosses_above": 100})])
    assert h.feed(ev(1, last=150), ev(2, last=160)) == []
    assert h.feed(ev(3, last=100)) == []
    assert h.feed(ev(4, last=101)) == [(*FIRST, 1, 4, None)]
    assert h.feed(ev(5, last=100)) == [(*RESOLVED, 1, 4, 5)]


def test_crosses_below_mirrors_crosses_above() -> None:
    """crosses_below arms on a sample >= L and fires on the next one below L."""
    h = Harness([rule(when={"field": "last", "crosses_below": 50})])
    assert h.feed(ev(1, last=40)) == []
    assert h.feed(ev(2, last=55), ev(3, last=45)) == [(*FIRST, 1, 3, None)]
    assert h.feed(ev(4, last=50)) == [(*RESOLVED, 1, 3, 4)]


def test_hysteresis_clear_below() -> None:
    """With clear_below C the instance leaves firing only when value < C."""
    h = Harness([rule(when={"field": "last", "above": 100, "clear_below": 90})])
    assert h.feed(ev(1, last=101)) == [(*FIRST, 1, 1, None)]
    assert h.feed(ev(2, last=95), ev(3, last=90)) == []
    assert h.feed(ev(4, last=89)) == [(*RESOLVED, 1, 1, 4)]
    assert h.feed(ev(5, last=95)) == []  # below L: not re-entered


def test_hysteresis_clear_above_on_crosses_below() -> None:
    """crosses_below with clear_above leaves only when value > C."""
    h = Harness([rule(when={"field": "last", "crosses_below": 10, "clear_above": 12})])
    assert h.feed(ev(1, last=11), ev(2, last=9)) == [(*FIRST, 1, 2, None)]
    assert h.feed(ev(3, last=11.5), ev(4, last=12)) == []
    assert h.feed(ev(5, last=12.5)) == [(*RESOLVED, 1, 2, 5)]


def test_for_fires_after_holding_and_carries_pending_since() -> None:
    """`for` fires by timer at pending_since + for; starts_at is the firing time."""
    h = Harness([rule(when={"field": "last", "above": 1}, for_="30s")])
    assert h.feed(ev(0, last=2), ev(10, last=3)) == []
    assert h.engine.next_deadline() == T0 + 30
    out = h.engine.advance(T0 + 40)
    assert [(a.reason, a.starts_at - T0, a.pending_since) for a in out] == [
        ("first", 30, T0)]


def test_for_reset_when_condition_breaks() -> None:
    """A break during pending cancels it; holding restarts from the next true sample."""
    h = Harness([rule(when={"field": "last", "above": 1}, for_=30)])
    h.feed(ev(0, last=2), ev(20, last=0), ev(25, last=2))
    assert h.at(50) == []
    assert h.at(55) == [(*FIRST, 1, 55, None)]


def test_timers_due_fire_before_the_event_is_evaluated() -> None:
    """process(): a `for` due at or before the event's time fires first, at its deadline."""
    h = Harness([rule(when={"field": "last", "above": 1}, for_=30)])
    h.feed(ev(0, last=2))
    assert h.feed(ev(30, last=0)) == [(*FIRST, 1, 30, None), (*RESOLVED, 1, 30, 30)]


def test_keep_firing_for_bridges_a_flap() -> None:
    """keep_firing_for keeps firing through a brief clear and resolves by timer."""
    h = Harness([rule(when={"field": "last", "above": 1}, keep_firing_for=60)])
    assert h.feed(ev(0, last=2)) == [(*FIRST, 1, 0, None)]
    assert h.feed(ev(10, last=0), ev(20, last=2), ev(30, last=0)) == []
    assert h.at(89) == []
    assert h.at(90) == [(*RESOLVED, 1, 0, 90)]


def test_change_pct_needs_reference_and_uses_latest_sample_before_window() -> None:
    """Reference = latest sample at or before t − over; nothing until one exists."""
    h = Harness([rule(when={"field": "last", "change_pct": {"over": 60, "above": 3}})])
    assert h.feed(ev(0, last=100), ev(30, last=110)) == []  # no reference yet
    assert h.feed(ev(45, last=100)) == []
    # at t=75 reference = sample at 0 (100) → +4 % fires
    assert h.feed(ev(75, last=104)) == [(*FIRST, 1, 75, None)]
    # at t=100 reference = sample at 30 (110) → −5.45 %: resolves
    assert h.feed(ev(100, last=104)) == [(*RESOLVED, 1, 75, 100)]


def test_change_pct_signed_below() -> None:
    """`below: -3` means fell by 3 % or more."""
    h = Harness([rule(when={"field": "last", "change_pct": {"over": 10, "below": -3}})])
    assert h.feed(ev(0, last=100), ev(10, last=98)) == []
    assert h.feed(ev(20, last=94)) == [(*FIRST, 1, 20, None)]


def test_change_absolute() -> None:
    """`change` compares absolute differences with the reference."""
    h = Harness([rule(when={"field": "last", "change": {"over": 10, "above": 500}})])
    assert h.feed(ev(0, last=1000), ev(10, last=1400)) == []
    assert h.feed(ev(20, last=1950)) == [(*FIRST, 1, 20, None)]


def test_changed_differs_from_previous() -> None:
    """changed: true holds when the value differs from the previous sample."""
    h = Harness([rule(when={"field": "system", "changed": True}, event="status")])
    assert h.feed(ev(0, "status", system="online")) == []
    assert h.feed(ev(1, "status", system="maintenance")) == [(*FIRST, 1, 1, None)]
    assert h.feed(ev(2, "status", system="maintenance")) == [(*RESOLVED, 1, 1, 2)]


def test_equals_in_not_equals() -> None:
    """equals / in / not_equals compare the field with literals."""
    h = Harness([rule(id="eq", event="status", when={"field": "system", "equals": "maintenance"}),
                 rule(id="in", event="status", when={"field": "system",
                                                     "in": ["cancel_only", "post_only"]}),
                 rule(id="ne", event="status", when={"field": "system", "not_equals": "online"})])
    got = h.feed(ev(0, "status", system="post_only"))
    assert sorted(a[0] for a in got) == ["in", "ne"]
    got = h.feed(ev(1, "status", system="maintenance"))
    assert sorted((a[0], a[1]) for a in got) == [("eq", "firing"), ("in", "resolved")]


def test_expression_when() -> None:
    """A Jinja2 expression over event fields is a condition."""
    h = Harness([rule(event="book", when="spread > 5 and checksum_ok")])
    assert h.feed(ev(0, "book", spread=6, checksum_ok=False)) == []
    assert h.feed(ev(1, "book", spread=6, checksum_ok=True)) == [(*FIRST, 1, 1, None)]
    assert h.feed(ev(2, "book", spread=4, checksum_ok=True)) == [(*RESOLVED, 1, 1, 2)]


def test_all_any_not() -> None:
    """all/any/not combine conditions."""
    when = {"all": [{"field": "last", "above": 10},
                    {"any": [{"field": "volume", "above": 100}, "bid > 50"]},
                    {"not": {"field": "symbol", "equals": "X"}}]}
    h = Harness([rule(when=when)])
    assert h.feed(ev(0, symbol="Y", last=11, volume=1, bid=1)) == []
    assert h.feed(ev(1, symbol="Y", last=11, volume=1, bid=51)) == [(*FIRST, 1, 1, None)]
    assert h.feed(ev(2, symbol="X", last=11, volume=1, bid=51)) == [(*RESOLVED, 1, 1, 2)]


def test_where_list_means_in_and_group_by_picks_instances() -> None:
    """where [a, b] filters; group_by makes one instance (and fingerprint) per value."""
    h = Harness([rule(where={"symbol": ["A", "B"]}, group_by=["symbol"],
                      when={"field": "last", "above": 1})])
    assert h.feed(ev(0, symbol="C", last=5)) == []
    out = h.engine.process(ev(1, symbol="A", last=5)) + h.engine.process(
        ev(2, symbol="B", last=5))
    assert [a.labels["symbol"] for a in out] == ["A", "B"]
    assert len({a.fingerprint for a in out}) == 2


def test_event_lacking_group_by_field_is_skipped_and_counted() -> None:
    """No group_by field → no instance, and a metric says so."""
    h = Harness([rule(group_by=["symbol"], when={"field": "last", "above": 1})])
    assert h.feed(ev(0, last=5)) == []
    assert h.metrics.count("engine_events_skipped_total", rule="r") == 1


def test_count_fires_at_n_and_resolves_by_timer() -> None:
    """count: ≥ N events in (t − within, t] fires; resolves when the count drops."""
    h = Harness([rule(event="trade", when={"field": "qty", "above": 10},
                      count={"at_least": 3, "within": 60})])
    assert h.feed(ev(0, "trade", qty=11), ev(10, "trade", qty=1),
                  ev(20, "trade", qty=12)) == []
    assert h.feed(ev(30, "trade", qty=13)) == [(*FIRST, 1, 30, None)]
    assert h.feed(ev(50, "trade", qty=14)) == []  # counted: 0, 20, 30, 50
    assert h.at(79) == []  # (19, 79] still holds 20, 30, 50
    assert h.at(80) == [(*RESOLVED, 1, 30, 80)]  # (20, 80] holds only 30, 50


def test_absent_for_armed_at_start() -> None:
    """absent_for fires after the full duration from start when nothing arrives."""
    h = Harness([rule(source="chia", event="signage_point", absent_for=60)])
    assert h.at(59) == []
    assert h.at(60) == [(*FIRST, 1, 60, None)]
    assert h.feed(ev(70, "signage_point", "chia")) == [(*RESOLVED, 1, 60, 70)]


def test_absent_for_after_a_gap() -> None:
    """Each matching event re-arms the timer; a gap of absent_for fires once."""
    h = Harness([rule(source="chia", event="signage_point", absent_for=60)])
    assert h.feed(ev(10, "signage_point", "chia"), ev(50, "signage_point", "chia")) == []
    assert h.at(109) == []
    assert h.at(200) == [(*FIRST, 1, 110, None)]
    assert h.feed(ev(210, "signage_point", "chia")) == [(*RESOLVED, 1, 110, 210)]
    assert h.at(270) == [(*FIRST, 2, 270, None)]


def test_unchanged_for_restarts_only_on_change() -> None:
    """unchanged_for fires when the field keeps its value; resolves when it changes."""
    h = Harness([rule(source="chia", event="blockchain_state",
                      unchanged_for={"field": "peak_height", "duration": 60})])
    e = "blockchain_state"
    assert h.feed(ev(0, e, "chia", peak_height=1), ev(30, e, "chia", peak_height=1),
                  ev(59, e, "chia", peak_height=1)) == []
    assert h.at(60) == [(*FIRST, 1, 60, None)]
    assert h.feed(ev(70, e, "chia", peak_height=2)) == [(*RESOLVED, 1, 60, 70)]
    assert h.at(129) == []
    assert h.at(130) == [(*FIRST, 2, 130, None)]


def test_new_episode_after_resolve() -> None:
    """Each start of firing increments the episode of the fingerprint."""
    h = Harness([rule(when={"field": "last", "above": 1})])
    out = [a for t, v in enumerate([2, 0, 2, 0, 2]) for a in h.engine.process(ev(t, last=v))]
    assert [(a.status, a.episode) for a in out] == [
        ("firing", 1), ("resolved", 1), ("firing", 2), ("resolved", 2), ("firing", 3)]
    assert len({a.fingerprint for a in out}) == 1


def test_max_instances_refuses_new_ones() -> None:
    """Beyond max_instances new instances are refused and counted."""
    h = Harness([rule(group_by=["symbol"], max_instances=2, when={"field": "last", "above": 1})])
    out = h.feed(*(ev(i, symbol=s, last=5) for i, s in enumerate("ABC")))
    assert len(out) == 2
    assert h.metrics.count("engine_instances_refused_total", rule="r") == 1


def test_resolved_instances_are_forgotten_after_forget_after() -> None:
    """After forget_after a resolved instance is dropped from memory and the store."""
    from tests.engine.conftest import MemoryStore

    store = MemoryStore()
    h = Harness([rule(when={"field": "last", "above": 1})], store=store,
                defaults=Defaults(forget_after=100))
    h.feed(ev(0, last=2), ev(1, last=0))
    h.engine.flush()
    assert len(store.rows) == 1
    h.at(101)
    h.engine.flush()
    assert store.rows == {}


def test_resolve_false_sends_no_resolved_alert() -> None:
    """resolve: false → the instance resolves silently; Alert.send_resolved is False."""
    h = Harness([rule(when={"field": "last", "above": 1}, resolve=False)])
    out = h.engine.process(ev(0, last=2))
    assert out[0].send_resolved is False
    assert h.feed(ev(1, last=0)) == []
    assert h.feed(ev(2, last=2)) == [(*FIRST, 2, 2, None)]


def test_event_mode_dedup_key_and_window() -> None:
    """Event mode: one Alert per rendered dedup_key within dedup_window."""
    h = Harness([rule(source="kakitu", event="confirmation", mode="event",
                      when="amount >= 1", dedup_key="{{ send_hash }}", dedup_window=100)])
    e = "confirmation"
    out = [a for x in (ev(0, e, "kakitu", amount=2, send_hash="h1"),
                       ev(1, e, "kakitu", amount=2, send_hash="h1"),
                       ev(2, e, "kakitu", amount=0, send_hash="h2"),
                       ev(3, e, "kakitu", amount=5, send_hash="h2"),
                       ev(150, e, "kakitu", amount=2, send_hash="h1"))
           for a in h.engine.process(x)]
    assert [(a.status, a.reason, a.starts_at - T0, a.ends_at and a.ends_at - T0)
            for a in out] == [("firing", "event", 0, 0), ("firing", "event", 3, 3),
                              ("firing", "event", 150, 150)]
    assert out[0].fingerprint == out[2].fingerprint != out[1].fingerprint
    # a new episode each time, even after the entry was forgotten: the notify log
    # (fingerprint, episode, notifier) must not swallow it
    assert out[2].episode > out[0].episode


def test_event_mode_default_key_is_a_hash_of_the_data() -> None:
    """Without dedup_key identical data is one alert; different data another."""
    h = Harness([rule(event="trade", mode="event")])
    out = h.feed(ev(0, "trade", price=1), ev(1, "trade", price=1), ev(2, "trade", price=2))
    assert [a[4] for a in out] == [0, 2]


def test_alert_fields_labels_text_and_routing() -> None:
    """Labels = rule labels + rule/source/severity + group values; message rendered."""
    h = Harness([rule(group_by=["symbol"], labels={"team": "desk"}, severity="critical",
                      notify=["ops"], repeat="1h",
                      when={"field": "last", "above": 100},
                      message="{{ symbol }} {{ status }} at {{ value }} ({{ labels.team }})")])
    (a,) = h.engine.process(ev(0, symbol="BTC/USD", last=101))
    assert dict(a.labels) == {"team": "desk", "rule": "r", "source": "kraken",
                              "severity": "critical", "symbol": "BTC/USD"}
    assert a.text == "BTC/USD firing at 101 (desk)"
    assert (a.severity, a.notify, a.repeat, a.send_resolved) == (
        Severity.critical, ("ops",), 3600.0, True)
    assert a.event is not None and a.event.data["last"] == 101


def test_default_text_and_defaults_fallback() -> None:
    """No message → "<id>: <field> = <value>"; unset severity/notify/repeat use Defaults."""
    h = Harness([rule(when={"field": "last", "above": 1})],
                defaults=Defaults(notify=["team"], repeat=60, severity="info"))
    (a,) = h.engine.process(ev(0, last=2.5))
    assert (a.text, a.severity, a.notify, a.repeat) == ("r: last = 2.5", Severity.info,
                                                        ("team",), 60.0)


def test_firing_snapshot() -> None:
    """firing() lists firing instances as status firing / reason first."""
    h = Harness([rule(id="a", when={"field": "last", "above": 1}),
                 rule(id="b", when={"field": "last", "above": 10})])
    h.feed(ev(0, last=5))
    snap = h.engine.firing()
    assert [(a.rule, a.status, a.reason, a.starts_at) for a in snap] == [
        ("a", "firing", "first", T0)]


def test_max_instances_makes_room_by_forgetting_idle_inactive_ones() -> None:
    """A full rule evicts an instance that never fired and was idle for forget_after."""
    h = Harness([rule(group_by=["symbol"], max_instances=1,
                      when={"field": "last", "above": 1})],
                defaults=Defaults(forget_after=100))
    assert h.feed(ev(0, symbol="A", last=0)) == []
    assert h.feed(ev(50, symbol="B", last=5)) == []  # A idle for only 50 s: refused
    assert [a[1] for a in h.feed(ev(150, symbol="B", last=5))] == ["firing"]
    assert h.metrics.count("engine_instances_refused_total", rule="r") == 1


def test_malformed_values_are_not_evaluable_not_fatal() -> None:
    """A string where a number is expected leaves the state alone instead of raising."""
    h = Harness([rule(id="slow", group_by=["symbol"], when={"field": "last", "above": 1}),
                 rule(id="fast", where={"symbol": "A"}, when={"field": "last", "above": 1}),
                 rule(id="pct", when={"field": "last",
                                      "change_pct": {"over": 1, "above": 1}})])
    assert h.feed(ev(0, symbol="A", last="oops"), ev(1, symbol="A", last=None)) == []
    assert sorted(a[0] for a in h.feed(ev(2, symbol="A", last=2))) == ["fast", "slow"]


def test_absent_watch_survives_forget_after_shorter_than_absent_for() -> None:
    """Forgetting a resolved instance never stops an armed absent_for watch."""
    h = Harness([rule(source="chia", event="signage_point", absent_for=60)],
                defaults=Defaults(forget_after=10))
    assert h.at(60) == [(*FIRST, 1, 60, None)]
    assert h.feed(ev(61, "signage_point", "chia")) == [(*RESOLVED, 1, 60, 61)]
    assert h.at(121) == [(*FIRST, 2, 121, None)]


def test_process_starts_the_engine_on_first_use() -> None:
    """Without an explicit start(), the first process() arms absent_for from clock.now()."""
    from alertbot.engine import Engine
    from tests.fakes.clock import FakeClock

    engine = Engine([rule(source="chia", event="signage_point", absent_for=60)],
                    clock=FakeClock(T0))
    assert engine.process(ev(10, "other", "kraken")) == []
    assert engine.next_deadline() == T0 + 60
    assert engine.start() == []  # idempotent
    assert [a.reason for a in engine.advance(T0 + 60)] == ["first"]
