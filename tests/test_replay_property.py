"""Property tests over random replays: resolved follows firing; one first per episode."""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from alertbot.commands.replay import replay_lines
from alertbot.loader import load
from alertbot.model import Notification
from tests.test_semantics import jsonl, write_case

RULES = """
  - id: level
    source: kraken
    event: ticker
    group_by: [symbol]
    when: {field: last, above: 10, clear_below: 8}
    for: 5s
    keep_firing_for: 7s
    repeat: 20s
  - id: edge
    source: kraken
    event: ticker
    group_by: [symbol]
    when: {field: last, crosses_above: 10}
  - id: quiet
    source: kraken
    event: ticker
    group_by: [symbol]
    absent_for: 15s
    inhibits: {rules: [level], equal: [symbol]}
"""

steps = st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["A/USD", "B/USD"]),
                           st.floats(5, 13, allow_nan=False) | st.none()),
                 min_size=1, max_size=40)


def _run(seq: list[tuple[int, str, float | None]]) -> list[Notification]:
    lines: list[tuple[float] | tuple[float, str, str, dict[str, object]]] = []
    t = 0.0
    for gap, symbol, value in seq:
        t += gap
        lines.append((t,) if value is None else
                     (t, "kraken", "ticker", {"symbol": symbol, "last": value}))
    with tempfile.TemporaryDirectory() as d:
        loaded = load(write_case(Path(d), RULES))
        got: list[Notification] = []
        replay_lines(jsonl(lines), loaded, store=None, persist=False, dry_run=True,
                     on_notifications=got.extend)
    return got


@settings(max_examples=40, deadline=None)
@given(steps)
def test_resolved_follows_firing_and_one_first_per_episode(
        seq: list[tuple[int, str, float | None]]) -> None:
    """Every resolved follows a firing of its episode; no episode notifies first twice."""
    notes = _run(seq)
    firsts = Counter((n.alert.fingerprint, n.alert.episode, n.notifier) for n in notes
                     if n.alert.reason == "first")
    assert all(c == 1 for c in firsts.values())
    seen: set[tuple[str, int, str]] = set()
    resolved: set[tuple[str, int, str]] = set()
    for n in notes:
        key = (n.alert.fingerprint, n.alert.episode, n.notifier)
        if n.alert.status == "firing":
            assert key not in resolved, "firing after the episode resolved"
            seen.add(key)
        else:
            assert key in seen and key not in resolved
            resolved.add(key)
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(notes))
