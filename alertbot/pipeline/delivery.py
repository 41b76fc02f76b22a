"""The delivery worker: the only stage that retries, draining the outbox per notifier.

The pipeline writes one outbox row per (notification, notifier) before anything is
sent; this worker sends each row and deletes it only after the notifier returned, so a
crash mid-send re-sends on restart (receivers dedup on the stable notification id)
and nothing is lost. Each notifier has its own lane (one asyncio task, one request in
flight), so a destination that is down or rate-limited never delays the others, and a
429 in one destination never re-sends to another. A retryable failure pauses its lane:
until exactly `retry_after` when the server gave one (never earlier), else for a capped,
jittered exponential backoff; non-retryable failures and rows older than
`max_retry_age` become dead letters (`alertbot outbox list|retry`). A notifier with
`group_wait` (`grouping.py`) sends its due rows as one message once the group's wait is
over; the rows are deleted together after that send succeeded, or rescheduled together.
Rows delivered within one millisecond of each other (a fast notifier draining a burst)
are deleted in one commit; a slow send is settled on its own, so a crash re-sends at
most what was delivered in the last millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ..clock import Clock
from ..errors import DeliveryError
from ..metrics import Metrics, NullMetrics
from ..notifiers.base import Notifier
from ..store import OutboxRow, StateStore
from .grouping import GroupNotifier, GroupPolicy, group_key, policies

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Sends outbox rows through their notifiers; see the module docstring."""

    BATCH = 100
    POLL_INTERVAL = 30.0     # safety net for rows another process made due (outbox retry)
    SEND_TIMEOUT = 120.0     # a notifier that hangs past its own timeout counts as a timeout
    DEPTH_INTERVAL = 5.0     # outbox_depth is recomputed at most this often (clock seconds)
    SETTLE_WINDOW = 0.001    # real seconds of delivered rows that may share one delete

    def __init__(self, store: StateStore, notifiers: Mapping[str, Notifier], *,
                 clock: Clock, metrics: Metrics | None = None,
                 max_retry_age: float = 86400.0, backoff_initial: float = 1.0,
                 backoff_max: float = 300.0, rng: random.Random | None = None,
                 on_dead_letter: Callable[[OutboxRow, str], None] | None = None,
                 groups: Mapping[str, GroupPolicy] | None = None) -> None:
        self._store = store
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._metrics = metrics or NullMetrics()
        self._max_retry_age = max_retry_age
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._rng = rng or random.Random()
        self._on_dead_letter = on_dead_letter
        # Grouping comes from each notifier's own settings unless given explicitly.
        self._groups = dict(groups) if groups is not None else policies(
            {name: getattr(n, "settings", None) for name, n in self._notifiers.items()})
        self._wakeups = {name: asyncio.Event() for name in self._notifiers}
        self._blocked_until = dict.fromkeys(self._notifiers, 0.0)
        self._streak = dict.fromkeys(self._notifiers, 0)
        self._due_heap: dict[str, list[float]] = {name: [] for name in self._notifiers}
        # Per lane: ids sent but not yet deleted, and when the first of their sends began.
        self._unsettled: dict[str, list[str]] = {name: [] for name in self._notifiers}
        self._unsettled_since = dict.fromkeys(self._notifiers, 0.0)
        self._progress = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._depth_at = float("-inf")
        self._closed = False
        self._running = False

    # -- public API --------------------------------------------------------------------
    def wake(self) -> None:
        """New rows were enqueued: every lane looks for due rows now."""
        for event in self._wakeups.values():
            event.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._running = True
        self._start_lanes()
        try:
            await asyncio.gather(*self._lanes.values())
        finally:
            self._running = False
            await self._stop_lanes()

    async def drain(self, max_wait: float) -> bool:
        """Deliver until no pending row is left or `max_wait` (real seconds) passed.

        Returns True if nothing is pending any more (every row delivered or dead).
        Works whether or not `run()` is active.
        """
        started_here = not self._lanes
        self._start_lanes()
        self.wake()
        try:
            async with asyncio.timeout(max_wait):
                while True:
                    self._progress.clear()
                    if not self._any_pending():
                        break
                    await self._progress.wait()
        except TimeoutError:
            pass
        finally:
            if started_here and not self._running:
                await self._stop_lanes()
        return not self._any_pending()

    async def aclose(self) -> None:
        """Stop every lane and close every notifier; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_lanes()
        for notifier in self._notifiers.values():
            try:
                await notifier.aclose()
            except Exception as exc:  # one bad close must not leak the others
                log.warning("closing notifier %s failed: %s", notifier.name,
                            type(exc).__name__)

    # -- lanes -------------------------------------------------------------------------
    def _start_lanes(self) -> None:
        if self._lanes:
            return
        self._adopt_pending()
        for name, notifier in self._notifiers.items():
            self._lanes[name] = asyncio.create_task(self._lane(name, notifier),
                                                    name=f"delivery:{name}")

    async def _stop_lanes(self) -> None:
        lanes, self._lanes = list(self._lanes.values()), {}
        for task in lanes:
            task.cancel()
        for task in lanes:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in self._unsettled:
            self._settle(name)

    def _adopt_pending(self) -> None:
        """Learn the due times of rows left by a previous run; dead-letter orphans."""
        for row in self._store.outbox_list("pending"):
            if row.notifier in self._due_heap:
                heapq.heappush(self._due_heap[row.notifier], row.next_attempt_at)
            else:
                self._dead(row, f"notifier {row.notifier!r} is not configured "
                                f"(fix the config, then `alertbot outbox retry {row.id}`)")
        self._update_depth(force=True)

    async def _lane(self, name: str, notifier: Notifier) -> None:
        wakeup = self._wakeups[name]
        while True:
            # Cleared before looking, so a wake() during the look is not lost.
            wakeup.clear()
            now = self._clock.now()
            if self._blocked_until[name] > now:
                await self._wait(wakeup, self._blocked_until[name], interruptible=False)
                continue
            rows = self._store.outbox_due(now, self.BATCH, notifier=name)
            if not rows:
                self._update_depth()
                await self._wait(wakeup, self._next_wake(name, now))
                continue
            policy = self._groups.get(name)
            try:
                if policy is None:
                    await self._attempt_each(name, notifier, rows)
                elif (at := policy.flush_at(rows)) > now:
                    # Later rows never make the group due sooner: no need to wake for them.
                    await self._wait(wakeup, at, interruptible=False)
                    continue
                else:
                    await self._attempt_group(name, notifier, rows, policy)
            finally:
                self._settle(name)
            self._update_depth()

    def _next_wake(self, name: str, now: float) -> float:
        heap = self._due_heap[name]
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        deadline = now + self.POLL_INTERVAL
        return min(heap[0], deadline) if heap else deadline

    async def _wait(self, wakeup: asyncio.Event, deadline: float, *,
                    interruptible: bool = True) -> None:
        waiters: set[asyncio.Future[object]] = {
            asyncio.ensure_future(self._sleep(deadline))}
        if interruptible:
            waiters.add(asyncio.ensure_future(wakeup.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _sleep(self, deadline: float) -> object:
        await self._clock.sleep_until(deadline)
        return None

    # -- one attempt -------------------------------------------------------------------
    async def _attempt_each(self, name: str, notifier: Notifier,
                            rows: Sequence[OutboxRow]) -> bool:
        sent = False
        for row in rows:
            if self._blocked_until[name] > self._clock.now():
                break
            sent |= await self._attempt(name, notifier, row)
        return sent

    async def _attempt(self, name: str, notifier: Notifier, row: OutboxRow) -> bool:
        return await self._outcome(name, [row], notifier.send(row.notification))

    async def _attempt_group(self, name: str, notifier: Notifier,
                             rows: Sequence[OutboxRow], policy: GroupPolicy) -> None:
        if len(rows) > 1 and isinstance(notifier, GroupNotifier):
            sent = await self._outcome(name, rows, notifier.send_group(
                group_key(name), [r.notification for r in rows]))
        else:
            # A single row reads better alone; a kind without a grouped message
            # still gets the timing (one message per row).
            sent = await self._attempt_each(name, notifier, rows)
        if sent:
            policy.last_flush = self._clock.now()

    async def _outcome(self, name: str, rows: Sequence[OutboxRow],
                       send: Awaitable[None]) -> bool:
        """Run one send covering `rows`; all of them are delivered or all fail alike."""
        ok = False
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self.SEND_TIMEOUT):
                await send
        except DeliveryError as exc:
            self._failed_rows(name, rows, str(exc), exc.retry, exc.retry_after)
        except TimeoutError:
            self._failed_rows(name, rows, f"{name}: no answer within "
                                          f"{self.SEND_TIMEOUT:g}s", True, None)
        except Exception as exc:
            # The text of an unexpected exception may carry secrets: keep the type only.
            log.error("notifier %s raised unexpected %s", name, type(exc).__name__,
                      extra={"notifier": name})
            log.debug("notifier %s failure", name, exc_info=True)
            self._failed_rows(name, rows, f"{name}: unexpected {type(exc).__name__}",
                              True, None)
        else:
            ok = True
            unsettled = self._unsettled[name]
            if not unsettled:
                self._unsettled_since[name] = began
            unsettled.extend(row.id for row in rows)
            self._metrics.inc("notifications_sent_total", len(rows), notifier=name)
            self._streak[name] = 0
            if time.perf_counter() - self._unsettled_since[name] >= self.SETTLE_WINDOW:
                self._settle(name)
        self._progress.set()
        return ok

    def _settle(self, name: str) -> None:
        """Delete the rows this lane delivered since the last settle, in one commit."""
        ids = self._unsettled[name]
        if ids:
            self._unsettled[name] = []
            self._store.outbox_delivered_many(ids, self._clock.now())
            self._progress.set()

    def _failed_rows(self, name: str, rows: Sequence[OutboxRow], error: str, retry: bool,
                     retry_after: float | None) -> None:
        first, *others = rows
        self._failed(name, first, error, retry, retry_after)
        if not others:
            return
        # One failed send: every row of the group follows the first one's fate.
        mate = next((r for r in self._store.outbox_list("pending") if r.id == first.id),
                    None)
        for row in others:
            if mate is None:
                self._dead(row, error)
            else:
                self._metrics.inc("notifications_failed_total", notifier=name)
                self._store.outbox_reschedule(row.id, mate.next_attempt_at, error)

    def _failed(self, name: str, row: OutboxRow, error: str, retry: bool,
                retry_after: float | None) -> None:
        now = self._clock.now()
        self._metrics.inc("notifications_failed_total", notifier=name)
        age = now - row.created_at
        if not retry:
            self._dead(row, error)
            return
        if age >= self._max_retry_age:
            self._dead(row, f"{error} (gave up after {row.attempts + 1} attempts "
                            f"over {age:.0f}s)")
            return
        self._streak[name] += 1
        if retry_after is not None and retry_after > 0:
            delay = retry_after  # exactly what the server asked: never earlier
        else:
            delay = self._backoff(max(self._streak[name], row.attempts + 1))
        next_at = now + delay
        self._store.outbox_reschedule(row.id, next_at, error)
        self._blocked_until[name] = max(self._blocked_until[name], next_at)
        heapq.heappush(self._due_heap[name], next_at)
        self._metrics.inc("notifications_retried_total", notifier=name)
        log.info("delivery of %s via %s failed, retry in %.1fs: %s", row.id, name, delay,
                 error, extra={"notifier": name, "rule": row.notification.alert.rule})

    def _backoff(self, failures: int) -> float:
        """Capped exponential backoff with jitter in [50 %, 100 %] of the step."""
        step = min(self._backoff_max, self._backoff_initial * 2.0 ** min(failures - 1, 62))
        return step * (0.5 + 0.5 * self._rng.random())

    def _dead(self, row: OutboxRow, error: str) -> None:
        self._store.outbox_dead(row.id, error, self._clock.now())
        self._metrics.inc("notifications_dead_total", notifier=row.notifier)
        log.warning("dead letter %s via %s: %s", row.id, row.notifier, error,
                    extra={"notifier": row.notifier, "rule": row.notification.alert.rule})
        if self._on_dead_letter is not None:
            try:
                self._on_dead_letter(row, error)
            except Exception:
                log.exception("on_dead_letter callback failed for %s", row.id)

    # -- bookkeeping -------------------------------------------------------------------
    def _any_pending(self) -> bool:
        return bool(self._store.outbox_due(float("inf"), 1))

    def _pending(self) -> int:
        return self._store.outbox_count("pending")

    def _update_depth(self, *, force: bool = False) -> None:
        now = self._clock.now()
        if force or now - self._depth_at >= self.DEPTH_INTERVAL:
            self._depth_at = now
            self._metrics.set("outbox_depth", float(self._pending()))
