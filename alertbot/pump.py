"""The event pump: the one task that feeds the engine, in arrival order, in batches.

Sources (and alertbot itself) `put()` events from any task; each turn the pump drains
the queue in batches through `Runtime.feed_many` (everything queued, unless that takes
longer than TURN), fires due timers between batches and when idle, and calls
`Runtime.flush()` once per batch so engine state is written after the outbox rows of
that batch (DESIGN §4: writes batched per tick). It records when it last went round
(`beat`, for `/healthz`), counts events per source and type, and times a sample of
evaluations for the latency histogram (timing every event would cost more than the
evaluation itself). A bug while evaluating one event is logged and that event skipped;
the pump never dies of it.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import operator
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .clock import Clock
from .metrics import Metrics
from .model import Event
from .runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 512           # events per store transaction
TURN = 0.02           # a turn evaluates batches until the queue is empty or this passed
IDLE_BEAT = 5.0        # an idle pump still goes round this often, so liveness stays true
SAMPLE_EVERY = 32      # one evaluation in this many is timed for the histogram
YOUNG_GC_THRESHOLD = 5_000   # allocations between young-generation collections (700)
_SOURCE_TYPE = operator.attrgetter("source", "type")


class EventPump:
    def __init__(self, runtime: Runtime, *, clock: Clock, metrics: Metrics,
                 transaction: Callable[[], AbstractContextManager[Any]] = nullcontext
                 ) -> None:
        self.runtime = runtime
        # One store transaction per batch: outbox rows, notify log and engine state of a
        # tick commit together, once (a commit per alert cost ~0.17 ms each).
        self._transaction = transaction
        self.clock = clock
        self.metrics = metrics
        self.beat = time.monotonic()
        self.processed = 0
        self._queue: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._stopping = False
        self._asleep = False   # waiting in `_wait`: the next put() must wake it

    def put(self, event: Event) -> None:
        self._queue.append(event)
        if self._asleep:
            self._asleep = False
            self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Pump until cancelled or `stop()`; on the way out, evaluate what is queued."""
        # Rules, templates and config models live as long as the process: moved out of
        # the cyclic GC's generations, full collections stop re-scanning them while
        # events churn (worth ~20 % of the feed rate). Frozen objects are still freed by
        # reference counting; only reference cycles among them (e.g. in rules a hot
        # reload replaced) are never collected.
        gc.freeze()
        # Events live from their frame until their batch is evaluated, thousands at a
        # time: with the default 700 allocations per young collection, every event was
        # scanned and promoted before it died (3 % of a busy feed's time). They hold no
        # cycles; collecting the young generation 7x less often frees the same memory.
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *thresholds[1:])
        try:
            while not self._stopping:
                if self._queue:
                    self._turn()
                    await asyncio.sleep(0)  # let sources and delivery run between turns
                    continue
                self._idle.set()
                await self._wait()
                self._idle.clear()
                self._tick()
        finally:
            gc.set_threshold(*thresholds)
            self.drain()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def drain(self) -> None:
        """Evaluate everything still queued (shutdown and tests)."""
        while self._queue:
            self._batch()

    async def idle(self) -> None:
        """Wait until the queue is empty and the pump is waiting (tests, demo)."""
        await self._idle.wait()

    # -- internals ---------------------------------------------------------------------
    async def _wait(self) -> None:
        deadline = self.runtime.next_deadline()
        until = self.clock.now() + IDLE_BEAT
        if deadline is not None:
            until = min(until, deadline)
        self._wake.clear()
        if self._queue or self._stopping:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep_until(until))
        waker = asyncio.ensure_future(self._wake.wait())
        self._asleep = True
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._asleep = False
            sleeper.cancel()
            waker.cancel()

    def _tick(self) -> None:
        self.beat = time.monotonic()
        with self._transaction():
            self._fire_timers()

    @staticmethod
    def _skipped(event: Event) -> None:
        log.exception("evaluating an event failed; skipped: %.300r", event,
                      extra={"source": event.source})

    def _fire_timers(self) -> None:
        """Timers due by now, then engine state written (inside the tick's transaction)."""
        try:
            self.runtime.advance(self.clock.now())
            self.runtime.flush()
        except Exception:
            log.exception("firing timers failed")

    def _turn(self) -> None:
        # Everything queued, not one batch: a source reading a chunk of short frames
        # queues more than a batch per loop iteration, and one batch per turn let the
        # queue grow without bound (15k events behind a busy feed). TURN bounds how long
        # the other tasks wait when the queue really is long.
        ends = time.monotonic() + TURN
        self._batch()
        while self._queue and time.monotonic() < ends:
            self._batch()

    def _batch(self) -> None:
        with self._transaction():
            self._evaluate()

    def _evaluate(self) -> None:
        self.beat = time.monotonic()
        queue = self._queue
        n = min(len(queue), BATCH)
        batch = [queue.popleft() for _ in range(n)]
        self.processed += n
        # Counted at C speed (Counter.update over attrgetter): a Python `+= 1` per event
        # cost more than the lookup that decides most events change nothing.
        counts = collections.Counter(map(_SOURCE_TYPE, batch))
        feed_many, skipped = self.runtime.feed_many, self._skipped
        for start in range(0, n, SAMPLE_EVERY):
            # The first evaluation of every SAMPLE_EVERY is timed for the histogram.
            event = batch[start]
            started = time.perf_counter()
            feed_many((event,), skipped)
            self.metrics.observe("engine_evaluation_seconds", time.perf_counter() - started)
            feed_many(batch[start + 1:start + SAMPLE_EVERY], skipped)
        self._fire_timers()
        for (source, etype), count in counts.items():
            self.metrics.inc("events_total", count, source=source, type=etype)
