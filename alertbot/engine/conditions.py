"""Condition compiler: a rule's `when` tree becomes one closure over per-instance slots.

Each compiled condition is called as `cond(data, slots, t)` and answers True, False or
None ("not evaluable": the field is missing, or `change` has no reference sample yet),
in which case the instance keeps its state. History-dependent operators (crosses,
hysteresis latches, `changed`, `change`/`change_pct` windows) keep their memory in the
instance's `slots` list at indices assigned at compile time, so one compiled rule serves
every instance. Slots listed in `volatile` are reset on restore: a crossing must be
re-armed by a sample seen after start-up (DESIGN §2.6 "Level vs edge").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..templates import compile_expression
from .rules import AllCondition, AnyCondition, Change, Condition, FieldCondition, NotCondition

Slots = list[Any]
Cond = Callable[[Mapping[str, Any], Slots, float], "bool | None"]
_Op = Callable[[Any, Slots, float], "bool | None"]


@dataclass
class CompiledCondition:
    """The closure plus what the engine needs to know about its slots."""

    evaluate: Cond
    nslots: int = 0
    volatile: set[int] = field(default_factory=set)
    value_field: str | None = None


class _Builder:
    def __init__(self) -> None:
        self.nslots = 0
        self.volatile: set[int] = set()
        self.value_field: str | None = None

    def slot(self, volatile: bool = False) -> int:
        index = self.nslots
        self.nslots += 1
        if volatile:
            self.volatile.add(index)
        return index

    def build(self, cond: Condition) -> Cond:
        if isinstance(cond, str):
            return _expression(cond)
        if isinstance(cond, FieldCondition):
            return self._field(cond)
        if isinstance(cond, AllCondition):
            return _all([self.build(c) for c in cond.all])
        if isinstance(cond, AnyCondition):
            return _any([self.build(c) for c in cond.any])
        if isinstance(cond, NotCondition):
            return _not(self.build(cond.not_))
        raise TypeError(f"unknown condition {cond!r}")

    def _field(self, fc: FieldCondition) -> Cond:
        if self.value_field is None:
            self.value_field = fc.field
        ops = self._ops(fc)
        name = fc.field

        def evaluate(data: Mapping[str, Any], slots: Slots, t: float) -> bool | None:
            v = data.get(name)
            if v is None or v != v:   # missing or NaN: no value to judge, state kept
                return None
            result: bool | None = True
            for op in ops:  # no short-circuit: stateful operators must see every sample
                try:
                    r = op(v, slots, t)
                except (TypeError, ValueError, ArithmeticError):
                    r = None  # a value of the wrong type is "not evaluable", not a crash
                if r is False:
                    result = False
                elif r is None and result is True:
                    result = None
            return result

        return evaluate

    def _ops(self, fc: FieldCondition) -> list[_Op]:
        ops: list[_Op] = []
        if fc.above is not None:
            ops.append(self._upper(fc.above, fc.clear_below, edge=False))
        if fc.crosses_above is not None:
            ops.append(self._upper(fc.crosses_above, fc.clear_below, edge=True))
        if fc.below is not None:
            ops.append(self._lower(fc.below, fc.clear_above, edge=False))
        if fc.crosses_below is not None:
            ops.append(self._lower(fc.crosses_below, fc.clear_above, edge=True))
        if fc.equals is not None:
            ops.append(_equals(fc.equals))
        if fc.in_ is not None:
            ops.append(_member(fc.in_))
        if fc.not_equals is not None:
            target = fc.not_equals
            ops.append(lambda v, s, t: v != target)
        if fc.changed is not None:
            ops.append(self._changed(fc.changed))
        if fc.change is not None:
            ops.append(self._change(fc.change, pct=False))
        if fc.change_pct is not None:
            ops.append(self._change(fc.change_pct, pct=True))
        return ops

    def _upper(self, level: Any, clear: Any, edge: bool) -> _Op:
        latch = self.slot()
        armed = self.slot(volatile=True)
        return _threshold(latch, armed, level, clear, edge, sign=1)

    def _lower(self, level: Any, clear: Any, edge: bool) -> _Op:
        latch = self.slot()
        armed = self.slot(volatile=True)
        return _threshold(latch, armed, level, clear, edge, sign=-1)

    def _changed(self, want: bool) -> _Op:
        prev = self.slot()

        def op(v: Any, slots: Slots, t: float) -> bool | None:
            before = slots[prev]
            slots[prev] = _Boxed(v)
            if before is None:
                return None  # no previous value yet
            differs = before.value != v
            return differs if want else not differs

        return op

    def _change(self, spec: Change, pct: bool) -> _Op:
        window = self.slot()
        over, above, below = spec.over, spec.above, spec.below

        def op(v: Any, slots: Slots, t: float) -> bool | None:
            samples: list[list[float]] | None = slots[window]
            if samples is None:
                samples = slots[window] = []
            x = float(v)
            samples.append([t, x])
            # keep the latest sample at or before t − over (the reference) and newer ones
            cut = bisect_right(samples, [t - over, float("inf")])
            if cut == 0:
                return None
            if cut > 1:
                del samples[:cut - 1]
            ref = samples[0][1]
            if pct:
                if ref == 0:
                    return None
                delta = (x - ref) / abs(ref) * 100.0
            else:
                delta = x - ref
            if above is not None and not delta > above:
                return False
            return below is None or delta < below

        return op


class _Boxed:
    """Distinguishes 'previous value was None/absent' from 'no previous value'."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _threshold(latch: int, armed: int, level: Any, clear: Any, edge: bool,
               sign: int) -> _Op:
    """Level (above/below) and edge (crosses_*) thresholds, with optional hysteresis."""
    if sign > 0:
        def beyond(v: Any) -> bool:
            return bool(v > level)

        def cleared(v: Any) -> bool:
            return bool(v < clear) if clear is not None else not v > level
    else:
        def beyond(v: Any) -> bool:
            return bool(v < level)

        def cleared(v: Any) -> bool:
            return bool(v > clear) if clear is not None else not v < level

    if not edge and clear is None:
        return lambda v, s, t: beyond(v)

    def op(v: Any, slots: Slots, t: float) -> bool:
        if not beyond(v):
            slots[armed] = True
        if slots[latch]:
            if cleared(v):
                slots[latch] = None
                return False
            return True
        if beyond(v) and (not edge or slots[armed]):
            slots[latch] = True
            return True
        return False

    return op


def _equals(target: Any) -> _Op:
    return lambda v, s, t: bool(v == target)


def _member(values: list[Any]) -> _Op:
    try:
        members: frozenset[Any] | list[Any] = frozenset(values)
    except TypeError:
        members = list(values)

    def op(v: Any, slots: Slots, t: float) -> bool:
        try:
            return v in members
        except TypeError:
            return False

    return op


def _expression(source: str) -> Cond:
    predicate = compile_expression(source)
    return lambda data, slots, t: bool(predicate(data))


def _all(parts: list[Cond]) -> Cond:
    def evaluate(data: Mapping[str, Any], slots: Slots, t: float) -> bool | None:
        result: bool | None = True
        for part in parts:
            r = part(data, slots, t)
            if r is False:
                result = False
            elif r is None and result is True:
                result = None
        return result

    return evaluate


def _any(parts: list[Cond]) -> Cond:
    def evaluate(data: Mapping[str, Any], slots: Slots, t: float) -> bool | None:
        result: bool | None = False
        for part in parts:
            r = part(data, slots, t)
            if r is True:
                result = True
            elif r is None and result is False:
                result = None
        return result

    return evaluate


def _not(part: Cond) -> Cond:
    def evaluate(data: Mapping[str, Any], slots: Slots, t: float) -> bool | None:
        r = part(data, slots, t)
        return None if r is None else not r

    return evaluate


def compile_condition(cond: Condition | None) -> CompiledCondition:
    """Compile a `when` tree; no condition means every matching event is true."""
    if cond is None:
        return CompiledCondition(lambda data, slots, t: True)
    b = _Builder()
    evaluate = b.build(cond)
    return CompiledCondition(evaluate, b.nslots, b.volatile, b.value_field)


# ---------------------------------------------------------------------- slot persistence

def encode_slots(slots: Slots, volatile: set[int]) -> list[Any]:
    """JSON-able form of the slots (volatile ones dropped, Decimals tagged)."""
    out: list[Any] = []
    for i, s in enumerate(slots):
        if i in volatile:
            out.append(None)
        elif isinstance(s, _Boxed):
            out.append({"prev": encode_value(s.value)})
        else:
            out.append(s)
    return out


def decode_slots(raw: Any, n: int) -> Slots:
    slots: Slots = [None] * n
    if not isinstance(raw, list) or len(raw) != n:
        return slots
    for i, s in enumerate(raw):
        if isinstance(s, dict) and "prev" in s:
            slots[i] = _Boxed(decode_value(s["prev"]))
        else:
            slots[i] = s
    return slots


def encode_value(v: Any) -> Any:
    return {"decimal": str(v)} if isinstance(v, Decimal) else v


def decode_value(v: Any) -> Any:
    if isinstance(v, dict) and "decimal" in v:
        return Decimal(v["decimal"])
    return v
