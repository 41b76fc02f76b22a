"""Pipeline tests on hand-made alerts: routing, dedup, reminders, silences, inhibition."""

from __future__ import annotations

from alertbot.model import Severity
from alertbot.store import Silence, SQLiteStore
from tests.pipeline.helpers import T0, alert, pipeline, resolved, rule, summary


def test_first_then_resolved() -> None:
    """A firing alert notifies once as first, its resolve once as resolved."""
    p = pipeline()
    a = alert()
    assert summary(p.submit([a], T0)) == [("r", "first", "console", T0)]
    assert p.submit([a], T0 + 1) == []
    assert summary(p.submit([resolved(a)], T0 + 2)) == [("r", "resolved", "console",
                                                         T0 + 2)]
    assert p.submit([resolved(a)], T0 + 3) == []


def test_new_episode_notifies_first_again() -> None:
    """A new episode of the same fingerprint is a new `first`."""
    p = pipeline()
    a = alert()
    p.submit([a], T0)
    p.submit([resolved(a)], T0 + 1)
    second = alert(episode=2)
    assert summary(p.submit([second], T0 + 2)) == [("r", "first", "console", T0 + 2)]


def test_min_severity_and_send_resolved_route() -> None:
    """min_severity filters notifiers; send_resolved=false drops the resolve."""
    p = pipeline()
    warn = alert("w", notify=("console", "pager", "quiet"))
    crit = alert("c", notify=("pager", "quiet"), severity=Severity.critical)
    notes = p.submit([warn, crit], T0)
    assert {(n.alert.rule, n.notifier) for n in notes} == {
        ("w", "console"), ("w", "quiet"), ("c", "pager"), ("c", "quiet")}
    notes = p.submit([resolved(crit)], T0 + 1)
    assert [n.notifier for n in notes] == ["pager"]


def test_repeat_reminders_until_resolved() -> None:
    """Reminders come at last_sent + repeat while firing, and stop after resolve."""
    p = pipeline()
    a = alert(repeat=60)
    p.submit([a], T0)
    assert p.next_deadline() == T0 + 60
    assert summary(p.advance(T0 + 130)) == [("r", "repeat", "console", T0 + 60),
                                            ("r", "repeat", "console", T0 + 120)]
    p.submit([resolved(a)], T0 + 150)
    assert p.advance(T0 + 1000) == []


def test_ack_stops_reminders() -> None:
    """ack() stops reminders of the current episode."""
    p = pipeline()
    a = alert(repeat=60)
    p.submit([a], T0)
    assert p.ack(a.fingerprint)
    assert p.advance(T0 + 500) == []


def test_silenced_firing_sends_no_resolved() -> None:
    """An alert silenced while firing gets no resolved notice."""
    store = SQLiteStore(":memory:")
    store.silence_add(Silence("s", {"rule": "r"}, T0 - 1, T0 + 100))
    p = pipeline(store=store)
    a = alert()
    assert p.submit([a], T0) == []
    assert p.submit([resolved(a)], T0 + 5) == []


def test_resolved_after_delivered_firing_even_if_silenced() -> None:
    """Once the firing was delivered, the resolve goes out through a silence."""
    store = SQLiteStore(":memory:")
    p = pipeline(store=store)
    a = alert(repeat=30)
    p.submit([a], T0)
    store.silence_add(Silence("s", {"rule": "~r.*"}, T0 + 1, T0 + 100))
    p.stages.silence.reload(T0 + 2)
    assert p.advance(T0 + 31) == []        # the reminder is silenced
    assert summary(p.submit([resolved(a)], T0 + 40)) == [("r", "resolved", "console",
                                                          T0 + 40)]


def test_silence_end_releases_after_grace_only_if_still_firing() -> None:
    """What a silence held back is notified inhibit_grace after it ends, if still firing."""
    store = SQLiteStore(":memory:")
    store.silence_add(Silence("s", {"rule": "r"}, T0 - 1, T0 + 100))
    p = pipeline(store=store)
    a, b = alert(), alert("r", fp="other")
    p.submit([a, b], T0)
    assert p.next_deadline() == T0 + 110
    p.submit([resolved(b)], T0 + 105)
    assert summary(p.advance(T0 + 200)) == [("r", "first", "console", T0 + 110)]


def test_inhibit_with_equal_and_grace() -> None:
    """An inhibitor mutes targets sharing `equal` labels; release waits inhibit_grace."""
    rules = (rule("down", inhibits={"rules": ["stale"], "equal": ["node"]}), rule("stale"))
    p = pipeline(rules=rules)
    down = alert("down", labels={"node": "a"})
    stale_a = alert("stale", fp="sa", labels={"node": "a"})
    stale_b = alert("stale", fp="sb", labels={"node": "b"})
    notes = p.submit([down, stale_a, stale_b], T0)
    assert {(n.alert.rule, n.alert.fingerprint) for n in notes} == {
        ("down", "fp-down"), ("stale", "sb")}
    p.submit([resolved(down)], T0 + 20)
    assert p.next_deadline() == T0 + 30
    assert summary(p.advance(T0 + 30)) == [("stale", "first", "console", T0 + 30)]


def test_inhibited_target_resolving_within_grace_stays_quiet() -> None:
    """A held target that resolves during the grace period never notifies."""
    rules = (rule("down", inhibits=["stale"]), rule("stale"))
    p = pipeline(rules=rules)
    down, stale = alert("down"), alert("stale")
    p.submit([down, stale], T0)
    p.submit([resolved(down)], T0 + 1)
    assert p.submit([resolved(stale)], T0 + 5) == []
    assert p.advance(T0 + 100) == []


def test_static_cron_silence_window() -> None:
    """A config cron mute window silences alerts only inside the window."""
    p = pipeline(silences=[{"matchers": {"rule": "r"}, "cron": "0 * * * *",
                            "duration": "10m"}])
    hour = 3600 * ((int(T0) // 3600) + 1)
    assert p.submit([alert(fp="in")], hour + 60) == []
    assert len(p.submit([alert(fp="out")], hour + 700)) == 1


def test_notify_log_survives_restart_and_dry_run_writes_nothing() -> None:
    """Dedup holds across pipelines sharing a store; a dry run leaves no trace."""
    store = SQLiteStore(":memory:")
    a = alert(repeat=60)
    dry = pipeline(store=store, dry_run=True)
    assert len(dry.submit([a], T0)) == 1
    assert store.outbox_list() == [] and store.last_notified(a.fingerprint, 1,
                                                             "console") is None
    live = pipeline(store=store)
    assert len(live.submit([a], T0)) == 1
    assert len(store.outbox_list()) == 1
    restarted = pipeline(store=store)
    restarted.restore([a], T0 + 10)
    assert restarted.submit([a], T0 + 10) == []
    assert summary(restarted.advance(T0 + 60)) == [("r", "repeat", "console", T0 + 60)]


def test_restore_notifies_firing_never_logged() -> None:
    """After a restart, a firing alert absent from the notify log is notified once."""
    store = SQLiteStore(":memory:")
    p = pipeline(store=store)
    p.restore([alert()], T0)
    assert summary(p.advance(T0)) == [("r", "first", "console", T0)]
    assert p.advance(T0 + 100) == []


def test_event_mode_dedup_window() -> None:
    """Event alerts notify once per fingerprint within the dedup window."""
    p = pipeline(defaults={"dedup_window": 100})
    e = alert("pay", reason="event", fp="k1")
    assert len(p.submit([e], T0)) == 1
    assert p.submit([e], T0 + 50) == []
    assert len(p.submit([e], T0 + 150)) == 1


def test_swap_rules_keeps_firing_inhibitors() -> None:
    """After a reload an inhibitor that is still an inhibitor keeps muting its targets."""
    rules = (rule("down", inhibits=["stale"]), rule("stale"))
    p = pipeline(rules=rules)
    p.submit([alert("down")], T0)
    p.swap_rules(rules, {})
    assert p.submit([alert("stale")], T0 + 1) == []
    p.swap_rules((rule("down"), rule("stale")), {})
    assert len(p.submit([alert("stale", fp="other")], T0 + 2)) == 1


def test_event_dedup_memory_is_pruned() -> None:
    """Event-mode dedup entries older than the longest window are dropped."""
    p = pipeline(defaults={"dedup_window": 100})
    p.submit([alert("pay", reason="event", fp="k1")], T0)
    p.advance(T0 + 500)
    assert p.stages.dedup._log == {}
