"""ChiaWatch: a ChiaSource under the real runner feeding a real Engine on the wall clock
(shared by the simulator tests and the real-daemon tests)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from alertbot.clock import SystemClock
from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.metrics import RecordingMetrics
from alertbot.model import Alert, Event
from alertbot.sources.chia import ChiaSettings, ChiaSource
from alertbot.sources.runner import EventContext, SourceRunner


class ChiaWatch:
    WAIT = 5.0     # default wait_for timeout, seconds

    def __init__(self, rules: list[dict[str, Any]], settings: dict[str, Any]) -> None:
        self.clock = SystemClock()
        self.engine = Engine([Rule.model_validate(r) for r in rules], clock=self.clock)
        self.events: list[Event] = []
        self.alerts: list[Alert] = []
        self.changed = asyncio.Event()
        ctx = EventContext("chia", clock=self.clock, metrics=RecordingMetrics(), store=None,
                           emit=self._on_event)
        self.source = ChiaSource("chia", ChiaSettings.model_validate(settings), ctx)
        self.runner = SourceRunner(self.source, rng=random.Random(0))

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self.alerts += self.engine.process(event)
        self.changed.set()

    async def tick(self) -> None:
        """Drive the engine's timers (the app's timer loop, simplified)."""
        self.alerts += self.engine.start()
        while True:
            self.alerts += self.engine.advance(self.clock.now())
            self.changed.set()
            await asyncio.sleep(0.01)

    async def wait_for(self, predicate: Callable[[], bool],
                       timeout: float | None = None) -> None:
        async with asyncio.timeout(self.WAIT if timeout is None else timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def of(self, etype: str) -> list[Event]:
        return [e for e in self.events if e.type == etype]

    def alerts_of(self, rule: str, status: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.rule == rule and status in (None, a.status)]
