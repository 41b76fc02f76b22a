"""The daily digest: yesterday in one message per notifier (`digest:` in the config).

Counts alerts that fired and resolved (once per alert, however many notifiers it went
to), alerts held back by silences, inhibition or acks, and each source's uptime since
the last digest, then puts one notification per `digest.notify` notifier into the
outbox — so a digest, like any alert, survives a restart and honours 429s. The time of
day is computed in the configured timezone (zoneinfo), on the injected clock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .clock import Clock
from .model import Alert, Notification, Severity, fingerprint
from .settings import DigestSettings
from .store import StateStore

RULE = "alertbot-digest"


def next_run(now: float, settings: DigestSettings) -> float:
    """The next `at` o'clock strictly after `now`, in the digest's timezone."""
    zone = ZoneInfo(settings.timezone)
    local = datetime.fromtimestamp(now, zone)
    hour, minute = (int(x) for x in settings.at.split(":"))
    due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due.timestamp() <= now:
        due = (due + timedelta(days=1)).replace(hour=hour, minute=minute)
    return due.timestamp()


class Digest:
    def __init__(self, settings: DigestSettings, *, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.since = clock.now()
        self.fired: Counter[str] = Counter()
        self.resolved: Counter[str] = Counter()
        self._seen: set[tuple[str, int, str, str]] = set()
        self._up: defaultdict[str, float] = defaultdict(float)  # source → seconds up
        self._state: dict[str, tuple[bool, float]] = {}

    def on_notifications(self, batch: Iterable[Notification]) -> None:
        for n in batch:
            a = n.alert
            key = (a.fingerprint, a.episode, a.status, a.reason)
            if key in self._seen or a.rule == RULE or a.reason == "repeat":
                continue
            self._seen.add(key)
            (self.resolved if a.status == "resolved" else self.fired)[a.rule] += 1

    def on_connection(self, source: str, connected: bool) -> None:
        now = self.clock.now()
        was, since = self._state.get(source, (False, now))
        if was:
            self._up[source] += now - since
        self._state[source] = (connected, now)

    def uptime(self) -> dict[str, float]:
        """Fraction of the period each source was connected (and restart the count)."""
        now = self.clock.now()
        for source, (up, since) in list(self._state.items()):
            if up:
                self._up[source] += now - since
            self._state[source] = (up, now)
        span = max(1e-9, self.clock.now() - self.since)
        out = {s: min(1.0, self._up[s] / span) for s in self._state}
        self._up.clear()
        return out

    def text(self, suppressed: Mapping[str, int]) -> str:
        hours = (self.clock.now() - self.since) / 3600
        lines = [f"Digest of the last {hours:.0f} h: {sum(self.fired.values())} fired, "
                 f"{sum(self.resolved.values())} resolved, "
                 f"{sum(suppressed.values())} held back (silenced/inhibited/acked)"]
        for rule, count in self.fired.most_common(10):
            lines.append(f"- {rule}: fired {count}, resolved {self.resolved.get(rule, 0)}")
        for source, share in sorted(self.uptime().items()):
            lines.append(f"- source {source}: up {share:.1%}")
        return "\n".join(lines)

    def send(self, store: StateStore, suppressed: Mapping[str, int]) -> Sequence[Notification]:
        """Enqueue today's digest for every digest notifier and start a new period."""
        now = self.clock.now()
        text = self.text(suppressed)
        fp = fingerprint(RULE, (), str(int(now)))
        alert = Alert(rule=RULE, status="firing", reason="event", severity=Severity.info,
                      fingerprint=fp, episode=int(now),
                      labels={"rule": RULE, "severity": "info", "source": "alertbot"},
                      text=text, starts_at=now, ends_at=now, event=None,
                      notify=tuple(self.settings.notify), send_resolved=False)
        batch = [Notification(Notification.make_id(alert, name), alert, name, now)
                 for name in self.settings.notify]
        store.enqueue(batch, now)
        self.fired.clear()
        self.resolved.clear()
        self._seen.clear()
        self.since = now
        return batch
