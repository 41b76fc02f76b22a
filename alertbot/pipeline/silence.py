"""Silence stage: decides whether an alert is muted now, and until when.

Two kinds of silence apply: those in the store (added by `alertbot silence add`, read
back at most once per `refresh` seconds so the CLI's writes from another process are
seen) and the config's static `silences` (a fixed `starts`/`ends` window, or a `cron`
mute window of `duration`; APScheduler's CronTrigger only computes fire times here).
Matchers compare label → value, with `rule` and `severity` as implicit labels; a value
starting with `~` is a full-match regular expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from apscheduler.triggers.cron import CronTrigger

from ..model import Alert, parse_time
from ..settings import StaticSilence
from ..store import Silence, StateStore


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(matchers: Mapping[str, str], alert: Alert) -> bool:
    """True when every matcher holds for the alert's labels (plus rule and severity)."""
    for name, want in matchers.items():
        if name == "rule":
            have: str | None = alert.rule
        elif name == "severity" and name not in alert.labels:
            have = str(alert.severity)
        else:
            have = alert.labels.get(name)
        if have is None:
            return False
        if want.startswith("~"):
            if _regex(want[1:]).fullmatch(have) is None:
                return False
        elif have != want:
            return False
    return True


class CronWindow:
    """A recurring mute window: `duration` seconds from each cron fire time."""

    def __init__(self, cron: str, duration: float, timezone: str = "UTC") -> None:
        self.trigger = CronTrigger.from_crontab(cron, timezone=timezone)
        self.duration = duration

    def active_until(self, now: float) -> float | None:
        """End of the window containing `now`, or None when outside every window."""
        start = self._next_fire(now - self.duration)
        if start is None or start > now:
            return None
        end = start + self.duration
        # Overlapping windows (duration longer than the period) chain into one.
        while (nxt := self._next_fire(math.nextafter(start, math.inf))) is not None \
                and nxt <= end and nxt + self.duration > end:
            start, end = nxt, nxt + self.duration
        return end if end > now else None

    def _next_fire(self, at: float) -> float | None:
        dt = datetime.fromtimestamp(at, tz=UTC)
        fire = self.trigger.get_next_fire_time(None, dt)
        return None if fire is None else fire.timestamp()


class StaticRule:
    """One config silence, compiled."""

    def __init__(self, spec: StaticSilence) -> None:
        self.matchers = dict(spec.matchers)
        self.starts = -math.inf if spec.starts is None else parse_time(spec.starts)
        self.ends = math.inf if spec.ends is None else parse_time(spec.ends)
        self.window = (None if spec.cron is None else
                       CronWindow(spec.cron, spec.duration or 0.0, spec.timezone))

    def active_until(self, now: float) -> float | None:
        if not self.starts <= now < self.ends:
            return None
        if self.window is None:
            return self.ends
        end = self.window.active_until(now)
        return None if end is None else min(end, self.ends)


class SilenceStage:
    def __init__(self, static: Sequence[StaticSilence], store: StateStore | None,
                 *, refresh: float = 1.0) -> None:
        self.static = [StaticRule(s) for s in static]
        self.store = store
        self.refresh = refresh
        self._stored: list[Silence] = []
        self._loaded_at = -math.inf

    def reload(self, now: float) -> None:
        """Re-read store silences now (after a CLI change in this process)."""
        self._stored = [] if self.store is None else self.store.silences(now)
        self._loaded_at = now

    def muted_until(self, alert: Alert, now: float) -> float | None:
        """None when not silenced; else when the last matching silence ends (may be inf)."""
        if self.store is not None and (now - self._loaded_at >= self.refresh
                                       or now < self._loaded_at):
            self.reload(now)
        until: float | None = None
        for s in self._stored:
            if s.starts_at <= now < s.ends_at and matches(s.matchers, alert):
                until = s.ends_at if until is None else max(until, s.ends_at)
        for rule in self.static:
            end = rule.active_until(now)
            if end is not None and matches(rule.matchers, alert):
                until = end if until is None else max(until, end)
        return until
