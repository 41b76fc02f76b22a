"""The §2.6 clause table for tests/test_semantics.py: rules + events → notifications.

Each case: `rules` (YAML list body), `lines` (offset seconds from T0 plus an event, or
a bare clock advance), optional `config` additions and `silences` (added through the
CLI), and `expect`: (rule, status, reason, notifier, episode, offset of sending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Line = tuple[float, str, str, dict[str, Any]] | tuple[float]
Expect = tuple[str, str, str, str, int, float]


def btc(t: float, last: float, symbol: str = "BTC/USD", **more: Any) -> Line:
    return (t, "kraken", "ticker", {"symbol": symbol, "last": last, **more})


def trade(t: float) -> Line:
    return (t, "kraken", "trade", {"symbol": "BTC/USD", "price": 1, "qty": 1})


@dataclass
class Case:
    name: str
    rules: str
    lines: list[Line]
    expect: list[Expect]
    config: str = ""
    silences: list[list[str]] = field(default_factory=list)


ABOVE = "source: kraken\n    event: ticker\n    when: {field: last, above: 10}\n"

CASES: list[Case] = [
    Case("for fires once the condition held for the whole duration", f"""
  - id: r
    {ABOVE}    for: 30s
""", [btc(0, 11), btc(10, 12), btc(15, 5), btc(20, 11), btc(40, 12), (60,)],
        [("r", "firing", "first", "console", 1, 50)]),
    Case("keep_firing_for holds a firing instance through a short dip", f"""
  - id: r
    {ABOVE}    keep_firing_for: 20s
""", [btc(0, 11), btc(10, 5), btc(15, 12), btc(20, 5), (60,)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "resolved", "resolved", "console", 1, 40)]),
    Case("above fires at first sight, crosses_above needs a sample at or below first", f"""
  - id: level
    {ABOVE}  - id: edge
    source: kraken
    event: ticker
    when: {{field: last, crosses_above: 10}}
""", [btc(0, 11), btc(5, 9), btc(10, 11)],
        [("level", "firing", "first", "console", 1, 0),
         ("level", "resolved", "resolved", "console", 1, 5),
         ("level", "firing", "first", "console", 2, 10),
         ("edge", "firing", "first", "console", 1, 10)]),
    Case("hysteresis: enters above L, leaves only below clear_below", """
  - id: r
    source: kraken
    event: ticker
    when: {field: last, above: 10, clear_below: 8}
""", [btc(0, 11), btc(5, 9), btc(10, 7), btc(15, 9), btc(20, 11)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "resolved", "resolved", "console", 1, 10),
         ("r", "firing", "first", "console", 2, 20)]),
    Case("change_pct compares with the latest sample at or before t - over", """
  - id: r
    source: kraken
    event: ticker
    when: {field: last, change_pct: {over: 60s, below: -3}}
""", [btc(0, 100), btc(20, 90), btc(70, 96), btc(140, 97)],
        [("r", "firing", "first", "console", 1, 70),
         ("r", "resolved", "resolved", "console", 1, 140)]),
    Case("change is the absolute difference to the reference sample", """
  - id: r
    source: kraken
    event: ticker
    when: {field: last, change: {over: 60s, above: 5}}
""", [btc(0, 100), btc(30, 110), btc(61, 106), btc(130, 107)],
        [("r", "firing", "first", "console", 1, 61),
         ("r", "resolved", "resolved", "console", 1, 130)]),
    Case("changed is true on the sample whose value differs from the previous one", """
  - id: r
    source: kraken
    event: status
    when: {field: system, changed: true}
""", [(0, "kraken", "status", {"system": "online"}),
      (5, "kraken", "status", {"system": "online"}),
      (10, "kraken", "status", {"system": "maintenance"}),
      (15, "kraken", "status", {"system": "maintenance"})],
        [("r", "firing", "first", "console", 1, 10),
         ("r", "resolved", "resolved", "console", 1, 15)]),
    Case("count fires at at_least within the window and resolves by timer", """
  - id: r
    source: kraken
    event: trade
    count: {at_least: 3, within: 60s}
""", [trade(0), trade(10), trade(20), (100,)],
        [("r", "firing", "first", "console", 1, 20),
         ("r", "resolved", "resolved", "console", 1, 60)]),
    Case("absent_for is armed at the first line of a replay", """
  - id: r
    source: chia
    event: signage_point
    absent_for: 30s
""", [btc(0, 1), (35,)],
        [("r", "firing", "first", "console", 1, 30)]),
    Case("absent_for after a gap fires last seen + duration, resolves on an event", """
  - id: r
    source: chia
    event: signage_point
    absent_for: 30s
""", [(0, "chia", "signage_point", {"signage_point_index": 1}),
      (10, "chia", "signage_point", {"signage_point_index": 2}), (50,),
      (55, "chia", "signage_point", {"signage_point_index": 3})],
        [("r", "firing", "first", "console", 1, 40),
         ("r", "resolved", "resolved", "console", 1, 55)]),
    Case("unchanged_for restarts only when the value changes", """
  - id: r
    source: chia
    event: block
    unchanged_for: {field: height, duration: 30s}
""", [(0, "chia", "block", {"height": 1}), (10, "chia", "block", {"height": 2}),
      (20, "chia", "block", {"height": 2}), (30, "chia", "block", {"height": 2}), (45,),
      (50, "chia", "block", {"height": 3})],
        [("r", "firing", "first", "console", 1, 40),
         ("r", "resolved", "resolved", "console", 1, 50)]),
    Case("repeat sends reminders by timer while firing", f"""
  - id: r
    {ABOVE}    repeat: 60s
""", [btc(0, 11), (130,)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "firing", "repeat", "console", 1, 60),
         ("r", "firing", "repeat", "console", 1, 120)]),
    Case("a new episode after a resolve notifies first again, whatever repeat says", f"""
  - id: r
    {ABOVE}    repeat: 1h
""", [btc(0, 11), btc(5, 9), btc(10, 11)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "resolved", "resolved", "console", 1, 5),
         ("r", "firing", "first", "console", 2, 10)]),
    Case("where filters first, group_by picks the instance", f"""
  - id: r
    {ABOVE}    where: {{symbol: [BTC/USD, ETH/USD]}}
    group_by: [symbol]
""", [btc(0, 11), btc(1, 11, "ETH/USD"), btc(2, 11, "XRP/USD"), btc(3, 12)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "firing", "first", "console", 1, 1)]),
    Case("max_instances caps the instances of one rule", f"""
  - id: r
    {ABOVE}    group_by: [symbol]
    max_instances: 2
""", [btc(0, 11, "A/USD"), btc(1, 11, "B/USD"), btc(2, 11, "C/USD")],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "firing", "first", "console", 1, 1)]),
    Case("event mode notifies once per dedup_key within dedup_window", """
  - id: pay
    source: kakitu
    event: confirmation
    mode: event
    dedup_key: "{{ send_hash }}"
    dedup_window: 60s
""", [(0, "kakitu", "confirmation", {"send_hash": "h1", "amount": "1"}),
      (10, "kakitu", "confirmation", {"send_hash": "h1", "amount": "1"}),
      (20, "kakitu", "confirmation", {"send_hash": "h2", "amount": "1"}),
      (70, "kakitu", "confirmation", {"send_hash": "h1", "amount": "1"})],
        [("pay", "firing", "event", "console", 0, 0),
         ("pay", "firing", "event", "console", 0, 20),
         ("pay", "firing", "event", "console", 0, 70)]),
    Case("a CLI silence holds back, drops undelivered resolves, keeps delivered ones", f"""
  - id: r
    {ABOVE}    group_by: [symbol]
""", [btc(0, 11, "A/USD"), btc(20, 11, "B/USD"), btc(25, 11, "C/USD"),
      btc(30, 5, "A/USD"), btc(35, 5, "C/USD"), (60,)],
        [("r", "firing", "first", "console", 1, 0),
         ("r", "resolved", "resolved", "console", 1, 30),
         ("r", "firing", "first", "console", 1, 50)],
        silences=[["rule=r", "--starts", "+10", "--ends", "+40"]]),
    Case("a config cron mute window silences, releasing after inhibit_grace", f"""
  - id: r
    {ABOVE}""", [btc(5, 11), (60,)],
        [("r", "firing", "first", "console", 1, 40)],
        config='silences: [{matchers: {rule: r}, cron: "0 0 * * *", duration: 30s}]\n'),
    Case("inhibit with equal mutes only matching targets; release after grace", """
  - id: halted
    source: kraken
    event: ticker
    group_by: [symbol]
    when: {field: bid, below: 1}
    inhibits: {rules: [high], equal: [symbol]}
  - id: high
    source: kraken
    event: ticker
    group_by: [symbol]
    when: {field: last, above: 10}
""", [btc(0, 11, "A/USD", bid=0), btc(1, 11, "B/USD", bid=5),
      btc(20, 11, "A/USD", bid=5), (40,)],
        [("halted", "firing", "first", "console", 1, 0),
         ("high", "firing", "first", "console", 1, 1),
         ("halted", "resolved", "resolved", "console", 1, 20),
         ("high", "firing", "first", "console", 1, 30)]),
]
