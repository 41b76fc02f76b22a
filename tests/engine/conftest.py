"""Engine test helpers: rule/event builders and a minimal in-memory StateStore fake."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.metrics import RecordingMetrics
from alertbot.model import Alert, Event
from alertbot.settings import Defaults
from alertbot.store import InstanceRecord
from tests.fakes.clock import FakeClock

T0 = 1_000_000.0


def rule(**kw: Any) -> Rule:
    """A rule on kraken/ticker unless told otherwise."""
    body = {"id": "r", "source": "kraken", "event": "ticker", **kw}
    if "for_" in body:
        body["for"] = body.pop("for_")
    return Rule.model_validate(body)


def ev(t: float, etype: str = "ticker", source: str = "kraken", **data: Any) -> Event:
    """An event at T0 + t."""
    return Event(source, etype, T0 + t, data)


def brief(alerts: Iterable[Alert]) -> list[tuple[Any, ...]]:
    """(rule, status, reason, episode, starts_at, ends_at) relative to T0."""
    return [(a.rule, a.status, a.reason, a.episode, a.starts_at - T0,
             None if a.ends_at is None else a.ends_at - T0) for a in alerts]


class MemoryStore:
    """Just the instance half of StateStore, in memory, counting batches."""

    def __init__(self) -> None:
        self.rows: dict[str, InstanceRecord] = {}
        self.batches = 0

    def load_instances(self) -> list[InstanceRecord]:
        return list(self.rows.values())

    def save_instances(self, changed: Iterable[InstanceRecord],
                       deleted: Iterable[str] = ()) -> None:
        self.batches += 1
        for rec in changed:
            self.rows[rec.fingerprint] = rec
        for fp in deleted:
            self.rows.pop(fp, None)


class Harness:
    """An Engine on a FakeClock at T0 with RecordingMetrics."""

    def __init__(self, rules: list[Rule], store: MemoryStore | None = None,
                 defaults: Defaults | None = None) -> None:
        self.clock = FakeClock(T0)
        self.metrics = RecordingMetrics()
        self.store = store
        self.engine = Engine(rules, clock=self.clock, defaults=defaults,
                             store=store, metrics=self.metrics)  # type: ignore[arg-type]
        self.started = self.engine.start()

    def feed(self, *events: Event) -> list[tuple[Any, ...]]:
        out: list[Alert] = []
        for e in events:
            out.extend(self.engine.process(e))
        return brief(out)

    def at(self, t: float) -> list[tuple[Any, ...]]:
        return brief(self.engine.advance(T0 + t))


@pytest.fixture
def make() -> type[Harness]:
    return Harness
