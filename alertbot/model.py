"""The value types that travel along the pipeline: Event, Alert, Notification, Severity.

Every arrow in the architecture (source → engine → pipeline → notifier) carries one of
these frozen values, so the feature packages meet here and never import each other.
Times are float epoch seconds (UTC) inside the process, for speed on the hot path; they
become RFC 3339 strings only at the JSON edges (`to_json`/`from_json`). Stdlib only.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

import msgspec

Status = Literal["firing", "resolved"]
Reason = Literal["first", "repeat", "resolved", "event"]


class Severity(enum.IntEnum):
    """Ordered so that `min_severity` is a plain comparison."""

    info = 10
    warning = 20
    critical = 30

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[value]
        except KeyError:
            raise ValueError(
                f"unknown severity {value!r}; expected one of info, warning, critical"
            ) from None

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------- time


@lru_cache(maxsize=1024)
def format_time(t: float) -> str:
    """RFC 3339 in UTC with millisecond precision and a `Z` suffix (cached: the alerts of
    one event share its time, and a notification body spells several times)."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    # Fields by hand: strftime is the slowest step of building a notification body.
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z")


def parse_time(text: str) -> float:
    """Parse RFC 3339 (`Z` or an offset; a naive time is taken as UTC) to epoch seconds."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# ---------------------------------------------------------------------------- json


def json_default(value: Any) -> Any:
    """JSON encoding for the non-JSON types that appear in event data."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(obj: Any) -> str:
    """Compact, key-sorted JSON: the one spelling used for output and hashing."""
    return json.dumps(obj, default=json_default, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


# ---------------------------------------------------------------------------- event


class Event(msgspec.Struct):
    """Something a source observed. `data` holds typed fields declared by the source.

    Treated as immutable everywhere, but neither frozen nor a dataclass: one is built
    per frame on the hot path, and a msgspec Struct (slots, equality and repr like a
    dataclass) is built in C at half the cost of a slots dataclass, a third of a frozen
    one.
    """

    source: str
    type: str
    time: float
    data: Mapping[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "type": self.type, "time": format_time(self.time),
                "data": dict(self.data)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Event:
        """Build from the canonical JSON shape (DESIGN §2.4); raises ValueError if malformed."""
        if not isinstance(obj, Mapping):
            raise ValueError("an event must be a JSON object")
        missing = [k for k in ("source", "type", "time") if k not in obj]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        source, etype, t = obj["source"], obj["type"], obj["time"]
        if not isinstance(source, str) or not isinstance(etype, str):
            raise ValueError("event 'source' and 'type' must be strings")
        data = obj.get("data", {})
        if not isinstance(data, Mapping):
            raise ValueError("event 'data' must be an object")
        return cls(source, etype, _time_value(t), dict(data))


def _time_value(t: Any) -> float:
    if isinstance(t, bool):
        raise ValueError("event 'time' must be an RFC 3339 string or epoch seconds")
    if isinstance(t, (int, float)):
        return float(t)
    if isinstance(t, str):
        try:
            return parse_time(t)
        except ValueError:
            raise ValueError(f"event 'time' {t!r} is not RFC 3339") from None
    raise ValueError("event 'time' must be an RFC 3339 string or epoch seconds")


# ---------------------------------------------------------------------------- identity


def fingerprint(rule_id: str, group: Sequence[tuple[str, Any]] = (),
                dedup_key: str | None = None) -> str:
    """Stable identity of an alert instance: hash(rule id, sorted group_by values[, key])."""
    parts: list[Any] = [rule_id, sorted((k, str(v)) for k, v in group)]
    if dedup_key is not None:
        parts.append(dedup_key)
    return hashlib.sha256(dumps(parts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- alert


@dataclass(frozen=True, slots=True)
class Alert:
    """A state change (or an event-mode match) of one rule instance, from the engine.

    `episode` counts firing episodes of one fingerprint (1, 2, ...); the notify log is
    keyed by (fingerprint, episode, notifier). `notify`, `repeat` and `send_resolved` are
    the rule's resolved routing settings, carried so the pipeline needs no rule lookup.
    """

    rule: str
    status: Status
    reason: Reason
    severity: Severity
    fingerprint: str
    episode: int
    labels: Mapping[str, str]
    text: str
    starts_at: float
    ends_at: float | None
    event: Event | None
    notify: tuple[str, ...] = ()
    pending_since: float | None = None
    repeat: float = 0.0
    send_resolved: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "reason": self.reason,
            "severity": str(self.severity),
            "fingerprint": self.fingerprint,
            "episode": self.episode,
            "labels": dict(self.labels),
            "text": self.text,
            "starts_at": format_time(self.starts_at),
            "pending_since": (None if self.pending_since is None
                              else format_time(self.pending_since)),
            "ends_at": None if self.ends_at is None else format_time(self.ends_at),
            "event": None if self.event is None else self.event.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert addressed to one notifier: the unit of the outbox and of delivery.

    `id` is stable for the same (fingerprint, episode, notifier, reason, sequence), so a
    retried delivery carries the same id (the webhook's `webhook-id`).
    """

    id: str
    alert: Alert
    notifier: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        out = self.alert.to_json()
        out["notifier"] = self.notifier
        out["id"] = self.id
        return out

    @staticmethod
    def make_id(alert: Alert, notifier: str, seq: int = 0) -> str:
        raw = f"{alert.fingerprint}|{alert.episode}|{notifier}|{alert.reason}|{seq}"
        return "msg_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def alert_from_json(obj: Mapping[str, Any]) -> Alert:
    """Inverse of Alert.to_json (used by the outbox to rebuild rows)."""
    ev = obj.get("event")
    return Alert(
        rule=obj["rule"],
        status=obj["status"],
        reason=obj["reason"],
        severity=Severity.parse(obj["severity"]),
        fingerprint=obj["fingerprint"],
        episode=int(obj.get("episode", 1)),
        labels=dict(obj.get("labels", {})),
        text=obj.get("text", ""),
        starts_at=parse_time(obj["starts_at"]),
        ends_at=None if obj.get("ends_at") is None else parse_time(obj["ends_at"]),
        event=None if ev is None else Event.from_json(ev),
        notify=tuple(obj.get("notify", ())),
        pending_since=(None if obj.get("pending_since") is None
                       else parse_time(obj["pending_since"])),
    )


def notification_from_json(obj: Mapping[str, Any], created_at: float) -> Notification:
    return Notification(id=obj["id"], alert=alert_from_json(obj), notifier=obj["notifier"],
                        created_at=created_at)
