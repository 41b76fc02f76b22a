"""rules/kraken.yaml against events from KrakenProtocol, through the real loader and Engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alertbot.engine import Engine
from alertbot.loader import load
from alertbot.model import Alert, Event
from alertbot.sources.base import events_of
from alertbot.sources.kraken import KrakenProtocol, KrakenSettings
from tests.fakes.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertbot.yaml"
pytestmark = pytest.mark.skipif(not CONFIG.is_file(), reason="deploy/alertbot.yaml absent")


class _Feed:
    """Frames → KrakenProtocol → Events at fake-clock times → Engine → alerts by rule id."""

    def __init__(self, rule_ids: set[str]) -> None:
        rules = [r for r in load(CONFIG).rules if r.source == "kraken" and r.id in rule_ids]
        missing = rule_ids - {r.id for r in rules}
        if missing:
            pytest.skip(f"rules not in rules/kraken.yaml yet: {sorted(missing)}")
        self.clock = FakeClock()
        self.engine = Engine(rules, clock=self.clock)
        self.engine.start()
        self.proto = KrakenProtocol(KrakenSettings.model_validate(
            {"kind": "kraken", "channels": {"ticker": {"symbols": ["BTC/USD"]},
                                            "book": {"symbols": ["BTC/USD"]}}}))
        self.proto.subscribe()
        self.alerts: list[Alert] = []

    def frame(self, frame: dict[str, Any] | str, after: float = 1.0) -> None:
        self.clock.advance(after)
        text = frame if isinstance(frame, str) else json.dumps(frame)
        for etype, data in events_of(self.proto.parse(text)):
            event = Event("kraken", etype, self.clock.now(), data)
            self.alerts.extend(self.engine.process(event))

    def ticker(self, last: float, after: float = 1.0, **extra: float) -> None:
        self.frame({"channel": "ticker", "type": "update",
                    "data": [{"symbol": "BTC/USD", "last": last, **extra}]}, after)

    def states(self, rule: str) -> list[str]:
        return [a.status for a in self.alerts if a.rule == rule]


def test_crossing_with_for_ignores_a_wick_and_fires_on_a_hold() -> None:
    """btc-crosses-100k: a 10 s wick stays quiet; 30 s above fires once; a drop resolves."""
    feed = _Feed({"btc-crosses-100k"})
    feed.ticker(99_000)
    feed.ticker(100_500)
    feed.ticker(99_000, after=10)
    assert feed.states("btc-crosses-100k") == []
    feed.ticker(100_500)
    feed.ticker(100_600, after=31)
    feed.ticker(100_700, after=5)
    assert feed.states("btc-crosses-100k") == ["firing"]
    feed.ticker(99_000)
    assert feed.states("btc-crosses-100k") == ["firing", "resolved"]


def test_maintenance_status_fires_and_resolves() -> None:
    """kraken-not-online fires on `maintenance` and resolves when `online` comes back."""
    feed = _Feed({"kraken-not-online"})
    status = ('{"channel":"status","type":"update","data":[{"api_version":"v2",'
              '"connection_id":18446744073709551616,"system":"%s","version":"2.0.0"}]}')
    feed.frame(status % "online")
    feed.frame(status % "maintenance")
    feed.frame(status % "online")
    assert feed.states("kraken-not-online") == ["firing", "resolved"]


def test_percent_and_absolute_moves() -> None:
    """btc-drop-3pct-1h and btc-jump-2000-10m compare with the sample one window ago."""
    feed = _Feed({"btc-drop-3pct-1h", "btc-jump-2000-10m"})
    feed.ticker(100_000)
    feed.ticker(101_000, after=300)
    feed.ticker(102_500, after=301)
    assert feed.states("btc-jump-2000-10m") == ["firing"]
    feed.ticker(96_900, after=3000)
    assert feed.states("btc-drop-3pct-1h") == ["firing"]


def test_spread_and_checksum_rules_use_book_events() -> None:
    """A wide spread held a minute fires; a checksum mismatch fires, the next snapshot resolves."""
    import zlib
    feed = _Feed({"btc-spread-wide", "kraken-book-checksum-failed"})

    def book(kind: str, bid: str, ask: str, checksum: int | None = None) -> str:
        text = (ask.replace(".", "").lstrip("0") + "100000000"
                + bid.replace(".", "").lstrip("0") + "100000000")
        crc = zlib.crc32(text.encode()) & 0xFFFFFFFF if checksum is None else checksum
        return (f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"BTC/USD",'
                f'"bids":[{{"price":{bid},"qty":1.00000000}}],'
                f'"asks":[{{"price":{ask},"qty":1.00000000}}],"checksum":{crc}}}]}}')
    feed.frame(book("snapshot", "100000.0", "100100.0"))
    feed.frame(book("update", "100000.0", "100100.0"), after=61)
    feed.frame(book("snapshot", "100000.0", "100101.0"), after=1)
    assert feed.states("btc-spread-wide") == ["firing"]
    feed.frame(book("update", "100000.0", "100100.0", checksum=7))
    feed.frame(book("snapshot", "100000.0", "100100.0"))
    assert feed.states("kraken-book-checksum-failed") == ["firing", "resolved"]
