"""A rule compiled once for the hot path, and the state of one of its instances.

`CompiledRule` resolves a `Rule` against `Defaults` (severity, notify, repeat, windows),
compiles its condition, message and dedup_key, and precomputes the labels every Alert
carries. `Instance` is the mutable state of one alert instance (one per distinct
`group_by` value set) with its JSON form for the state store. The state machine that
moves instances lives in `core.py`; this module only holds data and rendering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from ..model import Alert, Event, Reason, Severity, Status, dumps, fingerprint
from ..settings import Defaults
from ..templates import compile_template
from .conditions import (
    CompiledCondition,
    compile_condition,
    decode_slots,
    decode_value,
    encode_slots,
    encode_value,
)
from .rules import FieldCondition, Rule

GroupKey = tuple[tuple[str, str], ...]
FOR, KEEP, ABSENT, UNCHANGED, COUNT, FORGET, DEDUP = (
    "for", "keep", "absent", "unchanged", "count", "forget", "dedup")
"""Timer kinds; the engine's timer keys are (kind, fingerprint)."""
FAST_OPS = ("above", "below", "crosses_above", "crosses_below")


class CompiledRule:
    """Everything about a rule the engine needs per event, resolved at load."""

    def __init__(self, rule: Rule, defaults: Defaults) -> None:
        self.rule = rule
        self.id = rule.id
        self.source = rule.source
        self.event = rule.event
        self.event_mode = rule.mode == "event"
        self.where = {k: (frozenset(v) if isinstance(v, list) else v)
                      for k, v in rule.where.items()}
        self.group_by = tuple(rule.group_by)
        self.cond: CompiledCondition = compile_condition(rule.when)
        self.for_ = rule.for_ or 0.0
        self.keep_firing_for = rule.keep_firing_for or 0.0
        self.absent_for = rule.absent_for or 0.0
        self.unchanged_field = rule.unchanged_for.field if rule.unchanged_for else None
        self.unchanged_for = rule.unchanged_for.duration if rule.unchanged_for else 0.0
        self.count_n = rule.count.at_least if rule.count else 0
        self.count_within = rule.count.within if rule.count else 0.0
        self.max_instances = rule.max_instances
        self.severity = Severity.parse(rule.severity or defaults.severity)
        self.notify = tuple(rule.notify if rule.notify is not None else defaults.notify)
        self.repeat = rule.repeat if rule.repeat is not None else defaults.repeat
        self.resolve = rule.resolve
        self.dedup_window = (rule.dedup_window if rule.dedup_window is not None
                             else defaults.dedup_window)
        self.forget_after = defaults.forget_after
        self.message = compile_template(rule.message) if rule.message else None
        self.dedup_key = compile_template(rule.dedup_key) if rule.dedup_key else None
        self.base_labels = {**rule.labels, "rule": rule.id, "source": rule.source,
                            "severity": self.severity.name}
        self.value_field = (self.cond.value_field or self.unchanged_field)
        self.fp0 = fingerprint(rule.id)
        # group_by only on fields `where` pins to one value: a single, known instance
        self.fixed_group: GroupKey | None = None
        if all(k in rule.where and not isinstance(rule.where[k], list) for k in rule.group_by):
            self.fixed_group = tuple((k, str(rule.where[k])) for k in rule.group_by)

    def passes_where(self, data: Mapping[str, Any]) -> bool:
        for key, want in self.where.items():
            v = data.get(key)
            if isinstance(want, frozenset):
                try:
                    if v not in want:
                        return False
                except TypeError:
                    return False
            elif v != want:
                return False
        return True

    def group_of(self, data: Mapping[str, Any]) -> GroupKey | None:
        """The instance key, or None if the event lacks a group_by field."""
        out = []
        for name in self.group_by:
            v = data.get(name)
            if v is None:
                return None
            out.append((name, str(v)))
        return tuple(out)

    def fast_op(self) -> tuple[str, str, float, str | None, Any] | None:
        """(op, field, level, where key, where value) if the sorted-array path fits."""
        when = self.rule.when
        if (self.event_mode or self.fixed_group is None or self.absent_for
                or self.unchanged_field or self.count_n or not isinstance(when, FieldCondition)
                or len(self.where) > 1):
            return None
        if when.clear_above is not None or when.clear_below is not None:
            return None
        ops = when.operators()
        if len(ops) != 1 or ops[0] not in FAST_OPS:
            return None
        level = getattr(when, ops[0])
        if isinstance(level, bool) or not isinstance(level, (int, float)):
            return None
        key, value = next(iter(self.rule.where.items()), (None, None))
        if isinstance(value, list):
            return None
        return ops[0], when.field, level, key, value

    def render(self, inst: Instance, status: Status, event: Event | None) -> str:
        data: Mapping[str, Any] = event.data if event is not None else {}
        value = data.get(self.value_field) if self.value_field else None
        if value is None and self.value_field:
            value = inst.last_value
        if self.message is None:
            if self.value_field:
                return f"{self.id}: {self.value_field} = {value}"
            return f"{self.id}: {status}"
        # `event` holds every field unshadowed (an event's own `rule` or `status` field).
        ctx = {**data, "rule": self.id, "labels": inst.labels, "status": status,
               "value": value, "event": data}
        return self.message(ctx)

    def alert(self, inst: Instance, status: Status, reason: Reason, t: float,
              event: Event | None) -> Alert:
        return make_alert(
            self.id, status, reason, self.severity, inst.fp, inst.episode, inst.labels,
            self.render(inst, status, event),
            inst.starts_at if inst.starts_at is not None else t,
            t if status == "resolved" else None, event, self.notify, inst.pending_since,
            self.repeat, self.resolve)

    def event_key(self, event: Event) -> str:
        if self.dedup_key is not None:
            return self.dedup_key(event.data)
        return hashlib.sha256(dumps(dict(event.data)).encode()).hexdigest()[:16]


def _alert_factory() -> Callable[..., Alert]:
    """Build Alerts through the slot descriptors: the frozen dataclass __init__ pays an
    object.__setattr__ per field, which is most of the cost of a state change."""
    names = [f.name for f in fields(Alert)]
    setters = [getattr(Alert, n).__set__ for n in names]
    new = object.__new__

    def make(*values: Any) -> Alert:
        a: Alert = new(Alert)
        for setter, value in zip(setters, values, strict=True):
            setter(a, value)
        return a

    return make


make_alert = _alert_factory()
"""make_alert(rule, status, ..., send_resolved): Alert(...) positionally, field order."""


class Instance:
    """Mutable state of one alert instance (status: inactive|pending|firing|resolved)."""

    __slots__ = (
        "confirm",
        "counts",
        "emitted_at",
        "episode",
        "fp",
        "group",
        "keeping",
        "key",
        "labels",
        "last_event",
        "last_value",
        "pending_since",
        "resolved_at",
        "rule_id",
        "slots",
        "starts_at",
        "status",
        "unchanged",
    )

    def __init__(self, rule: CompiledRule, group: GroupKey, fp: str) -> None:
        self.rule_id = rule.id
        self.fp = fp
        self.group = group
        self.key: GroupKey | str = group  # its key in the engine's per-rule table
        self.labels: dict[str, str] = {**rule.base_labels, **dict(group)}
        self.status = "inactive"
        self.episode = 0
        self.pending_since: float | None = None
        self.starts_at: float | None = None
        self.resolved_at: float | None = None
        # firing, condition cleared: resolves at this time unless it holds again
        self.keeping: float | None = None
        self.confirm = False          # restored pending: next true evaluation confirms
        self.slots: list[Any] = [None] * rule.cond.nslots
        self.counts: list[float] = []
        self.unchanged: Any = _UNSEEN
        self.last_value: Any = None
        self.last_event: Event | None = None
        self.emitted_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status == "pending" or self.status == "firing"

    def to_state(self, rule: CompiledRule) -> dict[str, Any]:
        return {
            "group": [list(p) for p in self.group], "status": self.status,
            "episode": self.episode, "pending_since": self.pending_since,
            "starts_at": self.starts_at, "resolved_at": self.resolved_at,
            "keeping": self.keeping, "slots": encode_slots(self.slots, rule.cond.volatile),
            "counts": self.counts, "emitted_at": self.emitted_at,
            "unchanged": None if self.unchanged is _UNSEEN
            else {"v": encode_value(self.unchanged)},
            "last_value": encode_value(self.last_value),
            "event": None if self.last_event is None else self.last_event.to_json(),
        }

    def restored_timers(self, rule: CompiledRule, now: float) -> list[tuple[str, float]]:
        """Timers a restored instance needs (absent/unchanged are armed per rule)."""
        out: list[tuple[str, float]] = []
        if self.status == "pending" and self.pending_since is not None:
            out.append((FOR, self.pending_since + rule.for_))
        if self.status == "firing" and self.keeping is not None:
            out.append((KEEP, self.keeping))
        if self.status == "resolved" and self.resolved_at is not None:
            out.append((FORGET, self.resolved_at + rule.forget_after))
        if rule.event_mode and self.emitted_at is not None:
            out.append((DEDUP, self.emitted_at + rule.dedup_window))
        if rule.count_n and len(self.counts) >= rule.count_n:
            out.append((COUNT, self.counts[-rule.count_n] + rule.count_within))
        elif rule.count_n and self.status == "firing":
            out.append((COUNT, now))  # the window emptied while down: resolve now
        return out

    @classmethod
    def from_state(cls, rule: CompiledRule, fp: str, state: Mapping[str, Any]) -> Instance:
        group = tuple((str(k), str(v)) for k, v in state.get("group", ()))
        inst = cls(rule, group, fp)
        inst.status = state.get("status", "inactive")
        inst.episode = int(state.get("episode", 0))
        inst.pending_since = state.get("pending_since")
        inst.starts_at = state.get("starts_at")
        inst.resolved_at = state.get("resolved_at")
        keeping = state.get("keeping")
        inst.keeping = float(keeping) if isinstance(keeping, (int, float)) \
            and not isinstance(keeping, bool) else None
        inst.slots = decode_slots(state.get("slots"), rule.cond.nslots)
        inst.counts = [float(x) for x in state.get("counts", ())]
        inst.emitted_at = state.get("emitted_at")
        unchanged = state.get("unchanged")
        if isinstance(unchanged, dict):
            inst.unchanged = decode_value(unchanged.get("v"))
        inst.last_value = decode_value(state.get("last_value"))
        ev = state.get("event")
        inst.last_event = Event.from_json(ev) if isinstance(ev, Mapping) else None
        inst.confirm = inst.status == "pending"
        return inst


class _Unseen:
    def __repr__(self) -> str:
        return "<unseen>"


_UNSEEN: Any = _Unseen()


def instance_fp(rule: CompiledRule, group: GroupKey, key: str | None = None) -> str:
    return fingerprint(rule.id, group, key)


def compile_rules(rules: Sequence[Rule], defaults: Defaults) -> dict[str, CompiledRule]:
    return {r.id: CompiledRule(r, defaults) for r in rules if r.enabled}


def is_unseen(value: Any) -> bool:
    return value is _UNSEEN
