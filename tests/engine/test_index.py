"""The index: events reach only candidate rules; thresholds are bisected, not looped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from alertbot.engine.core import Engine
from tests.engine.conftest import Harness, ev, rule


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = Engine._set_truth

    def spy(self: Engine, cr: Any, *args: Any) -> None:
        calls.append(cr.id)
        real(self, cr, *args)

    monkeypatch.setattr(Engine, "_set_truth", spy)
    return calls


def test_only_rules_between_previous_and_new_value_are_touched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With 2,000 thresholds on one symbol, a move from 500.5 to 503.5 touches 3 rules."""
    rules = [rule(id=f"a{i}", where={"symbol": "A"}, when={"field": "last", "above": i})
             for i in range(1000)]
    rules += [rule(id=f"b{i}", where={"symbol": "A"}, when={"field": "last", "below": i})
              for i in range(1000)]
    h = Harness(rules)
    h.feed(ev(0, symbol="A", last=500.5))  # first sample evaluates the bucket once
    calls = _counting(monkeypatch)
    out = h.feed(ev(1, symbol="A", last=503.5))
    assert sorted(calls) == ["a501", "a502", "a503", "b501", "b502", "b503"]
    assert sorted((a[0], a[1]) for a in out) == [
        ("a501", "firing"), ("a502", "firing"), ("a503", "firing"),
        ("b501", "resolved"), ("b502", "resolved"), ("b503", "resolved")]
    calls.clear()
    assert h.feed(ev(2, symbol="A", last=503.6)) == [] and calls == []


def test_events_of_other_where_values_reach_no_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A symbol no rule filters on is a dict miss: no rule is evaluated."""
    h = Harness([rule(id=f"r{i}", where={"symbol": "A"}, group_by=["x"],
                      when={"field": "last", "above": i}) for i in range(50)])
    calls = _counting(monkeypatch)
    assert h.feed(ev(0, symbol="B", last=1000, x=1)) == [] and calls == []


def test_decimal_values_against_numeric_thresholds() -> None:
    """Kakitu-style Decimal values compare with int/float literals on both paths."""
    h = Harness([rule(id="fast", source="kakitu", event="confirmation",
                      where={"account": "k"}, when={"field": "amount", "above": 1.5}),
                 rule(id="pct", source="kakitu", event="confirmation",
                      when={"field": "amount", "change_pct": {"over": 1, "above": 50}})])
    out = h.feed(ev(0, "confirmation", "kakitu", account="k", amount=Decimal("1")),
                 ev(2, "confirmation", "kakitu", account="k", amount=Decimal("2")))
    assert sorted(a[0] for a in out) == ["fast", "pct"]
