"""Property tests: lifecycle invariants, and the indexed path equals the general one."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertbot.model import Alert
from tests.engine.conftest import Harness, ev, rule

OPS = ("above", "below", "crosses_above", "crosses_below")
values = st.integers(min_value=0, max_value=20)
steps = st.lists(st.tuples(st.integers(min_value=0, max_value=30), values),
                 min_size=1, max_size=40)
# Samples as a feed sends them: on a level, between levels, infinite, and now and then
# not a number at all (missing, text, NaN), which must change nothing on either path.
samples = st.one_of(values, values.map(lambda v: v + 0.5), st.sampled_from(
    [None, "n/a", float("nan"), float("inf")]))
sample_steps = st.lists(st.tuples(st.integers(min_value=0, max_value=30), samples),
                        min_size=1, max_size=60)


def _run(h: Harness, seq: list[tuple[int, Any]], symbol: str = "A") -> list[Alert]:
    out: list[Alert] = []
    t = 0.0
    for gap, v in seq:
        t += gap
        out.extend(h.engine.process(ev(t, symbol=symbol, last=v)))
    out.extend(h.engine.advance(h.clock.now() + t + 10_000))
    return out


def _check_episodes(alerts: list[Alert]) -> None:
    by_fp: dict[str, list[Alert]] = {}
    for a in alerts:
        by_fp.setdefault(a.fingerprint, []).append(a)
    for seq in by_fp.values():
        last_episode = 0
        open_episode: int | None = None
        for a in seq:
            if a.reason == "first":
                assert a.episode > last_episode, "episodes increase, no two `first`"
                assert open_episode is None, "fires again only after resolving"
                last_episode = open_episode = a.episode
            elif a.status == "resolved":
                assert open_episode == a.episode, "resolved follows a firing of its episode"
                open_episode = None


@settings(max_examples=150, deadline=None)
@given(op=st.sampled_from(OPS), level=values, seq=steps,
       for_=st.sampled_from([0, 0, 15]), keep=st.sampled_from([0, 0, 20]))
def test_lifecycle_invariants_threshold(op: str, level: int, seq: list[tuple[int, int]],
                                        for_: int, keep: int) -> None:
    """For any threshold rule and samples: resolved follows firing of the same episode,
    no two `first` per episode, episodes increase."""
    kw: dict[str, Any] = {"when": {"field": "last", op: level}, "group_by": ["symbol"]}
    if for_:
        kw["for_"] = for_
    if keep:
        kw["keep_firing_for"] = keep
    _check_episodes(_run(Harness([rule(**kw)]), seq))


@settings(max_examples=100, deadline=None)
@given(seq=st.lists(st.tuples(st.integers(min_value=0, max_value=90), st.booleans()),
                    max_size=30),
       kind=st.sampled_from(["count", "absent", "unchanged"]))
def test_lifecycle_invariants_timer_rules(seq: list[tuple[int, bool]], kind: str) -> None:
    """count / absent_for / unchanged_for keep the same episode invariants."""
    kw: dict[str, Any] = {"count": {"at_least": 2, "within": 60}} if kind == "count" else (
        {"absent_for": 60} if kind == "absent" else
        {"unchanged_for": {"field": "last", "duration": 60}})
    h = Harness([rule(**kw)])
    out: list[Alert] = []
    t = 0.0
    for gap, flag in seq:
        t += gap
        out.extend(h.engine.process(ev(t, last=int(flag))))
    out.extend(h.engine.advance(h.clock.now() + t + 10_000))
    _check_episodes(out)


@settings(max_examples=200, deadline=None)
@given(op=st.sampled_from(OPS), levels=st.lists(values, min_size=1, max_size=5),
       seq=sample_steps, for_=st.sampled_from([0, 0, 15]), grouped=st.booleans())
def test_indexed_path_matches_general_path(op: str, levels: list[int],
                                           seq: list[tuple[int, Any]], for_: int,
                                           grouped: bool) -> None:
    """Sorted-array threshold rules emit exactly what the general evaluator emits."""
    def rules(wrap: bool) -> list[Any]:
        out = []
        for i, level in enumerate(levels):
            cond: Any = {"field": "last", op: level}
            kw: dict[str, Any] = {"where": {"symbol": "A"},
                                  "when": {"all": [cond]} if wrap else cond}
            if for_:
                kw["for_"] = for_
            if grouped:
                kw["group_by"] = ["symbol"]
            out.append(rule(id=f"r{i}", **kw))
        return out

    fast, slow = Harness(rules(False)), Harness(rules(True))
    assert fast.engine._fast and not slow.engine._fast  # the two paths really differ
    got_fast = sorted((a.rule, a.status, a.starts_at, a.ends_at, a.episode, a.fingerprint,
                       tuple(sorted(a.labels.items()))) for a in _run(fast, seq))
    got_slow = sorted((a.rule, a.status, a.starts_at, a.ends_at, a.episode, a.fingerprint,
                       tuple(sorted(a.labels.items()))) for a in _run(slow, seq))
    assert got_fast == got_slow
