"""The Engine: events and timers in, Alerts out, exactly per DESIGN §2.6.

An event first fires every timer due at or before its time, then reaches only the rules
the index hands it (see `index.py`); each rule picks its instance by `group_by` and moves
it through inactive → pending (`for`) → firing → resolved, with `keep_firing_for`,
`absent_for`, `unchanged_for` and `count` driven by one `TimerHeap` on explicit times.
Event-mode rules emit one Alert per rendered `dedup_key` per `dedup_window`. Instance
state is persisted through the `StateStore` in one batch per `flush()`; `swap()` hot
reloads rules keeping the state of every rule whose `state_key()` is unchanged.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Hashable, Sequence
from typing import Any

from ..clock import Clock
from ..metrics import Metrics, NullMetrics
from ..model import Alert, Event
from ..settings import Defaults
from ..store import InstanceRecord, StateStore
from ..timers import TimerHeap
from .compiled import (
    ABSENT,
    COUNT,
    DEDUP,
    FOR,
    FORGET,
    KEEP,
    UNCHANGED,
    CompiledRule,
    GroupKey,
    Instance,
    compile_rules,
    instance_fp,
    is_unseen,
    make_alert,
)
from .index import FastEntry, Group, Index, bucket_moves, build_index
from .rules import Rule

log = logging.getLogger(__name__)



class Engine:
    def __init__(self, rules: Sequence[Rule], *, clock: Clock,
                 defaults: Defaults | None = None, store: StateStore | None = None,
                 metrics: Metrics | None = None) -> None:
        self._clock = clock
        self._defaults = defaults or Defaults()
        self._store = store
        self._metrics: Metrics = metrics or NullMetrics()
        self.timers = TimerHeap()
        self._rules: dict[str, CompiledRule] = compile_rules(rules, self._defaults)
        self._inst: dict[str, Instance] = {}
        self._index: Index = {}
        self._fast: dict[str, FastEntry] = {}
        # rule id → instance key (group_by values; fingerprint in event mode) → instance
        self._by_rule: dict[str, dict[GroupKey | str, Instance]] = {r: {} for r in self._rules}
        self._holders: dict[tuple[str, GroupKey], list[Any]] = {}
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._started = False
        self._latest = clock.now()
        self._rebuild_index()

    # ------------------------------------------------------------------ public API
    def start(self) -> list[Alert]:
        """Load persisted instances and arm absent_for/unchanged_for from clock.now()."""
        if self._started:
            return []
        self._started = True
        now = self._latest = self._clock.now()
        if self._store is not None:
            for rec in self._store.load_instances():
                self._restore(rec, now)
        for cr in self._rules.values():
            self._arm_rule(cr, now)
        return self.advance(now)

    def process(self, event: Event) -> list[Alert]:
        """Fire timers due at or before event.time, then evaluate the event."""
        out: list[Alert] = [] if self._started else self.start()
        t = self._latest = event.time
        if t >= self.timers.horizon:   # a lower bound of the next deadline: cheap to read
            out.extend(self.advance(t))
        ti = self._index.get((event.source, event.type))
        if ti is None:
            return out
        if ti.key is not None:
            try:
                group = ti.by_value.get(event.data.get(ti.key))
            except TypeError:  # an unhashable field value matches no where-value
                group = None
            if group is not None:
                self._eval_group(group, event, out)
        if ti.rest_used:
            self._eval_group(ti.rest, event, out)
        return out

    def advance(self, now: float) -> list[Alert]:
        """Fire all timers due at or before `now`, in time order."""
        out: list[Alert] = []
        self._latest = max(self._latest, now)
        for when, key in self.timers.pop_due(now):
            self._on_timer(when, key, out)
        return out

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def swap(self, rules: Sequence[Rule]) -> list[Alert]:
        """Hot reload: keep instances of rules whose state_key() is unchanged."""
        new = compile_rules(rules, self._defaults)
        for rid, old in self._rules.items():
            cr = new.get(rid)
            insts = self._by_rule.get(rid, {})
            if cr is None or cr.rule.state_key() != old.rule.state_key():
                for inst in list(insts.values()):
                    self._drop(inst.fp)
                continue
            for inst in insts.values():
                inst.labels = {**cr.base_labels, **dict(inst.group)}
                if cr.rule.when != old.rule.when:
                    inst.slots = [None] * cr.cond.nslots
        self._rules = new
        self._by_rule = {rid: self._by_rule.get(rid, {}) for rid in new}
        self._holders.clear()
        self._rebuild_index()
        now = self._clock.now()
        for cr in new.values():
            self._arm_rule(cr, now)
        return []

    def firing(self) -> list[Alert]:
        """Snapshot of firing instances as Alerts (status firing, reason first)."""
        out = []
        for inst in self._inst.values():
            cr = self._rules.get(inst.rule_id)
            if cr is not None and inst.status == "firing" and not cr.event_mode:
                out.append(cr.alert(inst, "firing", "first",
                                    inst.starts_at or 0.0, inst.last_event))
        return out

    def flush(self) -> None:
        """Write dirty instance state to the store in one batch."""
        if self._store is None or not (self._dirty or self._deleted):
            self._dirty.clear()
            self._deleted.clear()
            return
        self._metrics.set("engine_instances", float(len(self._inst)))
        changed = []
        for fp in self._dirty:
            inst = self._inst.get(fp)
            cr = None if inst is None else self._rules.get(inst.rule_id)
            if inst is not None and cr is not None:
                changed.append(InstanceRecord(inst.rule_id, fp, inst.to_state(cr)))
        self._store.save_instances(changed, sorted(self._deleted - self._dirty))
        self._dirty.clear()
        self._deleted.clear()

    # ------------------------------------------------------------------ evaluation
    def _eval_group(self, group: Group, event: Event, out: list[Alert]) -> None:
        data = event.data
        for b in group.buckets:
            v: Any = data.get(b.field)
            try:
                if b.gap_lo < v < b.gap_hi:   # still between the same two thresholds
                    b.prev = v
                    continue
            except TypeError:   # not a number: not a sample
                continue
            moves = bucket_moves(b, v)
            if moves:
                v, t = b.prev, event.time
                for e, truth in moves:
                    inst = e.inst or self._fast_instance(e)
                    inst.last_event = event
                    inst.last_value = v
                    self._set_truth(e.rule, inst, truth, t, event, out)
        for cr in group.slow:
            self._eval_rule(cr, event, out)

    def _fast_instance(self, e: FastEntry) -> Instance:
        assert e.rule.fixed_group is not None
        inst = self._instance(e.rule, e.rule.fixed_group)
        assert inst is not None  # the rule's only instance: never refused
        e.inst = inst
        return inst

    def _eval_rule(self, cr: CompiledRule, event: Event, out: list[Alert]) -> None:
        data = event.data
        if cr.where and not cr.passes_where(data):
            return
        group = cr.group_of(data) if cr.group_by else ()
        if group is None:
            self._metrics.inc("engine_events_skipped_total", rule=cr.id,
                              reason="missing_group_by_field")
            return
        t = event.time
        if cr.event_mode:
            self._eval_event_mode(cr, group, event, out)
            return
        inst = self._instance(cr, group)
        if inst is None:
            return
        truth = cr.cond.evaluate(data, inst.slots, t)
        self._dirty.add(inst.fp)
        if truth is not None:
            inst.last_event = event
            if cr.value_field is not None:
                inst.last_value = data.get(cr.value_field, inst.last_value)
        if cr.absent_for:
            self._eval_absent(cr, inst, truth, event, out)
        elif cr.unchanged_field is not None:
            self._eval_unchanged(cr, inst, truth, event, out)
        elif cr.count_n:
            self._eval_count(cr, inst, truth, event, out)
        else:
            self._set_truth(cr, inst, truth, t, event, out)

    def _eval_absent(self, cr: CompiledRule, inst: Instance, truth: bool | None,
                     event: Event, out: list[Alert]) -> None:
        if not truth:
            return
        t = event.time
        if cr.group_by:
            # the rule-level instance armed at start-up stands for "nothing seen yet"
            top = self._by_rule[cr.id].get(())
            if top is not None:
                self._set_truth(cr, top, False, t, event, out)
                if not top.active:
                    self._drop(top.fp)
        self._set_truth(cr, inst, False, t, event, out)
        self.timers.schedule((ABSENT, inst.fp), t + cr.absent_for)

    def _eval_unchanged(self, cr: CompiledRule, inst: Instance, truth: bool | None,
                        event: Event, out: list[Alert]) -> None:
        assert cr.unchanged_field is not None
        value = event.data.get(cr.unchanged_field)
        if not truth or value is None:
            return
        if is_unseen(inst.unchanged) or value != inst.unchanged:
            inst.unchanged = value
            t = event.time
            self.timers.schedule((UNCHANGED, inst.fp), t + cr.unchanged_for)
            self._set_truth(cr, inst, False, t, event, out)

    def _eval_count(self, cr: CompiledRule, inst: Instance, truth: bool | None,
                    event: Event, out: list[Alert]) -> None:
        if not truth:
            return
        t = event.time
        counts = inst.counts
        counts.append(t)
        cut = bisect_right(counts, t - cr.count_within)
        if cut:
            del counts[:cut]
        if len(counts) >= cr.count_n:
            self.timers.schedule((COUNT, inst.fp), counts[-cr.count_n] + cr.count_within)
            self._set_truth(cr, inst, True, t, event, out)

    def _eval_event_mode(self, cr: CompiledRule, group: GroupKey, event: Event,
                         out: list[Alert]) -> None:
        holder = self._holders.get((cr.id, group))
        if holder is None:
            holder = self._holders[(cr.id, group)] = [None] * cr.cond.nslots
        t = event.time
        if not cr.cond.evaluate(event.data, holder, t):
            return
        fp = instance_fp(cr, group, cr.event_key(event))
        inst = self._inst.get(fp)
        if inst is not None and inst.emitted_at is not None \
                and t < inst.emitted_at + cr.dedup_window:
            self._metrics.inc("engine_event_duplicates_total", rule=cr.id)
            return
        if inst is None:
            inst = self._register(cr, Instance(cr, group, fp))
        # the entry is forgotten after the window, but the pipeline's notify log (keyed
        # by fingerprint and episode) lives longer: an epoch-based episode never repeats
        inst.episode = max(inst.episode + 1, int(t))
        inst.emitted_at = inst.starts_at = t
        inst.last_event = event
        self._dirty.add(fp)
        self.timers.schedule((DEDUP, fp), t + cr.dedup_window)
        out.append(make_alert(cr.id, "firing", "event", cr.severity, fp, inst.episode,
                              inst.labels, cr.render(inst, "firing", event), t, t, event,
                              cr.notify, None, cr.repeat, cr.resolve))

    # ------------------------------------------------------------------ lifecycle
    def _set_truth(self, cr: CompiledRule, inst: Instance, truth: bool | None,
                   t: float, event: Event | None, out: list[Alert]) -> None:
        if truth is None:
            return
        status = inst.status
        if truth:
            if status == "firing":
                if inst.keeping is not None:
                    inst.keeping = None
                    self.timers.cancel((KEEP, inst.fp))
                    self._dirty.add(inst.fp)
            elif status == "pending":
                if inst.confirm:
                    self._confirm(cr, inst, t, event, out)
            elif cr.for_ > 0:
                inst.status = "pending"
                inst.pending_since = t
                self.timers.schedule((FOR, inst.fp), t + cr.for_)
                self._dirty.add(inst.fp)
            else:
                inst.pending_since = None
                self._fire(cr, inst, t, event, out)
        elif status == "pending":
            inst.status = "inactive"
            inst.pending_since = None
            inst.confirm = False
            self.timers.cancel((FOR, inst.fp))
            self._dirty.add(inst.fp)
        elif status == "firing" and inst.keeping is None:
            if cr.keep_firing_for > 0:
                inst.keeping = t + cr.keep_firing_for
                self.timers.schedule((KEEP, inst.fp), inst.keeping)
                self._dirty.add(inst.fp)
            else:
                self._resolve(cr, inst, t, event, out)

    def _confirm(self, cr: CompiledRule, inst: Instance, t: float, event: Event | None,
                 out: list[Alert]) -> None:
        """A restored pending instance: the first true evaluation confirms it."""
        inst.confirm = False
        if (FOR, inst.fp) not in self.timers:
            self._fire(cr, inst, t, event, out)

    def _fire(self, cr: CompiledRule, inst: Instance, t: float, event: Event | None,
              out: list[Alert]) -> None:
        inst.status = "firing"
        inst.episode += 1
        inst.starts_at = t
        inst.resolved_at = None
        inst.keeping = None
        self.timers.cancel((FORGET, inst.fp))
        self._dirty.add(inst.fp)
        out.append(cr.alert(inst, "firing", "first", t, event or inst.last_event))

    def _resolve(self, cr: CompiledRule, inst: Instance, t: float, event: Event | None,
                 out: list[Alert]) -> None:
        inst.status = "resolved"
        inst.resolved_at = t
        inst.keeping = None
        self.timers.cancel((KEEP, inst.fp))
        self._dirty.add(inst.fp)
        if cr.resolve:
            out.append(cr.alert(inst, "resolved", "resolved", t, event or inst.last_event))
        self.timers.schedule((FORGET, inst.fp), t + cr.forget_after)

    def _on_timer(self, when: float, key: Hashable, out: list[Alert]) -> None:
        kind, fp = _timer_key(key)
        inst = self._inst.get(fp)
        cr = None if inst is None else self._rules.get(inst.rule_id)
        if inst is None or cr is None:
            return
        if kind == FOR:
            if inst.status == "pending" and not inst.confirm:
                self._fire(cr, inst, when, None, out)
        elif kind == KEEP:
            if inst.status == "firing" and inst.keeping is not None:
                self._resolve(cr, inst, when, None, out)
        elif (kind == ABSENT and cr.absent_for) or (kind == UNCHANGED and cr.unchanged_field):
            self._set_truth(cr, inst, True, when, None, out)
        elif kind == COUNT and cr.count_n:
            self._count_expired(cr, inst, when, out)
        elif kind == FORGET:
            # an instance still watched by absent_for/unchanged_for must not be dropped
            if not inst.active and (ABSENT, fp) not in self.timers \
                    and (UNCHANGED, fp) not in self.timers:
                self._drop(fp)
        elif kind == DEDUP:
            self._drop(fp)

    def _count_expired(self, cr: CompiledRule, inst: Instance, when: float,
                       out: list[Alert]) -> None:
        counts = inst.counts
        cut = bisect_right(counts, when - cr.count_within)
        if cut:
            del counts[:cut]
            self._dirty.add(inst.fp)
        if len(counts) < cr.count_n:
            self._set_truth(cr, inst, False, when, None, out)
        else:
            self.timers.schedule((COUNT, inst.fp), counts[-cr.count_n] + cr.count_within)

    # ------------------------------------------------------------------ instances
    def _instance(self, cr: CompiledRule, group: GroupKey) -> Instance | None:
        table = self._by_rule[cr.id]
        inst = table.get(group)
        if inst is not None:
            return inst
        if len(table) >= cr.max_instances and not self._evict(cr):
            self._metrics.inc("engine_instances_refused_total", rule=cr.id)
            return None
        fp = instance_fp(cr, group) if group else cr.fp0
        return self._register(cr, Instance(cr, group, fp))

    def _evict(self, cr: CompiledRule) -> bool:
        """At max_instances, make room by forgetting one instance that never fired and
        has seen no event for forget_after (only scanned when the rule is full)."""
        now = self._latest
        for inst in self._by_rule[cr.id].values():
            if inst.status == "inactive" and (
                    inst.last_event is None or inst.last_event.time <= now - cr.forget_after):
                self._drop(inst.fp)
                return True
        return False

    def _register(self, cr: CompiledRule, inst: Instance) -> Instance:
        self._inst[inst.fp] = inst
        inst.key = inst.fp if cr.event_mode else inst.group
        self._by_rule.setdefault(cr.id, {})[inst.key] = inst
        self._deleted.discard(inst.fp)
        return inst

    def _drop(self, fp: str) -> None:
        inst = self._inst.pop(fp, None)
        if inst is None:
            return
        self._by_rule.get(inst.rule_id, {}).pop(inst.key, None)
        for kind in (FOR, KEEP, ABSENT, UNCHANGED, COUNT, FORGET, DEDUP):
            self.timers.cancel((kind, fp))
        entry = self._fast.get(inst.rule_id)
        if entry is not None and entry.inst is inst:
            entry.inst = None
        self._dirty.discard(fp)
        self._deleted.add(fp)

    def _restore(self, rec: InstanceRecord, now: float) -> None:
        cr = self._rules.get(rec.rule_id)
        if cr is None:
            self._deleted.add(rec.fingerprint)  # its rule is gone: forget silently
            return
        inst = self._register(cr, Instance.from_state(cr, rec.fingerprint, rec.state))
        for kind, when in inst.restored_timers(cr, now):
            self.timers.schedule((kind, inst.fp), when)
        entry = self._fast.get(cr.id)
        if entry is not None and inst.group == cr.fixed_group:
            entry.inst = inst

    def _arm_rule(self, cr: CompiledRule, now: float) -> None:
        """absent_for/unchanged_for: (re-)armed from start-up with the full duration."""
        if cr.absent_for:
            insts = self._by_rule.get(cr.id, {})
            if not insts:
                inst = self._instance(cr, ())
                insts = {} if inst is None else {inst.key: inst}
            for inst in insts.values():
                if inst.status != "firing" and (ABSENT, inst.fp) not in self.timers:
                    self.timers.schedule((ABSENT, inst.fp), now + cr.absent_for)
        elif cr.unchanged_field is not None:
            for inst in self._by_rule.get(cr.id, {}).values():
                if (inst.status != "firing" and not is_unseen(inst.unchanged)
                        and (UNCHANGED, inst.fp) not in self.timers):
                    self.timers.schedule((UNCHANGED, inst.fp), now + cr.unchanged_for)

    def _rebuild_index(self) -> None:
        self._index = build_index(self._rules.values(), self._index or None)
        self._fast = {}
        for ti in self._index.values():
            for group in [ti.rest, *ti.by_value.values()]:
                for b in group.buckets:
                    for e in b.entries:
                        self._fast[e.rule.id] = e
                        fixed = e.rule.fixed_group
                        assert fixed is not None
                        e.inst = self._by_rule.get(e.rule.id, {}).get(fixed)


def _timer_key(key: Hashable) -> tuple[str, str]:
    assert isinstance(key, tuple)
    return str(key[0]), str(key[1])
