"""Outbox stage: writes a tick's notifications to the store in one transaction.

`store.enqueue` writes the outbox rows and their notify-log entries atomically, so a
crash either loses both (the alert is notified after restart) or keeps both (it is
delivered from the outbox, never twice). Dry runs write nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model import Notification
from ..store import StateStore


class OutboxStage:
    def __init__(self, store: StateStore | None, *, dry_run: bool) -> None:
        self.store = None if dry_run else store

    def write(self, notifications: Sequence[Notification], now: float) -> None:
        if self.store is not None and notifications:
            self.store.enqueue(notifications, now)
