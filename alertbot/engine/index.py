"""The rule index: which compiled rules an event can reach, found by dict lookups.

Rules are grouped by (source, event type), then by the value of one `where` field (the
field most rules of that type filter on, e.g. `symbol`). Within a group, single-threshold
rules (above/below/crosses on one numeric field, no group_by) sit in sorted arrays per
field: an event bisects between the bucket's previous value and the new one and touches
only the rules whose threshold lies in between, i.e. the only ones whose truth can
change. Everything else is a "slow" rule evaluated in full for each reaching event.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .compiled import CompiledRule, Instance


class FastEntry:
    """One single-threshold rule in a bucket; `inst` is bound lazily by the engine."""

    __slots__ = ("edge", "inst", "level", "rule", "upper")

    def __init__(self, rule: CompiledRule, level: float, edge: bool, upper: bool) -> None:
        self.rule = rule
        self.level = level
        self.edge = edge
        self.upper = upper
        self.inst: Instance | None = None


class Bucket:
    """Sorted thresholds of one field within one where-group."""

    __slots__ = ("entries", "field", "full", "gap_hi", "gap_lo", "keys", "prev")

    def __init__(self, field: str, entries: list[FastEntry], prev: Any = None) -> None:
        self.field = field
        # one array for above- and below-type thresholds: one bisect pair per event
        self.entries = sorted(entries, key=lambda e: e.level)
        self.keys = [e.level for e in self.entries]
        self.prev = prev
        # evaluate every entry on the next sample (first sample, or after a reload)
        self.full = True
        # The open interval between the thresholds around `prev` (empty until known): a
        # sample inside it crossed nothing, which is what most samples of a feed do.
        self.gap_lo, self.gap_hi = _INF, -_INF

    def _set_gap(self, v: Any) -> None:
        keys = self.keys
        k = bisect_left(keys, v)
        if k < len(keys) and keys[k] == v:   # on a threshold: no gap, bisect next time
            self.gap_lo, self.gap_hi = _INF, -_INF
        else:
            self.gap_lo = keys[k - 1] if k else -_INF
            self.gap_hi = keys[k] if k < len(keys) else _INF


class Group:
    __slots__ = ("buckets", "slow")

    def __init__(self) -> None:
        self.buckets: list[Bucket] = []
        self.slow: list[CompiledRule] = []


class TypeIndex:
    """Rules of one (source, event type)."""

    __slots__ = ("by_value", "key", "rest", "rest_used")

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.by_value: dict[Any, Group] = {}
        self.rest = Group()
        self.rest_used = False   # any rule in `rest` (set once the index is built)


Index = dict[tuple[str, str], TypeIndex]
Moves = list[tuple[FastEntry, bool]]


def bucket_moves(b: Bucket, v: Any) -> Moves | None:
    """Record sample `v` in the bucket; return (entry, new truth) for each threshold
    the move from the previous value crossed (or every entry on a full evaluation).
    The caller has already seen that `v` is not inside the bucket's gap (a sample
    there crossed nothing and only becomes `prev`)."""
    prev = b.prev
    try:
        if v == prev or v - 0 != v:  # unchanged, NaN, or (TypeError) not a number
            return None
        b._set_gap(v)
        if b.full:
            b.full = False
            b.prev = v
            return _full_moves(b, v, prev)
        rising = v > prev
    except TypeError:
        return None
    b.prev = v
    lo, hi = (prev, v) if rising else (v, prev)
    keys = b.keys
    i = bisect_left(keys, lo)
    j = bisect_right(keys, hi, i)
    if i == j:
        return None
    # above-type thresholds flip for L in [lo, hi), below-type for L in (lo, hi]
    return [(e, rising if e.upper else not rising) for e in b.entries[i:j]
            if (e.level < hi if e.upper else e.level > lo)]


def _full_moves(b: Bucket, v: Any, prev: Any) -> Moves:
    """First sample (or after a reload): every entry from scratch; an edge whose level
    is already passed fires only if `prev` shows the crossing (or it is active)."""
    moves: Moves = []
    for e in b.entries:
        level = e.level
        truth = v > level if e.upper else v < level
        armed = prev is not None and (prev <= level if e.upper else prev >= level)
        if truth and e.edge and not armed and not (e.inst is not None and e.inst.active):
            continue  # the first sample after start only arms an edge
        moves.append((e, truth))
    return moves


def build_index(rules: Iterable[CompiledRule], old: Index | None = None) -> Index:
    """Index rules; bucket `prev` values carry over from `old` so edges stay armed."""
    by_type: dict[tuple[str, str], list[CompiledRule]] = {}
    for r in rules:
        by_type.setdefault((r.source, r.event), []).append(r)
    index: Index = {}
    for key, rs in by_type.items():
        index[key] = _type_index(rs, None if old is None else old.get(key))
    return index


def _type_index(rules: list[CompiledRule], old: TypeIndex | None) -> TypeIndex:
    fields: Counter[str] = Counter(k for r in rules for k in r.where)
    ti = TypeIndex(fields.most_common(1)[0][0] if fields else None)
    fast: dict[tuple[Any, str], list[FastEntry]] = {}
    for r in rules:
        spec = r.fast_op()
        key_value = r.where.get(ti.key) if ti.key is not None else None
        if spec is not None and (spec[3] is None or spec[3] == ti.key):
            op, field, level, _, _ = spec
            entry = FastEntry(r, level, op.startswith("crosses"), op.endswith("above"))
            fast.setdefault((spec[4] if spec[3] is not None else _REST, field),
                            []).append(entry)
            continue
        if ti.key is None or ti.key not in r.where:
            ti.rest.slow.append(r)
        elif isinstance(key_value, frozenset):
            for v in key_value:
                ti.by_value.setdefault(v, Group()).slow.append(r)
        else:
            ti.by_value.setdefault(key_value, Group()).slow.append(r)
    for (value, field), entries in fast.items():
        group = ti.rest if value is _REST else ti.by_value.setdefault(value, Group())
        group.buckets.append(Bucket(field, entries, _old_prev(old, value, field)))
    ti.rest_used = bool(ti.rest.buckets or ti.rest.slow)
    return ti


def _old_prev(old: TypeIndex | None, value: Any, field: str) -> Any:
    if old is None:
        return None
    group = old.rest if value is _REST else old.by_value.get(value)
    if group is None:
        return None
    for b in group.buckets:
        if b.field == field:
            return b.prev
    return None


_INF = float("inf")


class _Rest:
    def __repr__(self) -> str:
        return "<any>"


_REST: Any = _Rest()
