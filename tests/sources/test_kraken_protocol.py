"""KrakenProtocol (pure half of the watcher): subscribe, acks, errors, frames, books."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from alertbot.metrics import RecordingMetrics
from alertbot.sources.base import events_of
from alertbot.sources.kraken import KrakenProtocol, KrakenSettings

_HERE = Path(__file__).resolve()
FIXTURES = Path(os.environ["KRAKEN_FIXTURES"]) if os.environ.get("KRAKEN_FIXTURES") \
    else next((p for p in (_HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken",
                           _HERE.parents[3] / "shared" / "fixtures" / "kraken") if p.is_dir()),
              _HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken")
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="Kraken fixtures absent")


def _settings(**channels: Any) -> KrakenSettings:
    return KrakenSettings.model_validate({"kind": "kraken", "channels": channels})


def _proto(**channels: Any) -> tuple[KrakenProtocol, list[dict[str, Any]]]:
    proto = KrakenProtocol(_settings(**channels), metrics=RecordingMetrics())
    return proto, [json.loads(f) for f in proto.subscribe()]


def _fixture(name: str, index: int) -> str:
    return (FIXTURES / name).read_text().splitlines()[index]


def _ack(req: dict[str, Any], symbol: str) -> str:
    return json.dumps({"method": req["method"], "req_id": req["req_id"], "success": True,
                       "result": {"channel": req["params"]["channel"], "symbol": symbol}})


def test_subscribe_sends_one_request_per_channel_with_options() -> None:
    """Each configured channel gets one request with its symbols, depth, interval."""
    _, reqs = _proto(ticker={"symbols": ["btc/usd"]}, book={"symbols": ["ETH/USD"], "depth": 25},
                     ohlc={"symbols": ["BTC/USD"], "interval": 5}, trade={"symbols": ["SOL/USD"]})
    by_channel = {r["params"]["channel"]: r["params"] for r in reqs}
    assert list(by_channel) == ["instrument", "ticker", "trade", "book", "ohlc"]
    assert by_channel["ticker"]["symbol"] == ["BTC/USD"]
    assert by_channel["book"]["depth"] == 25
    assert by_channel["ohlc"]["interval"] == 5
    assert by_channel["trade"]["snapshot"] is False
    assert len({r["req_id"] for r in reqs}) == len(reqs)


@pytest.mark.parametrize("channels", [{"book": {"depth": 50}}, {"ohlc": {"interval": 2}},
                                      {"ticker": {"symbols": ["BTCUSD"]}}])
def test_settings_reject_bad_depth_interval_symbol(channels: dict[str, Any]) -> None:
    """Depth 50, interval 2 and a symbol without a slash are config errors."""
    with pytest.raises(ValueError):
        _settings(**channels)


def test_acks_are_matched_per_symbol() -> None:
    """One ack per symbol marks that (channel, symbol) as subscribed."""
    proto, reqs = _proto(ticker={"symbols": ["BTC/USD", "ETH/USD"]})
    out = proto.parse(_ack(reqs[0], "BTC/USD"))
    assert out.events == [] and out.errors == []
    assert proto.acked == {("ticker", "BTC/USD")}


def test_error_reply_becomes_source_error_and_others_keep_working(
        caplog: pytest.LogCaptureFixture) -> None:
    """`Currency pair not supported` → one error naming channel and symbol; data still flows."""
    proto, reqs = _proto(ticker={"symbols": ["XBT/USDC", "BTC/USD"]})
    caplog.set_level(logging.WARNING)
    out = proto.parse(json.dumps({"method": "subscribe", "req_id": reqs[0]["req_id"],
                                  "success": False,
                                  "error": "Currency pair not supported XBT/USDC"}))
    assert out.errors == [("subscribe", "subscribe ticker XBT/USDC refused: "
                                        "Currency pair not supported XBT/USDC")]
    assert ("ticker", "XBT/USDC") in proto.refused
    assert "XBT/USDC" in caplog.text
    data = events_of(proto.parse(json.dumps({"channel": "ticker", "type": "update",
                                             "data": [{"symbol": "BTC/USD", "last": 1.0}]})))
    assert data == [("ticker", {"symbol": "BTC/USD", "last": 1.0})]


def test_error_reply_without_req_id_or_times_does_not_crash() -> None:
    """An error frame lacking req_id, time_in and time_out is still reported (no KeyError)."""
    proto, _ = _proto(ticker={"symbols": ["BTC/USD"]})
    out = proto.parse('{"method":"subscribe","success":false,"error":"Subscription name invalid"}')
    assert out.errors and "Subscription name invalid" in out.errors[0][1]


def test_pong_and_heartbeat() -> None:
    """A pong sets `pong`; a heartbeat produces nothing; ping carries a req_id."""
    proto, _ = _proto(ticker={"symbols": ["BTC/USD"]})
    assert "req_id" in json.loads(proto.ping())
    assert proto.parse('{"method":"pong","req_id":101}').pong is True
    out = proto.parse('{"channel":"heartbeat"}')
    assert (out.events, out.send, out.pong) == ([], [], False)


@needs_fixtures
def test_docs_frames_parse_into_typed_events() -> None:
    """Kraken's documented status, ticker, ohlc and instrument frames become typed events."""
    proto, _ = _proto(ticker={"symbols": ["ALGO/USD"]}, instrument={"symbols": ["BTC/USD"]},
                      ohlc={"symbols": ["ALGO/USD"], "interval": 5})
    status = events_of(proto.parse(_fixture("kraken_docs_examples.jsonl", 0)))
    assert status == [("status", {"system": "online", "api_version": "v2",
                                  "version": "2.0.0", "connection_id": "13834774380200032777"})]
    ticker = events_of(proto.parse(_fixture("kraken_docs_examples.jsonl", 9)))[0][1]
    assert ticker["change_pct"] == -0.17 and ticker["bid"] == 0.10025
    candles = events_of(proto.parse(_fixture("kraken_docs_examples.jsonl", 12)))
    assert [c[1]["interval"] for c in candles] == [5, 5]
    instrument = events_of(proto.parse(_fixture("kraken_docs_examples.jsonl", 16)))
    assert instrument[0][1]["symbol"] == "BTC/USD"
    assert instrument[0][1]["price_precision"] == 1
    assert proto.precisions["BTC/USD"] == (1, 8)


def test_connection_id_of_2_pow_64_and_exponent_numbers() -> None:
    """A connection_id beyond 64 bits and `5.1e-05` quantities parse exactly."""
    proto, _ = _proto(trade={"symbols": ["BTC/USD"]})
    frame = ('{"channel":"status","type":"update","data":[{"api_version":"v2",'
             f'"connection_id":{2**64},"system":"maintenance","version":"2.0.0"}}]}}')
    assert events_of(proto.parse(frame))[0][1]["connection_id"] == str(2**64)
    trade = events_of(proto.parse(
        '{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":1E+5,'
        '"qty":5.1e-05,"side":"buy","ord_type":"limit","trade_id":7,'
        '"timestamp":"2023-09-25T09:04:31.742648Z"}]}'))
    assert trade[0][1]["price"] == 100000.0 and trade[0][1]["qty"] == 5.1e-05


@pytest.mark.parametrize("frame", ["not json", "[1,2]", '{"foo": 1}',
                                   '{"channel":"ticker","data":{"x":1}}',
                                   '{"channel":"ticker","data":[{"symbol":"A/B","last":"x"}]}',
                                   '{"channel":"book","data":[{"symbol":"A/B","bids":[{}]}]}'])
def test_malformed_frames_raise_value_error(frame: str) -> None:
    """Malformed frames raise ValueError (the runner counts and skips them)."""
    proto, _ = _proto(ticker={"symbols": ["A/B"]}, book={"symbols": ["A/B"]})
    with pytest.raises(ValueError):
        proto.parse(frame)


def test_unknown_channel_is_logged_once_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A channel we do not know produces no events and one warning, not one per frame."""
    proto, _ = _proto(ticker={"symbols": ["BTC/USD"]})
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert events_of(proto.parse('{"channel":"level3","type":"update","data":[]}')) == []
    assert caplog.text.count("level3") == 1


def _book_frame(kind: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                checksum: int, symbol: str = "BTC/USD") -> str:
    def levels(side: list[tuple[str, str]]) -> str:
        return "[" + ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in side) + "]"
    return (f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
            f'"bids":{levels(bids)},"asks":{levels(asks)},"checksum":{checksum}}}]}}')


def _crc(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    import zlib
    text = "".join(p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0")
                   for p, q in asks + bids)
    return zlib.crc32(text.encode()) & 0xFFFFFFFF


def test_book_top_and_corrupted_update_resubscribes_only_that_symbol() -> None:
    """A wrong checksum emits checksum_ok false, counts it, and re-subscribes that book only."""
    proto, _ = _proto(book={"symbols": ["BTC/USD", "ETH/USD"], "depth": 25})
    bids, asks = [("100.0", "1.00000000")], [("101.5", "2.00000000")]
    snap = events_of(proto.parse(_book_frame("snapshot", bids, asks, _crc(asks, bids))))
    assert snap == [("book", {"symbol": "BTC/USD", "checksum_ok": True, "depth": 25,
                              "snapshot": True, "best_bid": 100.0, "best_bid_qty": 1.0,
                              "best_ask": 101.5, "best_ask_qty": 2.0, "spread": 1.5})]
    bad = proto.parse(_book_frame("update", [("100.5", "1.00000000")], [], 12345))
    assert bad.events[0][1]["checksum_ok"] is False
    assert proto.mismatches == 1
    assert isinstance(proto.metrics, RecordingMetrics)
    assert proto.metrics.count("kraken_book_checksum_mismatches_total", source="kraken",
                               symbol="BTC/USD") == 1
    sent = [json.loads(f) for f in bad.send]
    assert [s["method"] for s in sent] == ["unsubscribe", "subscribe"]
    assert all(s["params"] == {**s["params"], "channel": "book", "symbol": ["BTC/USD"],
                               "depth": 25} for s in sent)
    ignored = proto.parse(_book_frame("update", [("100.6", "1.0")], [], 0))
    assert ignored.events == [] and ignored.send == []


def test_book_update_emits_only_when_top_changes() -> None:
    """A deeper-level change keeps quiet; a new best bid emits a book event."""
    proto, _ = _proto(book={"symbols": ["BTC/USD"]})
    bids, asks = [("100.0", "1.0"), ("99.0", "1.0")], [("101.0", "1.0")]
    proto.parse(_book_frame("snapshot", bids, asks, _crc(asks, bids)))
    deeper = [("100.0", "1.0"), ("99.0", "3.0")]
    quiet = proto.parse(_book_frame("update", [("99.0", "3.0")], [], _crc(asks, deeper)))
    assert quiet.events == []
    better = [("100.5", "1.0"), ("100.0", "1.0"), ("99.0", "3.0")]
    out = proto.parse(_book_frame("update", [("100.5", "1.0")], [], _crc(asks, better)))
    assert out.events[0][1]["best_bid"] == 100.5


def test_subscribe_again_resets_books() -> None:
    """A reconnect (`subscribe()` again) forgets books, so old updates cannot apply."""
    proto, _ = _proto(book={"symbols": ["BTC/USD"]})
    bids, asks = [("100.0", "1.0")], [("101.0", "1.0")]
    proto.parse(_book_frame("snapshot", bids, asks, _crc(asks, bids)))
    assert proto.books
    proto.subscribe()
    assert proto.books == {} and proto.acked == set()


def test_orjson_is_used_for_non_book_frames() -> None:
    """Non-book frames decode with orjson (the decode fallback only handles big ints)."""
    from alertbot.sources.kraken import decode
    assert decode(orjson.dumps({"a": 1.5})) == {"a": 1.5}
    assert decode(f'{{"a": {2**70}}}') == {"a": 2**70}


def test_persistent_mismatch_stops_resubscribing_after_the_limit() -> None:
    """After MAX_RESYNCS failed recoveries the book is kept unverified, with one error."""
    from alertbot.sources.kraken import MAX_RESYNCS
    proto, _ = _proto(book={"symbols": ["BTC/USD"]})
    bids, asks = [("100.0", "1.0")], [("101.0", "1.0")]
    sends = 0
    for _ in range(MAX_RESYNCS + 1):
        proto.parse(_book_frame("snapshot", bids, asks, _crc(asks, bids)))
        out = proto.parse(_book_frame("update", [("100.5", "1.0")], [], 1))
        sends += len(out.send)
    assert sends == 2 * MAX_RESYNCS
    assert [kind for kind, _ in out.errors] == ["checksum"]
    later = proto.parse(_book_frame("update", [("100.7", "1.0")], [], 1))
    assert later.send == [] and later.events[0][1]["checksum_ok"] is False
    assert later.events[0][1]["best_bid"] == 100.7


def test_rule_interest_adds_symbols_and_channels() -> None:
    """Symbols rules ask for are subscribed too, even on a channel the config lacks."""
    from alertbot.sources.kraken import KrakenSource
    from tests.sources.conformance import RecordingContext
    source = KrakenSource("kraken", _settings(ticker={"symbols": ["BTC/USD"]}),
                          RecordingContext())
    source.set_interest({"ticker": ["eth/usd", "BTC/USD"], "trade": ["SOL/USD"],
                         "status": ["X/Y"]})
    reqs = {r["params"]["channel"]: r["params"] for r in map(json.loads, source.subscribe())}
    assert reqs["ticker"]["symbol"] == ["BTC/USD", "ETH/USD"]
    assert reqs["trade"]["symbol"] == ["SOL/USD"]
    assert set(reqs) == {"ticker", "trade"}
