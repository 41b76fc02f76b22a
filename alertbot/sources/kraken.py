"""Kraken WebSocket v2 market data source (public channels): declaration.

Settings and event declarations (DESIGN.md §2.4). The watcher (subscribe/parse, book
checksums, acks) is built on top of this declaration by the Kraken watcher work.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .base import ConnectionSettings, EventSpec, SourceKind


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    symbols: list[str] = Field(default_factory=list)


class BookChannel(_Channel):
    depth: int = 10


class OhlcChannel(_Channel):
    interval: int = 1


class KrakenChannels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ticker: _Channel | None = None
    trade: _Channel | None = None
    book: BookChannel | None = None
    ohlc: OhlcChannel | None = None
    instrument: _Channel | None = None


class KrakenSettings(ConnectionSettings):
    url: str = "wss://ws.kraken.com/v2"
    urls: list[str] = Field(default_factory=list)
    channels: KrakenChannels = KrakenChannels()


def _subscribed(settings: Any) -> frozenset[str] | None:
    ch = settings.channels
    out: set[str] = set()
    for c in (ch.ticker, ch.trade, ch.book, ch.ohlc):
        if c is not None:
            out.update(c.symbols)
    return frozenset(out)


EVENTS = (
    EventSpec("ticker", {"symbol": "str", "bid": "number", "bid_qty": "number",
                         "ask": "number", "ask_qty": "number", "last": "number",
                         "volume": "number", "vwap": "number", "low": "number",
                         "high": "number", "change": "number", "change_pct": "number"}),
    EventSpec("trade", {"symbol": "str", "price": "number", "qty": "number", "side": "str",
                        "ord_type": "str", "trade_id": "int", "timestamp": "str"}),
    EventSpec("book", {"symbol": "str", "best_bid": "number", "best_ask": "number",
                       "spread": "number", "best_bid_qty": "number",
                       "best_ask_qty": "number", "checksum_ok": "bool"}),
    EventSpec("ohlc", {"symbol": "str", "interval": "int", "open": "number",
                       "high": "number", "low": "number", "close": "number",
                       "volume": "number", "vwap": "number", "trades": "int"}),
    EventSpec("status", {"system": "str", "api_version": "str", "version": "str",
                         "connection_id": "str"}),
)

KIND = SourceKind("kraken", KrakenSettings, EVENTS, "Kraken WebSocket v2 market data",
                  interest_fields=("symbol",), subscribed=_subscribed)
