"""The Pipeline: alerts from the engine in, notifications (written to the outbox) out.

Stages are composed once by `build_pipeline` (silence → inhibit → route → dedup →
outbox); this module holds the state between them: which instances are firing, which
were held back by a silence or an inhibition, acks, and the pipeline's own timers
(repeat reminders at last_sent + repeat, and release checks `inhibit_grace` after a
silence or inhibition ends). Every decision uses the time it is made for (an alert's
tick or a timer's deadline), so live runs and replays produce the same notifications.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from ..engine.rules import Rule
from ..metrics import Metrics, NullMetrics
from ..model import Alert, Notification
from ..timers import TimerHeap
from .dedup import DedupStage
from .inhibit import InhibitStage
from .outbox import OutboxStage
from .route import RouteStage
from .silence import SilenceStage

log = logging.getLogger(__name__)

Mute = Literal["silenced", "inhibited"]


@dataclasses.dataclass(frozen=True, slots=True)
class Stages:
    silence: SilenceStage
    inhibit: InhibitStage
    route: RouteStage
    dedup: DedupStage
    outbox: OutboxStage


class Pipeline:
    def __init__(self, stages: Stages, *, inhibit_grace: float,
                 dedup_windows: Mapping[str, float], default_dedup_window: float,
                 metrics: Metrics | None = None) -> None:
        self.stages = stages
        self.inhibit_grace = inhibit_grace
        self.dedup_windows = dict(dedup_windows)
        self.default_dedup_window = default_dedup_window
        self.metrics: Metrics = metrics or NullMetrics()
        self.timers = TimerHeap()
        self._active: dict[str, Alert] = {}     # firing state-mode alerts by fingerprint
        self._held: dict[str, Alert] = {}       # firing, but nothing delivered (muted)
        self._acked: set[tuple[str, int]] = set()
        self._pruned_at = -math.inf
        self.suppressed: Counter[str] = Counter()   # alerts muted, by reason (digest)

    # -- public API --------------------------------------------------------------------
    def submit(self, alerts: Iterable[Alert], now: float) -> list[Notification]:
        """Route one tick's alerts; writes the outbox batch and returns what it holds."""
        batch = list(alerts)
        if not batch:  # the hot path: most events change no alert
            return []
        released = False
        # Inhibitor state first, so an inhibitor and its target in one tick interact.
        for a in batch:
            self.metrics.inc("rule_matches_total", rule=a.rule, status=a.status)
            released |= self.stages.inhibit.observe(a)
            if a.reason == "event":
                continue
            if a.status == "firing":
                self._active[a.fingerprint] = a
            elif self._active.get(a.fingerprint, a).episode == a.episode:
                self._active.pop(a.fingerprint, None)
        out: list[Notification] = []
        for a in batch:
            out += self._resolved(a, now) if a.status == "resolved" else self._firing(a, now)
        if released:
            for fp in self._held:
                self.timers.schedule(("release", fp), now + self.inhibit_grace)
        self.stages.outbox.write(out, now)
        self._prune(now)
        return out

    def advance(self, now: float) -> list[Notification]:
        """Fire reminder and release timers due at or before `now`."""
        out: list[Notification] = []
        for when, key in self.timers.pop_due(now):
            assert isinstance(key, tuple)
            if key[0] == "repeat":
                out += self._repeat(key[1], key[2], when)
            else:
                out += self._release(key[1], when)
        self.stages.outbox.write(out, now)
        self._prune(now)
        return out

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def ack(self, fingerprint: str) -> bool:
        """Stop reminders for the current episode of a firing instance."""
        a = self._active.get(fingerprint)
        if a is None:
            return False
        self._acked.add((fingerprint, a.episode))
        for name in self.stages.route.targets(a):
            self.timers.cancel(("repeat", fingerprint, name))
        return True

    def restore(self, firing: Iterable[Alert], now: float) -> None:
        """After a restart: re-arm reminders from the notify log, re-check what was held."""
        alerts = [a for a in firing if a.status == "firing" and a.reason != "event"]
        for a in alerts:
            self.stages.inhibit.observe(a)
            self._active[a.fingerprint] = a
        for a in alerts:
            delivered = False
            for name in self.stages.route.targets(a):
                last = self.stages.dedup.last(a.fingerprint, a.episode, name)
                if last is not None and last.status == "firing":
                    delivered = True
                    if a.repeat > 0:
                        self.timers.schedule(("repeat", a.fingerprint, name),
                                             last.sent_at + a.repeat)
            if not delivered:
                self._held[a.fingerprint] = a
                self.timers.schedule(("release", a.fingerprint), now)

    def firing(self) -> list[Alert]:
        return list(self._active.values())

    def swap_rules(self, rules: Iterable[Rule], dedup_windows: Mapping[str, float]) -> None:
        """Hot reload: new inhibit relations and dedup windows; firing state is kept."""
        self.stages = dataclasses.replace(
            self.stages, inhibit=self.stages.inhibit.rebuilt(rules))
        self.dedup_windows = dict(dedup_windows)

    def _prune(self, now: float) -> None:
        # Event-mode dedup entries are the only ones not ended by a resolve; drop those
        # older than the longest window once a minute so memory stays bounded.
        if now - self._pruned_at < 60.0:
            return
        self._pruned_at = now
        longest = max([self.default_dedup_window, *self.dedup_windows.values()])
        self.stages.dedup.prune_events(now - longest)

    # -- stages ------------------------------------------------------------------------
    def _mute(self, a: Alert, now: float) -> tuple[Mute, float] | None:
        until = self.stages.silence.muted_until(a, now)
        if until is not None:
            return "silenced", until
        if self.stages.inhibit.inhibited(a):
            return "inhibited", math.inf
        return None

    def _firing(self, a: Alert, now: float) -> list[Notification]:
        mute = self._mute(a, now)
        if mute is None:
            return self._send(a, now)
        self.metrics.inc("alertbot_alerts_suppressed_total", reason=mute[0], rule=a.rule)
        self.suppressed[mute[0]] += 1
        log.debug("%s %s %s", a.rule, a.fingerprint, mute[0])
        if a.reason != "event":
            self._hold(a, mute)
        return []

    def _hold(self, a: Alert, mute: tuple[Mute, float]) -> None:
        self._held[a.fingerprint] = a
        if mute[0] == "silenced" and math.isfinite(mute[1]):
            self.timers.schedule(("release", a.fingerprint), mute[1] + self.inhibit_grace)
        else:
            self.timers.cancel(("release", a.fingerprint))

    def _resolved(self, a: Alert, now: float) -> list[Notification]:
        self._held.pop(a.fingerprint, None)
        self.timers.cancel(("release", a.fingerprint))
        self._acked.discard((a.fingerprint, a.episode))
        out = self._send(a, now)
        for name in self.stages.route.targets(dataclasses.replace(a, status="firing")):
            key = ("repeat", a.fingerprint, name)
            if key in self.timers and a.fingerprint not in self._active:
                self.timers.cancel(key)
        self.stages.dedup.forget(a.fingerprint, a.episode)
        return out

    def _send(self, a: Alert, now: float, seq: int = 0) -> list[Notification]:
        out: list[Notification] = []
        dedup = self.stages.dedup
        for name in self.stages.route.targets(a):
            why = dedup.decide(a, name)
            if why == "already notified" and a.reason == "event":
                last = dedup.last(a.fingerprint, a.episode, name)
                window = self.dedup_windows.get(a.rule, self.default_dedup_window)
                if last is not None and now - last.sent_at >= window:
                    why = None
            if why is not None:
                self.metrics.inc("alertbot_alerts_deduplicated_total", notifier=name)
                continue
            dedup.record(a, name, now)
            out.append(Notification(Notification.make_id(a, name, seq), a, name, now))
            self.metrics.inc("alertbot_notifications_total", notifier=name,
                             reason=a.reason)
            if a.status == "firing" and a.reason != "event" and a.repeat > 0:
                self.timers.schedule(("repeat", a.fingerprint, name), now + a.repeat)
        return out

    # -- timers ------------------------------------------------------------------------
    def _repeat(self, fp: str, notifier: str, when: float) -> list[Notification]:
        a = self._active.get(fp)
        if a is None or a.repeat <= 0 or (fp, a.episode) in self._acked:
            return []
        if self._mute(a, when) is not None:
            self.timers.schedule(("repeat", fp, notifier), when + a.repeat)
            return []
        reminder = dataclasses.replace(a, reason="repeat")
        if notifier not in self.stages.route.targets(reminder):
            return []
        if self.stages.dedup.decide(reminder, notifier) is not None:
            return []
        self.stages.dedup.record(reminder, notifier, when)
        self.timers.schedule(("repeat", fp, notifier), when + a.repeat)
        self.metrics.inc("alertbot_notifications_total", notifier=notifier, reason="repeat")
        seq = round(when * 1000)
        return [Notification(Notification.make_id(reminder, notifier, seq), reminder,
                             notifier, when)]

    def _release(self, fp: str, when: float) -> list[Notification]:
        held = self._held.pop(fp, None)
        a = self._active.get(fp)
        if held is None or a is None or a.episode != held.episode:
            return []
        mute = self._mute(a, when)
        if mute is not None:
            self._hold(a, mute)
            return []
        return self._send(a, when)
