"""Core value types: time round-trip, event JSON, fingerprints, durations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alertbot.durations import format_duration, parse_duration
from alertbot.model import Event, Severity, fingerprint, format_time, parse_time


def test_time_round_trip_millis() -> None:
    """RFC 3339 output parses back to the same millisecond."""
    t = 1_700_000_000.123
    assert abs(parse_time(format_time(t)) - t) < 1e-6


def test_event_json_round_trip() -> None:
    """Event.to_json / from_json are inverse."""
    ev = Event("kraken", "ticker", 1_700_000_000.5, {"symbol": "BTC/USD", "last": 1.5})
    assert Event.from_json(ev.to_json()) == ev


def test_fingerprint_ignores_group_order() -> None:
    """group_by values are sorted before hashing."""
    a = fingerprint("r", [("a", 1), ("b", 2)])
    assert a == fingerprint("r", [("b", 2), ("a", 1)])
    assert a != fingerprint("r", [("a", 1), ("b", 3)])
    assert a != fingerprint("r", [("a", 1), ("b", 2)], dedup_key="x")


def test_severity_order() -> None:
    """min_severity compares as ordered integers."""
    assert Severity.info < Severity.warning < Severity.critical
    assert Severity.parse("critical") is Severity.critical


@given(st.integers(min_value=0, max_value=10**8))
def test_duration_round_trip(ms: int) -> None:
    """format_duration is canonical and parse_duration inverts it."""
    seconds = ms / 1000
    assert abs(parse_duration(format_duration(seconds)) - seconds) < 1e-9
    assert parse_duration("1h30m") == 5400
