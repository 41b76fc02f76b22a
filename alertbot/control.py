"""ServiceControl: what chat commands (and later other front ends) may ask a running service.

The Telegram command handlers (`alertbot/chat/`) depend only on this Protocol, never on
the service itself: firing alerts, source connection states, the loaded rules, silences
(in the state store, the one shared with `alertbot silence`) and acks. `LocalControl`
is a ready implementation over plain callables and the store, which the service builds
from its pipeline, source manager and rules; tests build it from a bare pipeline.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .clock import Clock
from .model import Alert, Severity
from .store import Silence, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One loaded rule as `/rules` lists it."""

    id: str
    source: str
    event: str
    severity: Severity
    mode: str = "state"


class ServiceControl(Protocol):
    """The calls the chat commands make; every method is quick and never raises for
    "not found" (it returns False / an empty list instead)."""

    def firing(self) -> list[Alert]:
        """Alerts currently firing (one per instance), latest state."""
        ...

    def source_states(self) -> Mapping[str, str]:
        """Source name → `connected` | `disconnected` (what `connection` events said)."""
        ...

    def rules(self) -> list[RuleInfo]:
        """The rules now loaded, in file order."""
        ...

    def silences(self) -> list[Silence]:
        """Active and future silences from the store."""
        ...

    def silence_add(self, matchers: Mapping[str, str], duration: float, *,
                    comment: str = "", author: str = "chat") -> Silence:
        """Store a silence starting now for `duration` seconds and apply it at once."""
        ...

    def silence_remove(self, silence_id: str) -> bool:
        """Delete a silence by id; False when there is none."""
        ...

    def ack(self, alert: str) -> list[Alert]:
        """Stop reminders for the current episode of the firing alerts that `alert`
        names (a fingerprint, or a rule id for all its instances); returns those acked."""
        ...


class LocalControl:
    """`ServiceControl` over the service's parts (passed as callables, so no import)."""

    def __init__(self, *, store: StateStore, clock: Clock,
                 firing: Callable[[], Iterable[Alert]],
                 ack: Callable[[str], bool],
                 states: Callable[[], Mapping[str, str]] = dict,
                 rules: Callable[[], Sequence[RuleInfo]] = list,
                 on_silences_changed: Callable[[], None] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._firing = firing
        self._ack = ack
        self._states = states
        self._rules = rules
        self._changed = on_silences_changed

    def firing(self) -> list[Alert]:
        return sorted(self._firing(), key=lambda a: (-a.severity, a.starts_at, a.rule))

    def source_states(self) -> Mapping[str, str]:
        return dict(self._states())

    def rules(self) -> list[RuleInfo]:
        return list(self._rules())

    def silences(self) -> list[Silence]:
        return self._store.silences(self._clock.now())

    def silence_add(self, matchers: Mapping[str, str], duration: float, *,
                    comment: str = "", author: str = "chat") -> Silence:
        now = self._clock.now()
        silence = Silence(uuid.uuid4().hex[:12], dict(matchers), now, now + duration,
                          created_by=author, comment=comment)
        self._store.silence_add(silence)
        self._notify()
        log.info("silence %s added by %s: %s for %.0fs", silence.id, author,
                 dict(matchers), duration)
        return silence

    def silence_remove(self, silence_id: str) -> bool:
        removed = self._store.silence_remove(silence_id)
        if removed:
            self._notify()
        return removed

    def ack(self, alert: str) -> list[Alert]:
        chosen = [a for a in self.firing() if alert in (a.fingerprint, a.rule)]
        return [a for a in chosen if self._ack(a.fingerprint)]

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed()


def rule_infos(rules: Iterable[object]) -> list[RuleInfo]:
    """RuleInfo of engine rules (duck-typed: id, source, event, severity, mode)."""
    out = []
    for r in rules:
        severity = getattr(r, "severity", None)
        out.append(RuleInfo(str(getattr(r, "id", "?")), str(getattr(r, "source", "")),
                            str(getattr(r, "event", "")),
                            Severity.parse(severity) if severity is not None
                            else Severity.warning, str(getattr(r, "mode", "state"))))
    return out
