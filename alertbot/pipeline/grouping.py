"""Grouping: when a notifier with `group_wait` sends, and how a burst becomes one message.

Alertmanager's meaning, per notifier (one group per notifier): `group_wait` is how long
the first notification of a quiet group waits for others to join it, so a burst goes
out as one message; `group_interval` is the least time between two grouped messages,
so alerts arriving after a group was sent wait for the next round instead of making a
message each (it defaults to `group_wait`). The outbox keeps one row per
(notification, notifier); the delivery worker sends every due row of the group as one
message and deletes them all only after that send succeeded (a failure reschedules
them all). `GroupPolicy.flush_at` is the pure decision; the worker does the I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..model import Notification
from ..store import OutboxRow


@runtime_checkable
class GroupNotifier(Protocol):
    """A notifier that can send several notifications as one message."""

    name: str

    async def send_group(self, group_key: str,
                         notifications: Sequence[Notification]) -> None:
        """Deliver one message listing `notifications`; raise DeliveryError like send()."""
        ...


@dataclass(slots=True)
class GroupPolicy:
    """Timing of one notifier's group; `last_flush` is when a grouped send last succeeded."""

    group_wait: float
    group_interval: float
    last_flush: float = -math.inf

    def flush_at(self, rows: Sequence[OutboxRow]) -> float:
        """When the due `rows` may go out as one message.

        A row already tried (a retry) goes as soon as it is due: its wait was served.
        Otherwise the oldest row waits `group_wait` from its creation, and never sooner
        than `group_interval` after the last grouped message.
        """
        if not rows:
            return math.inf
        if any(r.attempts > 0 for r in rows):
            return -math.inf
        oldest = min(r.created_at for r in rows)
        return max(oldest + self.group_wait, self.last_flush + self.group_interval)


def policies(settings: Mapping[str, Any]) -> dict[str, GroupPolicy]:
    """GroupPolicy of every notifier whose settings set `group_wait` (name → policy)."""
    out: dict[str, GroupPolicy] = {}
    for name, s in settings.items():
        wait = getattr(s, "group_wait", None)
        if wait is None:
            continue
        interval = getattr(s, "group_interval", None)
        out[name] = GroupPolicy(float(wait), float(wait if interval is None else interval))
    return out


def group_key(notifier: str) -> str:
    """The key a notifier's single group is known by (webhook `group_key`)."""
    return f"{notifier}:{{}}"
