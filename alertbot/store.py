"""The state store: interface and the SQLite implementation (WAL) in `state_dir`.

What must survive a restart lives here: alert instances (incl. pending `for` start
times and window samples), the notify log keyed by (fingerprint, episode, notifier),
the outbox (one row per notification × notifier, written before sending, cleared after
success), silences, and small per-source key/value state (Kakitu frontiers and emitted
sets). Every table has a retention setting pruned by a scheduled job.

The record types and the `StateStore` protocol below are the contract the engine,
pipeline, delivery worker, sources and CLI code against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .model import Notification

OutboxState = Literal["pending", "dead"]


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """Persisted state of one alert instance; `state` is engine-defined JSON."""

    rule_id: str
    fingerprint: str
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NotifyLogEntry:
    fingerprint: str
    episode: int
    notifier: str
    status: str            # firing | resolved
    reason: str            # first | repeat | resolved | event
    sent_at: float


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: str                # Notification.id (stable across retries: webhook-id)
    notifier: str
    notification: Notification
    state: OutboxState
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Matchers are label → value (equality; a value starting with `~` is a regex)."""

    id: str
    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float
    created_by: str = "cli"
    comment: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class StateStore(Protocol):
    # -- alert instances (engine) ------------------------------------------------------
    def load_instances(self) -> list[InstanceRecord]: ...
    def save_instances(self, changed: Iterable[InstanceRecord],
                       deleted: Iterable[str] = ()) -> None: ...

    # -- notify log + outbox (pipeline): one transaction per tick ----------------------
    def last_notified(self, fingerprint: str, episode: int,
                      notifier: str) -> NotifyLogEntry | None: ...
    def enqueue(self, notifications: Sequence[Notification], now: float) -> None:
        """Write outbox rows and notify-log entries atomically (the dedup record)."""
        ...

    # -- outbox (delivery worker, CLI) -------------------------------------------------
    def outbox_due(self, now: float, limit: int = 100,
                   notifier: str | None = None) -> list[OutboxRow]: ...
    def outbox_delivered(self, row_id: str, now: float) -> None: ...
    def outbox_reschedule(self, row_id: str, next_attempt_at: float,
                          error: str) -> None: ...
    def outbox_dead(self, row_id: str, error: str, now: float) -> None: ...
    def outbox_list(self, state: OutboxState | None = None) -> list[OutboxRow]: ...
    def outbox_retry(self, row_ids: Sequence[str] | None, now: float) -> int:
        """Move dead rows (all when None) back to pending, due now; returns count."""
        ...

    # -- silences ----------------------------------------------------------------------
    def silence_add(self, silence: Silence) -> None: ...
    def silence_remove(self, silence_id: str) -> bool: ...
    def silences(self, now: float | None = None) -> list[Silence]: ...

    # -- source key/value state --------------------------------------------------------
    def kv_get(self, namespace: str, key: str) -> Any | None: ...
    def kv_put(self, namespace: str, key: str, value: Any) -> None: ...

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float, retention: Mapping[str, float]) -> int: ...
    def close(self) -> None: ...
