"""The typed market decoder (msgspec) agrees with the general parser, or steps aside.

Property: for any ticker, trade or ohlc frame — documented fixtures, and generated ones
with ints for numbers, nulls, missing and unknown fields, text where a number belongs —
the fast path either returns exactly the events the general parser returns, or None.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertbot.sources.base import events_of
from alertbot.sources.kraken import EVENTS, KrakenProtocol, KrakenSettings
from alertbot.sources.kraken_fast import MarketDecoder
from tests.conftest import SHARED

MARKET = MarketDecoder({s.type: s for s in EVENTS if s.type in ("ticker", "trade", "ohlc")})
FIELDS = {s.type: s.fields for s in EVENTS}


def _proto() -> KrakenProtocol:
    return KrakenProtocol(KrakenSettings.model_validate(
        {"kind": "kraken", "channels": {"ticker": {"symbols": ["BTC/USD"]}}}))


def _general(frame: str | bytes) -> Any:
    try:
        return events_of(_proto().parse_general(frame))
    except ValueError:
        return "malformed"


def test_fixture_frames_take_the_fast_path_with_the_same_events() -> None:
    fast = 0
    for path in sorted((SHARED / "fixtures" / "kraken").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            events = MARKET.events(line)
            if events is not None:
                fast += 1
                assert events == _general(line), line[:200]
    assert fast >= 3   # the documented ticker, trade and ohlc examples


def test_a_real_ticker_frame_keeps_its_timestamp_and_drops_unknown_keys() -> None:
    entry = {"symbol": "BTC/USD", "bid": 1, "bid_qty": 1.0, "ask": 2.0, "ask_qty": 1.0,
             "last": 1.5, "volume": 3.0, "vwap": 1.5, "low": 1.0, "high": 2.0,
             "change": 0.5, "change_pct": 50.0, "timestamp": "2023-09-25T09:04:31Z",
             "new_field": [1, 2]}
    frame = orjson.dumps({"channel": "ticker", "type": "update", "data": [entry]})
    ((etype, data),) = MARKET.events(frame) or []
    assert etype == "ticker" and "new_field" not in data
    assert data["bid"] == 1.0 and type(data["bid"]) is float
    assert data["timestamp"] == "2023-09-25T09:04:31Z"
    assert [(etype, data)] == _general(frame)


@pytest.mark.parametrize("frame", [
    '{"channel":"book","type":"update","data":[]}',
    '{"channel":"ticker","type":"update","data":[{"symbol":"A/B","last":null}]}',
    '{"channel":"ticker","type":"update","data":[{"symbol":"A/B","last":"x"}]}',
    '{"channel":"ticker","data":{"x":1}}',
    'not json', '[1,2]',
])
def test_anything_unusual_is_left_to_the_general_parser(frame: str) -> None:
    assert MARKET.events(frame) is None


_values = st.one_of(st.none(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=5), st.booleans())


@st.composite
def _frames(draw: st.DrawFn) -> str:
    channel = draw(st.sampled_from(["ticker", "trade", "ohlc"]))
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        entry: dict[str, Any] = {}
        for name, ftype in FIELDS[channel].items():
            if draw(st.integers(0, 9)) == 0:
                continue   # a missing field
            if draw(st.integers(0, 4)) == 0:
                entry[name] = draw(_values)
            elif ftype == "number":
                entry[name] = draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                             st.integers(-2**53, 2**53)))
            elif ftype == "int":
                entry[name] = draw(st.integers(0, 2**63 - 1))
            else:
                entry[name] = draw(st.text(max_size=8))
        if draw(st.booleans()):
            entry["extra"] = draw(_values)
        entries.append(entry)
    return json.dumps({"channel": channel, "type": "update", "data": entries})


@settings(max_examples=300, deadline=None)
@given(_frames())
def test_the_fast_path_agrees_with_the_general_parser_or_steps_aside(frame: str) -> None:
    events = MARKET.events(frame)
    if events is not None:
        assert events == _general(frame)
