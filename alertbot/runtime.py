"""Runtime: the engine and the pipeline driven together on one clock.

`run` (system clock, live events) and `replay` (virtual clock, recorded events) both
go through `Runtime`, so they produce the same notifications. Before an event at time
t is evaluated, every engine and pipeline timer due at or before t fires, interleaved
in deadline order (DESIGN §2.6 "Time"); then the engine evaluates the event and the
pipeline routes what it returns. `on_notifications` is called with every non-empty
batch (the service wakes the delivery worker from it; replay prints from it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from .clock import Clock
from .model import Alert, Event, Notification
from .pipeline import Pipeline
from .timers import TimerHeap

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """The part of `alertbot.engine.Engine` the runtime drives."""

    timers: TimerHeap

    def start(self) -> list[Alert]: ...
    def process(self, event: Event) -> list[Alert]: ...
    def advance(self, now: float) -> list[Alert]: ...
    def next_deadline(self) -> float | None: ...
    def firing(self) -> list[Alert]: ...
    def flush(self) -> None: ...


NotificationHook = Callable[[Sequence[Notification]], None]


class Runtime:
    def __init__(self, engine: EngineLike, pipeline: Pipeline, *, clock: Clock,
                 on_notifications: NotificationHook | None = None) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.clock = clock
        self.on_notifications = on_notifications

    def start(self) -> list[Notification]:
        """Start the engine (restored state, start-up timers) and re-arm the pipeline."""
        now = self.clock.now()
        started = self.engine.start()
        self.pipeline.restore(self.engine.firing(), now)
        return self._emit(self.pipeline.submit(started, now))

    def feed(self, event: Event) -> list[Notification]:
        """Fire timers due up to event.time, then evaluate the event and route it."""
        t = event.time
        # Hot path: no timer due (the common case) costs two attribute reads, no call.
        if t >= self.engine.timers.horizon or t >= self.pipeline.timers.horizon:
            out = self._run_timers(t)
        else:
            out = []
        alerts = self.engine.process(event)
        if alerts:
            out += self._emit(self.pipeline.submit(alerts, t))
        return out

    def feed_many(self, events: Iterable[Event],
                  on_error: Callable[[Event], None]) -> None:
        """`feed` each event in order (the pump's batches: one call, locals bound once);
        an event whose evaluation raises goes to `on_error` and the rest carry on."""
        engine_timers, pipeline_timers = self.engine.timers, self.pipeline.timers
        process, submit, emit = self.engine.process, self.pipeline.submit, self._emit
        for event in events:
            try:
                t = event.time
                if t >= engine_timers.horizon or t >= pipeline_timers.horizon:
                    self._run_timers(t)
                alerts = process(event)
                if alerts:
                    emit(submit(alerts, t))
            except Exception:
                on_error(event)

    def advance(self, now: float) -> list[Notification]:
        """Fire every engine and pipeline timer due at or before `now`."""
        return self._run_timers(now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.engine.next_deadline(), self.pipeline.next_deadline())
                     if d is not None]
        return min(deadlines) if deadlines else None

    def flush(self) -> None:
        """Persist the engine's changed instances (after the outbox batch was written)."""
        self.engine.flush()

    def _run_timers(self, now: float) -> list[Notification]:
        out: list[Notification] = []
        while True:
            eng, pipe = self.engine.next_deadline(), self.pipeline.next_deadline()
            if eng is not None and eng <= now and (pipe is None or eng <= pipe):
                # The engine's timer first on a tie: its alert may end what the
                # pipeline's timer would send (e.g. a resolve before a reminder).
                out += self._emit(self.pipeline.submit(self.engine.advance(eng), eng))
            elif pipe is not None and pipe <= now:
                out += self._emit(self.pipeline.advance(pipe))
            else:
                return out

    def _emit(self, batch: list[Notification]) -> list[Notification]:
        if batch and self.on_notifications is not None:
            self.on_notifications(batch)
        return batch
