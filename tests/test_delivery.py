"""Tests of the delivery worker: the outbox's only retry stage, against real receivers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alertbot.metrics import RecordingMetrics
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import WebhookSettings
from alertbot.notifiers.webhook import WebhookNotifier, build
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import OutboxRow, SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.http_receiver import HttpReceiver, Reply, Request
from tests.notifiers.samples import make_notification
from tests.notifiers.test_webhook import WHSEC, verify_standard_webhook


def hook(name: str, url: str, **kw: object) -> WebhookNotifier:
    settings = WebhookSettings.model_validate({"kind": "webhook", "url": url, **kw})
    return build(name, settings, NotifierContext())


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the loop until `pred()` holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.001)


def clock_stamps(clock: FakeClock, into: list[float]) -> Callable[[Request], None]:
    """A receiver route that records the fake-clock time of each request."""
    def route(request: Request) -> None:
        into.append(clock.now())
    return route


def row(store: SQLiteStore, row_id: str) -> OutboxRow | None:
    return next((r for r in store.outbox_list() if r.id == row_id), None)


async def test_500_then_429_then_200_delivers_once(clock: FakeClock) -> None:
    """500 → 429 (Retry-After: 1) → 200: one delivery, ≥1 s after the 429, same id, signed."""
    stamps: list[float] = []
    script = [Reply(500, "oops"), Reply(429, "slow", {"Retry-After": "1"}), Reply(200)]
    store, metrics = SQLiteStore(":memory:"), RecordingMetrics()
    async with HttpReceiver(script, route=clock_stamps(clock, stamps)) as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url, secret=WHSEC)},
                                clock=clock, metrics=metrics, rng=random.Random(1))
        n = make_notification("hook", created_at=clock.now())
        store.enqueue([n], clock.now())
        task = asyncio.create_task(worker.run())
        await until(lambda: (r := row(store, n.id)) is not None and r.attempts == 1)
        first_retry = row(store, n.id).next_attempt_at  # type: ignore[union-attr]
        assert 0.5 <= first_retry - stamps[0] <= 1.0      # backoff_initial with jitter
        clock.set(first_retry)
        await until(lambda: (r := row(store, n.id)) is not None and r.attempts == 2)
        assert row(store, n.id).next_attempt_at == stamps[1] + 1.0  # type: ignore[union-attr]
        clock.set(stamps[1] + 0.999)
        with pytest.raises(TimeoutError):
            await rx.wait_for(3, timeout=0.1)
        clock.set(stamps[1] + 1.0)
        await rx.wait_for(3)
        await until(lambda: row(store, n.id) is None)
        task.cancel()
        await worker.aclose()
    assert len(rx.requests) == 3 and stamps[2] - stamps[1] >= 1.0
    assert set(rx.ids()) == {n.id}
    assert all(verify_standard_webhook(WHSEC, r) for r in rx.requests)
    assert metrics.count("notifications_sent_total", notifier="hook") == 1
    assert metrics.count("notifications_failed_total") == 2
    assert metrics.count("notifications_retried_total") == 2


async def test_400_is_dead_lettered_after_one_try(clock: FakeClock) -> None:
    """A 400 is tried once, becomes a dead letter with the error, and calls back."""
    dead: list[tuple[str, str]] = []
    store, metrics = SQLiteStore(":memory:"), RecordingMetrics()
    async with HttpReceiver([Reply(400, "bad request body")]) as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url)}, clock=clock,
                                metrics=metrics,
                                on_dead_letter=lambda r, e: dead.append((r.id, e)))
        n = make_notification("hook")
        store.enqueue([n], clock.now())
        assert await worker.drain(5.0) is True
        await worker.aclose()
    (dead_row,) = store.outbox_list("dead")
    assert len(rx.requests) == 1 and dead_row.id == n.id and dead_row.attempts == 1
    assert "HTTP 400" in (dead_row.last_error or "") and dead == [(n.id, dead_row.last_error)]
    assert metrics.count("notifications_dead_total", notifier="hook") == 1


async def test_timeout_is_retried(clock: FakeClock) -> None:
    """A request that times out is retried with the same webhook-id and delivered."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver([Reply(hold=True)]) as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url, timeout=0.05)},
                                clock=clock, backoff_initial=2.0)
        n = make_notification("hook")
        store.enqueue([n], clock.now())
        task = asyncio.create_task(worker.run())
        await until(lambda: (r := row(store, n.id)) is not None and r.attempts == 1)
        assert "timed out" in (row(store, n.id).last_error or "")  # type: ignore[union-attr]
        clock.advance(2.0)
        await until(lambda: row(store, n.id) is None)
        task.cancel()
        await worker.aclose()
    assert rx.ids() == [n.id, n.id]


async def test_down_notifier_never_delays_others(clock: FakeClock) -> None:
    """While one destination hangs, another receives its notification."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver(default=Reply(hold=True)) as down, HttpReceiver() as up:
        worker = DeliveryWorker(store, {"down": hook("down", down.url, timeout=30),
                                        "up": hook("up", up.url)}, clock=clock)
        store.enqueue([make_notification("down"), make_notification("up")], clock.now())
        task = asyncio.create_task(worker.run())
        await down.wait_for(1)
        await up.wait_for(1)
        await until(lambda: [r.notifier for r in store.outbox_list()] == ["down"])
        task.cancel()
        await worker.aclose()


async def test_429_in_one_destination_never_resends_to_another(clock: FakeClock) -> None:
    """A 429 at A retries only A's row; B received exactly one request."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver([Reply(429, "", {"Retry-After": "5"})]) as a, \
            HttpReceiver() as b:
        worker = DeliveryWorker(store, {"a": hook("a", a.url), "b": hook("b", b.url)},
                                clock=clock)
        store.enqueue([make_notification("a"), make_notification("b")], clock.now())
        task = asyncio.create_task(worker.run())
        await until(lambda: len(store.outbox_list()) == 1 and len(a.requests) == 1)
        clock.advance(5.0)
        await until(lambda: not store.outbox_list())
        task.cancel()
        await worker.aclose()
    assert len(a.requests) == 2 and len(b.requests) == 1


async def test_max_retry_age_then_dead_letter(clock: FakeClock) -> None:
    """A retryable failure of a row older than max_retry_age dead-letters it."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver([Reply(503, "down")]) as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url)}, clock=clock,
                                max_retry_age=60.0)
        store.enqueue([make_notification("hook", created_at=clock.now() - 61)], clock.now())
        assert await worker.drain(5.0) is True
        await worker.aclose()
    (dead,) = store.outbox_list("dead")
    assert "gave up after 1 attempts" in (dead.last_error or "")


async def test_drain_reports_undelivered(clock: FakeClock) -> None:
    """drain() returns False when a row is still waiting for its retry."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver([Reply(500)]) as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url)}, clock=clock)
        store.enqueue([make_notification("hook")], clock.now())
        assert await worker.drain(0.2) is False
        await worker.aclose()
    assert len(store.outbox_list("pending")) == 1


async def test_rows_of_unconfigured_notifiers_are_dead_lettered(clock: FakeClock) -> None:
    """A pending row whose notifier is gone becomes a dead letter naming it."""
    store = SQLiteStore(":memory:")
    store.enqueue([make_notification("gone")], clock.now())
    worker = DeliveryWorker(store, {}, clock=clock)
    assert await worker.drain(1.0) is True
    (dead,) = store.outbox_list("dead")
    assert "'gone' is not configured" in (dead.last_error or "")


def test_backoff_is_capped_and_jittered(clock: FakeClock) -> None:
    """Backoff doubles per failure, stays within [50 %, 100 %] of the step and the cap."""
    worker = DeliveryWorker(SQLiteStore(":memory:"), {}, clock=clock, backoff_initial=1.0,
                            backoff_max=10.0, rng=random.Random(7))
    delays = [worker._backoff(n) for n in range(1, 9)]
    steps = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(s / 2 <= d <= s for d, s in zip(delays, steps, strict=True))


async def test_wake_sends_newly_enqueued_rows(clock: FakeClock) -> None:
    """A row enqueued while the worker idles is sent on wake(), not at the next poll."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver() as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url)}, clock=clock)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0)
        store.enqueue([make_notification("hook")], clock.now())
        worker.wake()
        await rx.wait_for(1)
        task.cancel()
        await worker.aclose()


KILL_SCRIPT = """
import asyncio, sys
from alertbot.clock import SystemClock
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import WebhookSettings
from alertbot.notifiers.webhook import build
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import SQLiteStore
from tests.notifiers.samples import make_notification

async def main(db, url, enqueue):
    store = SQLiteStore(db)
    settings = WebhookSettings.model_validate({"kind": "webhook", "url": url})
    worker = DeliveryWorker(store, {"hook": build("hook", settings, NotifierContext())},
                            clock=SystemClock())
    if enqueue:
        store.enqueue([make_notification("hook")], SystemClock().now())
    ok = await worker.drain(20.0)
    await worker.aclose()
    return 0 if ok else 1

sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "enqueue")))
"""


async def test_sigkill_mid_delivery_delivers_exactly_once(tmp_path: Path) -> None:
    """SIGKILL while a request is in flight; after restart the deduping receiver sees it once."""
    script = tmp_path / "deliver.py"
    script.write_text(KILL_SCRIPT)
    db = str(tmp_path / "state" / "alertbot.db")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    async with HttpReceiver([Reply(hold=True)]) as rx:
        first = await asyncio.create_subprocess_exec(
            sys.executable, str(script), db, rx.url, "enqueue", env=env)
        await rx.wait_for(1, timeout=20)
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        second = await asyncio.create_subprocess_exec(
            sys.executable, str(script), db, rx.url, "resume", env=env)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    processed = set(rx.ids())        # what a receiver deduplicating on webhook-id keeps
    assert len(rx.requests) == 2 and len(processed) == 1
    assert SQLiteStore(db).outbox_list() == []


async def test_drain_beside_run_leaves_run_going(clock: FakeClock) -> None:
    """drain() while run() is active returns when empty and leaves run()'s lanes going."""
    store = SQLiteStore(":memory:")
    async with HttpReceiver() as rx:
        worker = DeliveryWorker(store, {"hook": hook("hook", rx.url)}, clock=clock)
        task = asyncio.create_task(worker.run())
        store.enqueue([make_notification("hook")], clock.now())
        assert await worker.drain(5.0) is True
        store.enqueue([make_notification("hook", seq=1)], clock.now())
        worker.wake()
        await rx.wait_for(2)
        assert not task.done()
        task.cancel()
        await worker.aclose()


class _Fast:
    """A notifier that answers at once and records what the store held at each send."""

    def __init__(self, store: SQLiteStore) -> None:
        self.name, self.store = "fast", store
        self.pending_at_send: list[int] = []

    async def send(self, notification: object) -> None:
        self.pending_at_send.append(self.store.outbox_count("pending"))

    async def aclose(self) -> None:
        return None


async def test_a_burst_to_a_fast_notifier_is_deleted_in_few_commits(clock: FakeClock) -> None:
    """Rows delivered within the settle window share one delete; none is left behind."""
    store = SQLiteStore(":memory:")
    fast = _Fast(store)
    worker = DeliveryWorker(store, {"fast": fast}, clock=clock)  # type: ignore[dict-item]
    worker.SETTLE_WINDOW = 3600.0          # everything in one window
    deletes: list[int] = []
    delete_many = store.outbox_delivered_many

    def counted(ids: list[str], now: float) -> None:
        deletes.append(len(ids))
        delete_many(ids, now)

    store.outbox_delivered_many = counted  # type: ignore[method-assign]
    store.enqueue([make_notification("fast", seq=i) for i in range(50)], clock.now())
    assert await worker.drain(5.0) is True
    assert len(fast.pending_at_send) == 50 and store.outbox_count("pending") == 0
    assert deletes == [50]


async def test_a_slow_send_is_settled_before_the_next_one(clock: FakeClock) -> None:
    """With sends slower than the window, each row is deleted before the next is sent."""
    store = SQLiteStore(":memory:")
    fast = _Fast(store)
    worker = DeliveryWorker(store, {"fast": fast}, clock=clock)  # type: ignore[dict-item]
    worker.SETTLE_WINDOW = 0.0             # every send counts as slow
    store.enqueue([make_notification("fast", seq=i) for i in range(5)], clock.now())
    assert await worker.drain(5.0) is True
    assert fast.pending_at_send == [5, 4, 3, 2, 1]
