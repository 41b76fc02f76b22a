"""Grouping in the delivery worker: a burst within group_wait becomes one message."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence

from alertbot.errors import DeliveryError
from alertbot.model import Notification
from alertbot.notifiers.settings import TelegramSettings
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.pipeline.grouping import GroupPolicy, policies
from alertbot.store import OutboxRow, SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notifiers.samples import make_notification

from .conftest import make


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.001)


class Recorder:
    """A notifier recording single and grouped sends; can be told to fail."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.singles: list[str] = []
        self.groups: list[tuple[str, list[str]]] = []
        self.fail_next = 0

    async def send(self, notification: Notification) -> None:
        self.singles.append(notification.id)

    async def send_group(self, group_key: str,
                         notifications: Sequence[Notification]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise DeliveryError("down", retry=True, retry_after=5.0)
        self.groups.append((group_key, [n.id for n in notifications]))

    async def aclose(self) -> None:
        pass


def burst(notifier: str, count: int, at: float, prefix: str = "fp") -> list[Notification]:
    return [make_notification(notifier, rule=f"r{i}", fingerprint=f"{prefix}{i}",
                              created_at=at) for i in range(count)]


def row_states(store: SQLiteStore) -> list[OutboxRow]:
    return store.outbox_list("pending")


def test_flush_at_follows_alertmanager_timing() -> None:
    """First round waits group_wait from the oldest row; later rounds group_interval."""
    policy = GroupPolicy(group_wait=10, group_interval=60)
    rows = [OutboxRow("a", "n", make_notification("n"), "pending", 0, 100, 100)]
    assert policy.flush_at(rows) == 110 and policy.flush_at([]) == math.inf
    policy.last_flush = 110
    later = [OutboxRow("b", "n", make_notification("n"), "pending", 0, 120, 120)]
    assert policy.flush_at(later) == 170
    retried = [OutboxRow("c", "n", make_notification("n"), "pending", 1, 120, 120)]
    assert policy.flush_at(retried) == -math.inf


def test_policies_only_for_group_wait() -> None:
    """Only notifiers with group_wait group; group_interval defaults to group_wait."""
    base = {"kind": "telegram", "token": "1:x", "chat_id": 1}
    found = policies({"a": TelegramSettings.model_validate({**base, "group_wait": "30s"}),
                      "b": TelegramSettings.model_validate(base)})
    assert list(found) == ["a"] and found["a"].group_interval == 30.0


async def test_fifty_alerts_become_one_message_per_notifier(clock: FakeClock) -> None:
    """50 alerts within group_wait: one grouped send per notifier, all rows cleared."""
    store = SQLiteStore(":memory:")
    one, two = Recorder("one"), Recorder("two")
    groups = {"one": GroupPolicy(10, 60), "two": GroupPolicy(10, 60)}
    worker = DeliveryWorker(store, {"one": one, "two": two}, clock=clock, groups=groups)
    t0 = clock.now()
    store.enqueue(burst("one", 25, t0) + burst("two", 25, t0), t0)
    task = asyncio.create_task(worker.run())
    clock.set(t0 + 5)
    store.enqueue(burst("one", 25, t0 + 5, "late") + burst("two", 25, t0 + 5, "late"), t0 + 5)
    worker.wake()
    clock.set(t0 + 9.99)
    await asyncio.sleep(0.05)  # a worker ignoring group_wait would have sent by now
    assert one.groups == [] and two.groups == []
    clock.set(t0 + 10)
    await until(lambda: not row_states(store))
    task.cancel()
    await worker.aclose()
    assert [len(ids) for _, ids in one.groups] == [50] and one.singles == []
    assert [len(ids) for _, ids in two.groups] == [50] and two.groups[0][0] == "two:{}"


async def test_rows_cleared_only_after_grouped_send_succeeds(clock: FakeClock) -> None:
    """A failed grouped send keeps every row pending (same retry time); success clears all."""
    store = SQLiteStore(":memory:")
    rec = Recorder("one")
    rec.fail_next = 1
    worker = DeliveryWorker(store, {"one": rec}, clock=clock,
                            groups={"one": GroupPolicy(1, 1)})
    t0 = clock.now()
    store.enqueue(burst("one", 5, t0), t0)
    task = asyncio.create_task(worker.run())
    clock.set(t0 + 1)
    await until(lambda: all(r.attempts == 1 for r in row_states(store)))
    assert {r.next_attempt_at for r in row_states(store)} == {t0 + 6}
    assert len(row_states(store)) == 5 and rec.groups == []
    clock.set(t0 + 6)
    await until(lambda: not row_states(store))
    task.cancel()
    await worker.aclose()
    assert [len(ids) for _, ids in rec.groups] == [5]


async def test_group_interval_spaces_later_rounds(clock: FakeClock) -> None:
    """Alerts arriving after a grouped send wait for group_interval, then go together."""
    store = SQLiteStore(":memory:")
    rec = Recorder("one")
    worker = DeliveryWorker(store, {"one": rec}, clock=clock,
                            groups={"one": GroupPolicy(1, 30)})
    t0 = clock.now()
    store.enqueue(burst("one", 3, t0), t0)
    task = asyncio.create_task(worker.run())
    clock.set(t0 + 1)
    await until(lambda: len(rec.groups) == 1)
    clock.set(t0 + 2)
    store.enqueue(burst("one", 2, t0 + 2, "next"), t0 + 2)
    worker.wake()
    clock.set(t0 + 30.5)
    await asyncio.sleep(0.05)  # not yet: the interval runs from the first send (t0+1)
    assert len(rec.groups) == 1
    clock.set(t0 + 31)
    await until(lambda: len(rec.groups) == 2)
    task.cancel()
    await worker.aclose()
    assert [len(ids) for _, ids in rec.groups] == [3, 2]


async def test_telegram_burst_is_one_message(clock: FakeClock) -> None:
    """Through the real Bot: 50 alerts to a telegram notifier with group_wait → one message."""
    async with FakeTelegramAPI(token="123456:TESTtokenVALUE_abc", now=clock.now) as api:
        store = SQLiteStore(":memory:")
        tg = make(api, clock, group_wait="10s")
        worker = DeliveryWorker(store, {"tg": tg}, clock=clock)  # policy from settings
        t0 = clock.now()
        store.enqueue(burst("tg", 50, t0), t0)
        task = asyncio.create_task(worker.run())
        clock.set(t0 + 10)
        await until(lambda: not row_states(store))
        task.cancel()
        await worker.aclose()
    [sent] = api.sent
    assert sent.visible.startswith("\U0001F534 50 alerts: 50 firing")
    assert all(f"r{i} " in sent.visible for i in range(50))
