"""RulesBot: the shipped example rules of one source kind on the engine + a dry-run
pipeline, with time that moves only when a test says so (for tests/sources/*_rules.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alertbot.engine import Engine
from alertbot.loader import load
from alertbot.model import Alert, Event, Notification
from alertbot.pipeline import build_pipeline
from tests.fakes.clock import FakeClock

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertbot.yaml"


class RulesBot:
    def __init__(self, clock: FakeClock, source: str) -> None:
        loaded = load(CONFIG)
        rules = [r for r in loaded.rules if r.source == source]
        self.source = source
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
            self._take(self.engine.process(Event(self.source, etype, self.clock.now(), data)))

    def of(self, rule: str, status: str = "firing") -> list[Alert]:
        return [a for a in self.alerts if a.rule == rule and a.status == status]

    def fired(self, rule: str, status: str = "firing") -> list[float]:
        """Seconds after t0 at which `rule` fired (or resolved)."""
        return [a.starts_at - self.t0 if status == "firing" else (a.ends_at or 0) - self.t0
                for a in self.of(rule, status)]

    def delivered(self, rule: str) -> list[str]:
        return [n.alert.status for n in self.notes if n.alert.rule == rule]
