"""Dedup stage: the notify log keyed by (fingerprint, episode, notifier).

`decide()` is a pure decision that returns why a notification should NOT go out (or
None to send): a new episode always notifies as `first`; nothing is sent twice for the
same key and reason; a resolved notice needs a delivered firing of that episode. The
log is kept in memory and, outside dry runs, read through from the store (written by
the outbox stage in the same transaction as the outbox rows), so dedup holds across
restarts. Dry runs keep their records in memory only.
"""

from __future__ import annotations

from ..model import Alert
from ..store import NotifyLogEntry, StateStore

Key = tuple[str, int, str]


class DedupStage:
    def __init__(self, store: StateStore | None) -> None:
        self.store = store
        self._log: dict[Key, NotifyLogEntry | None] = {}
        # (fingerprint, episode) → notifiers cached for it: forget() without a scan.
        self._episodes: dict[tuple[str, int], set[str]] = {}

    def last(self, fingerprint: str, episode: int, notifier: str) -> NotifyLogEntry | None:
        key = (fingerprint, episode, notifier)
        if key not in self._log:
            self._remember(key, None if self.store is None
                           else self.store.last_notified(*key))
        return self._log[key]

    def _remember(self, key: Key, entry: NotifyLogEntry | None) -> None:
        self._log[key] = entry
        self._episodes.setdefault((key[0], key[1]), set()).add(key[2])

    def decide(self, alert: Alert, notifier: str) -> str | None:
        """None to send; otherwise the reason it is a duplicate."""
        last = self.last(alert.fingerprint, alert.episode, notifier)
        if last is not None and last.sent_at < alert.starts_at:
            # An instance dropped after forget_after starts counting episodes again; a
            # row logged before this episode began belongs to an earlier life of it.
            last = None
        if alert.status == "resolved":
            if last is None:
                return "firing never delivered"
            return "already resolved" if last.status == "resolved" else None
        if alert.reason == "repeat":
            return None if last is not None and last.status == "firing" else "not firing"
        return None if last is None else "already notified"

    def record(self, alert: Alert, notifier: str, now: float) -> None:
        self._remember((alert.fingerprint, alert.episode, notifier), NotifyLogEntry(
            alert.fingerprint, alert.episode, notifier, alert.status, alert.reason, now))

    def prune_events(self, before: float) -> int:
        """Drop cached event-mode entries sent before `before` (outside every window)."""
        old = [k for k, e in self._log.items()
               if e is not None and e.reason == "event" and e.sent_at < before]
        for key in old:
            del self._log[key]
            notifiers = self._episodes.get((key[0], key[1]))
            if notifiers is not None:
                notifiers.discard(key[2])
                if not notifiers:
                    del self._episodes[(key[0], key[1])]
        return len(old)

    def forget(self, fingerprint: str, episode: int) -> None:
        """Drop cached entries of a finished episode (memory stays bounded)."""
        for notifier in self._episodes.pop((fingerprint, episode), ()):
            self._log.pop((fingerprint, episode, notifier), None)
