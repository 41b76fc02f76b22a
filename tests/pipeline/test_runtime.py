"""Runtime tests with a scripted engine: timer interleaving, hook, start-up restore."""

from __future__ import annotations

from collections.abc import Sequence

from alertbot.model import Alert, Event, Notification
from alertbot.runtime import Runtime
from alertbot.timers import TimerHeap
from tests.fakes.clock import FakeClock
from tests.pipeline.helpers import T0, alert, pipeline, resolved


class ScriptedEngine:
    """Emits preset alerts at preset deadlines; records what it was asked."""

    def __init__(self, timers: dict[float, list[Alert]], firing: list[Alert] | None = None
                 ) -> None:
        self.script = dict(timers)
        self.timers = TimerHeap()   # the runtime's hot path reads its horizon
        for when in timers:
            self.timers.schedule(when, when)
        self._firing = firing or []
        self.calls: list[tuple[str, float]] = []
        self.flushed = 0

    def start(self) -> list[Alert]:
        return []

    def process(self, event: Event) -> list[Alert]:
        self.calls.append(("process", event.time))
        return list(event.data.get("alerts", []))

    def advance(self, now: float) -> list[Alert]:
        self.calls.append(("advance", now))
        list(self.timers.pop_due(now))
        due = [t for t in self.script if t <= now]
        return [a for t in sorted(due) for a in self.script.pop(t)]

    def next_deadline(self) -> float | None:
        return min(self.script) if self.script else None

    def firing(self) -> list[Alert]:
        return self._firing

    def flush(self) -> None:
        self.flushed += 1


def test_timers_fire_in_order_before_the_event() -> None:
    """Engine and pipeline timers up to the event's time fire in deadline order first."""
    a = alert(repeat=10)
    engine = ScriptedEngine({T0 + 25: [resolved(a)]})
    batches: list[Sequence[Notification]] = []
    rt = Runtime(engine, pipeline(), clock=FakeClock(T0), on_notifications=batches.append)
    rt.feed(Event("kraken", "ticker", T0, {"alerts": [a]}))
    assert rt.next_deadline() == T0 + 10
    out = rt.feed(Event("kraken", "ticker", T0 + 30, {}))
    assert [(n.alert.reason, n.created_at) for n in out] == [
        ("repeat", T0 + 10), ("repeat", T0 + 20), ("resolved", T0 + 25)]
    assert engine.calls[-2:] == [("advance", T0 + 25), ("process", T0 + 30)]
    assert [len(b) for b in batches] == [1, 1, 1, 1]


def test_advance_stops_at_now() -> None:
    """advance(now) leaves later timers alone."""
    engine = ScriptedEngine({T0 + 5: [alert()], T0 + 50: [alert("late")]})
    rt = Runtime(engine, pipeline(), clock=FakeClock(T0))
    assert [n.alert.rule for n in rt.advance(T0 + 10)] == ["r"]
    assert rt.next_deadline() == T0 + 50


def test_start_restores_firing_and_flush_reaches_engine() -> None:
    """start() hands the engine's firing instances to the pipeline; flush() persists."""
    engine = ScriptedEngine({}, firing=[alert()])
    rt = Runtime(engine, pipeline(), clock=FakeClock(T0))
    rt.start()
    assert [n.alert.reason for n in rt.advance(T0)] == ["first"]
    rt.flush()
    assert engine.flushed == 1


def test_feed_many_matches_feed_and_skips_only_a_failing_event() -> None:
    """A batch through feed_many notifies like event-by-event feed; an event whose
    evaluation raises is handed to on_error and the rest of the batch carries on."""
    a = alert(repeat=10)
    batches: list[Sequence[Notification]] = []
    engine = ScriptedEngine({T0 + 25: [resolved(a)]})
    rt = Runtime(engine, pipeline(), clock=FakeClock(T0), on_notifications=batches.append)
    failed: list[Event] = []
    bad = Event("kraken", "ticker", T0 + 1, {"alerts": [object()]})   # not an Alert
    rt.feed_many([Event("kraken", "ticker", T0, {"alerts": [a]}), bad,
                  Event("kraken", "ticker", T0 + 30, {})], failed.append)
    assert failed == [bad]
    assert [n.alert.reason for b in batches for n in b] == [
        "first", "repeat", "repeat", "resolved"]
