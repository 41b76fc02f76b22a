"""Kraken WebSocket v2 market data source (public channels): declaration and protocol.

Settings and event declarations (DESIGN.md §2.4), and `KrakenProtocol`, the pure
(sans-I/O) half of the watcher: it builds the subscribe frames, matches acks and error
replies by `req_id`, keeps one order book per symbol (kraken_book.py) and verifies its
checksum on every message, and turns data frames into `(event type, fields)` pairs. The
runtime class that plugs it into the shared reconnect runner lives at the end of the
module. Frames are decoded with orjson; book frames are decoded again with Decimal floats
because the checksum needs the exact wire digits (kraken.md §5).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..metrics import Metrics, NullMetrics
from .base import (
    ConnectionSettings,
    Events,
    EventSpec,
    Parsed,
    SourceContext,
    SourceKind,
    WebSocketSource,
    coerce,
)
from .kraken_book import DEPTHS, Book, parse_levels
from .kraken_fast import WIRE_TYPES, MarketDecoder

log = logging.getLogger(__name__)

_SYMBOL = re.compile(r"^[A-Z0-9.]+/[A-Z0-9.]+$")
MAX_RESYNCS = 5   # consecutive failed book recoveries before giving up (as Kraken's SDK)
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)


def _symbols(value: list[str]) -> list[str]:
    # Acks echo the exact pair string, so symbols are normalised the way Kraken writes them.
    out = [s.strip().upper() for s in value]
    bad = [s for s in out if not _SYMBOL.match(s)]
    if bad:
        raise ValueError(f"symbols must be written BASE/QUOTE (e.g. BTC/USD), found {bad}")
    return out


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    symbols: list[str] = Field(default_factory=list)

    _check_symbols = field_validator("symbols")(_symbols)


class TickerChannel(_Channel):
    event_trigger: Literal["trades", "bbo"] = "trades"


class BookChannel(_Channel):
    depth: int = 10

    @field_validator("depth")
    @classmethod
    def _depth(cls, value: int) -> int:
        if value not in DEPTHS:
            raise ValueError(f"depth must be one of {', '.join(map(str, DEPTHS))}")
        return value


class OhlcChannel(_Channel):
    interval: int = 1

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: int) -> int:
        if value not in OHLC_INTERVALS:
            raise ValueError("interval (minutes) must be one of "
                             + ", ".join(map(str, OHLC_INTERVALS)))
        return value


class KrakenChannels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ticker: TickerChannel | None = None
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
                         "high": "number", "change": "number", "change_pct": "number",
                         "timestamp": "str"},
              "level-1 ticker, one per symbol per update (24 h stats)"),
    EventSpec("trade", {"symbol": "str", "price": "number", "qty": "number", "side": "str",
                        "ord_type": "str", "trade_id": "int", "timestamp": "str"},
              "one per trade"),
    EventSpec("book", {"symbol": "str", "best_bid": "number", "best_ask": "number",
                       "spread": "number", "best_bid_qty": "number",
                       "best_ask_qty": "number", "checksum_ok": "bool", "depth": "int",
                       "checksum": "int", "snapshot": "bool"},
              "top of book after a snapshot, a change of the best levels, or a checksum "
              "mismatch (checksum_ok false: the book is being resubscribed)"),
    EventSpec("ohlc", {"symbol": "str", "interval": "int", "open": "number",
                       "high": "number", "low": "number", "close": "number",
                       "volume": "number", "vwap": "number", "trades": "int",
                       "interval_begin": "str"},
              "one per candle update"),
    EventSpec("status", {"system": "str", "api_version": "str", "version": "str",
                         "connection_id": "str"},
              "exchange status, on connect and on change"),
    EventSpec("instrument", {"symbol": "str", "base": "str", "quote": "str",
                             "status": "str", "price_precision": "int",
                             "qty_precision": "int", "price_increment": "number",
                             "qty_increment": "number", "qty_min": "number"},
              "reference data of a watched pair (snapshot and changes)"),
)

KIND = SourceKind("kraken", KrakenSettings, EVENTS, "Kraken WebSocket v2 market data",
                  interest_fields=("symbol",), subscribed=_subscribed)

Fields = dict[str, Any]


_FIELDS = {spec.type: dict(spec.fields) for spec in EVENTS}
# Wire type that needs no coercion per declared type; NoneType (never reached: None
# values are dropped first) sends the other declared types through `coerce`.
_EXPECT = {spec.type: {name: WIRE_TYPES.get(ftype, type(None))
                       for name, ftype in spec.fields.items()} for spec in EVENTS}
_MARKET_CHANNELS = frozenset({"ticker", "trade", "ohlc"})
_CHANNELS = ("ticker", "trade", "book", "ohlc")
_MARKET = MarketDecoder({spec.type: spec for spec in EVENTS if spec.type in _MARKET_CHANNELS})


def typed(etype: str, raw: Mapping[str, Any]) -> Fields:
    """The declared fields of `etype` present in `raw`, coerced to their declared types
    (None values and undeclared keys left out). Well-formed market entries never come
    here: `kraken_fast` types those in one C pass."""
    expect = _EXPECT[etype]
    fields = _FIELDS[etype]
    out: Fields = {}
    for name, value in raw.items():
        if name in expect and value is not None:
            out[name] = value if type(value) is expect[name] else coerce(fields[name], value)
    return out


def decode(frame: str | bytes) -> Any:
    """orjson first (fast); stdlib json for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(frame)
        except (ValueError, RecursionError):
            raise ValueError(f"malformed JSON frame: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    channel: str
    symbols: tuple[str, ...]


class KrakenProtocol:
    """The per-connection state machine of the watcher; no I/O (see the module docstring).

    `subscribe()` starts a connection (forgets books and acks), `parse(frame)` handles one
    frame and raises ValueError for a malformed one, `ping()` builds the application ping.
    """

    def __init__(self, settings: KrakenSettings, *, name: str = "kraken",
                 metrics: Metrics | None = None,
                 interest: Mapping[str, Iterable[str]] | None = None) -> None:
        self.settings = settings
        self.name = name
        self.metrics: Metrics = metrics or NullMetrics()
        self.interest: dict[str, list[str]] = {}
        self.set_interest(interest or {})
        self.precisions: dict[str, tuple[int, int]] = {}
        self.books: dict[str, Book] = {}
        self.resyncing: set[str] = set()
        self.unverified: set[str] = set()
        self._failed_resyncs: dict[str, int] = {}
        self.acked: set[tuple[str, str]] = set()
        self.refused: set[tuple[str, str]] = set()
        self.mismatches = 0
        self._pending: dict[int, _Request] = {}
        self._req_id = 0
        self._unknown_channels: set[str] = set()
        self._tops: dict[str, tuple[Any, ...]] = {}

    def reset(self) -> None:
        """Forget per-connection state: books, acks, pending requests, request ids."""
        self.books.clear()
        self.resyncing.clear()
        self.unverified.clear()
        self._failed_resyncs.clear()
        self.acked.clear()
        self._pending.clear()
        self._tops.clear()
        self._req_id = 0

    # ------------------------------------------------------------------ requests

    def _request(self, method: str, params: Fields) -> str:
        self._req_id += 1
        symbols = tuple(params.get("symbol", ()))
        self._pending[self._req_id] = _Request(method, str(params["channel"]), symbols)
        return orjson.dumps({"method": method, "params": params,
                             "req_id": self._req_id}).decode()

    def set_interest(self, interest: Mapping[str, Iterable[str]]) -> None:
        """Symbols the rules ask for, per channel (= event type: ticker, trade, book, ohlc);
        subscribed on the next connection in addition to the configured ones."""
        self.interest = {channel: _symbols(list(symbols))
                         for channel, symbols in interest.items() if channel in _CHANNELS}

    def channel_symbols(self, channel: str) -> list[str]:
        """Configured symbols of a channel plus the symbols rules ask for (interest)."""
        ch = getattr(self.settings.channels, channel)
        configured = ch.symbols if ch is not None else []
        return list(dict.fromkeys([*configured, *self.interest.get(channel, ())]))

    def subscribe(self) -> list[str]:
        """Frames to send on a fresh connection; resets books, acks and request ids."""
        self.reset()
        ch = self.settings.channels
        frames = []
        # The instrument snapshot carries the precisions the book checksum needs, so it
        # goes first and is subscribed whenever a book is, even if not configured.
        if ch.instrument is not None or self.channel_symbols("book"):
            frames.append(self._request("subscribe", {"channel": "instrument",
                                                      "snapshot": True}))
        if syms := self.channel_symbols("ticker"):
            trigger = ch.ticker.event_trigger if ch.ticker else "trades"
            frames.append(self._request("subscribe", {
                "channel": "ticker", "symbol": syms, "event_trigger": trigger,
                "snapshot": True}))
        if syms := self.channel_symbols("trade"):
            frames.append(self._request("subscribe", {"channel": "trade", "symbol": syms,
                                                      "snapshot": False}))
        if syms := self.channel_symbols("book"):
            frames.append(self._book_request("subscribe", syms))
        if syms := self.channel_symbols("ohlc"):
            frames.append(self._request("subscribe", {
                "channel": "ohlc", "symbol": syms,
                "interval": ch.ohlc.interval if ch.ohlc else 1, "snapshot": True}))
        return frames

    def _book_request(self, method: str, symbols: list[str]) -> str:
        depth = self.settings.channels.book.depth if self.settings.channels.book else 10
        params: Fields = {"channel": "book", "symbol": symbols, "depth": depth}
        if method == "subscribe":
            params["snapshot"] = True
        return self._request(method, params)

    def ping(self) -> str:
        """The application-level ping (kraken.md §3.1); the reply sets `Parsed.pong`."""
        self._req_id += 1
        return orjson.dumps({"method": "ping", "req_id": self._req_id}).decode()

    # ------------------------------------------------------------------ frames

    def parse(self, frame: str | bytes) -> Parsed | Events:
        """Handle one frame. ValueError = malformed (the runner logs, counts and skips it)."""
        events = _MARKET.events(frame)
        if events is not None:
            return events
        return self.parse_general(frame)

    def parse_general(self, frame: str | bytes) -> Parsed:
        """Every frame the typed market decoder did not take (and, in tests, its oracle)."""
        try:
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError:
                msg = decode(frame)
            if type(msg) is not dict:
                raise ValueError("frame is not a JSON object")
            out = Parsed()
            channel = msg.get("channel")
            if channel in _MARKET_CHANNELS:
                # Ticker, trade and ohlc entries the typed decoder did not take (a null, a
                # missing field, a value to coerce) become events field by field.
                data = msg.get("data")
                if type(data) is not list:
                    raise ValueError(f"{channel} frame without a data list")
                events = out.events
                for item in data:
                    if type(item) is not dict:
                        raise ValueError(f"{channel} data entry is not an object")
                    events.append((channel, typed(channel, item)))
            elif type(channel) is str:
                self._data(msg, channel, frame, out)
            elif channel is not None:
                raise ValueError("frame 'channel' is not text")
            elif "method" in msg:
                self._reply(msg, out)
            else:
                raise ValueError("frame has neither 'channel' nor 'method'")
            return out
        except (ArithmeticError, RecursionError) as exc:
            # Absurd numbers (overflowing floats, decimal traps) are malformed frames too.
            raise ValueError(f"unusable number or nesting in frame: {exc!r}") from None
        except TypeError as exc:
            # An unhashable value where a key is expected (e.g. "channel": []).
            raise ValueError(f"unexpected value type in frame: {exc}") from None

    def _data(self, msg: dict[str, Any], channel: str, frame: str | bytes, out: Parsed) -> None:
        if channel == "heartbeat":
            return
        if channel == "status":
            # orjson turns integers beyond 64 bits into floats; connection_id can be one.
            msg = json.loads(frame)
        data = msg.get("data")
        if channel == "book":
            # Decimal floats keep the wire digits the checksum is computed from.
            self._book(json.loads(frame, parse_float=Decimal), out)
        elif channel == "instrument":
            self._instrument(data, out)
        elif channel == "status":
            if not isinstance(data, list):
                raise ValueError(f"{channel} frame without a data list")
            for item in data:
                if not isinstance(item, Mapping):
                    raise ValueError(f"{channel} data entry is not an object")
                out.events.append((channel, typed(channel, item)))
        elif channel not in self._unknown_channels:
            self._unknown_channels.add(channel)
            log.warning("%s: ignoring frames of unknown channel %r", self.name, channel)

    def _reply(self, msg: dict[str, Any], out: Parsed) -> None:
        method = msg.get("method")
        if method == "pong":
            out.pong = True
            return
        req_id = msg.get("req_id")
        request = self._pending.get(req_id) if isinstance(req_id, int) else None
        result = msg.get("result")
        if msg.get("success") is True:
            if isinstance(result, Mapping) and method in ("subscribe", "unsubscribe"):
                key = (str(result.get("channel")), str(result.get("symbol", "")))
                if method == "subscribe":
                    self.acked.add(key)
                else:
                    self.acked.discard(key)
            return
        if "success" not in msg and "error" not in msg:
            raise ValueError(f"{method!r} frame is neither data nor a reply")
        self._failure(msg, request, out)

    def _failure(self, msg: dict[str, Any], request: _Request | None, out: Parsed) -> None:
        error = str(msg.get("error") or "request failed without an error text")
        method = request.method if request else str(msg.get("method"))
        channel = request.channel if request else "?"
        prefix = "Currency pair not supported "
        symbol = error[len(prefix):].strip() if error.startswith(prefix) else ""
        if symbol:
            self.refused.add((channel, symbol))
        text = f"{method} {channel}{' ' + symbol if symbol else ''} refused: {error}"
        if method == "unsubscribe":
            # Unsubscribing a book that is already gone (checksum resync) is harmless.
            log.info("%s: %s", self.name, text)
            return
        log.warning("%s: %s (other subscriptions continue)", self.name, text)
        out.errors.append(("subscribe" if method == "subscribe" else "protocol", text))

    # ------------------------------------------------------------------ instrument, book

    def _instrument(self, data: Any, out: Parsed) -> None:
        if not isinstance(data, Mapping):
            raise ValueError("instrument frame data is not an object")
        pairs = data.get("pairs") or []
        if not isinstance(pairs, list):
            raise ValueError("instrument 'pairs' is not a list")
        wanted = set(self.channel_symbols("instrument")) or {
            s for channel in _CHANNELS for s in self.channel_symbols(channel)}
        emit = self.settings.channels.instrument is not None
        for pair in pairs:
            if not isinstance(pair, Mapping) or not isinstance(pair.get("symbol"), str):
                raise ValueError("instrument pair without a symbol")
            symbol = pair["symbol"]
            pp, qp = pair.get("price_precision"), pair.get("qty_precision")
            if type(pp) is int and type(qp) is int and 0 <= pp <= 30 and 0 <= qp <= 30:
                self.precisions[symbol] = (pp, qp)
                if (book := self.books.get(symbol)) is not None:
                    book.set_precision(pp, qp)
            if emit and symbol in wanted:
                out.events.append(("instrument", typed("instrument", pair)))

    def _book(self, msg: Any, out: Parsed) -> None:
        data = msg.get("data")
        if not isinstance(data, list):
            raise ValueError("book frame without a data list")
        snapshot = msg.get("type") == "snapshot"
        for item in data:
            if not isinstance(item, Mapping) or not isinstance(item.get("symbol"), str):
                raise ValueError("book entry without a symbol")
            self._book_entry(item, snapshot, out)

    def _book_entry(self, item: Mapping[str, Any], snapshot: bool, out: Parsed) -> None:
        symbol = item["symbol"]
        bids, asks = parse_levels(item.get("bids")), parse_levels(item.get("asks"))
        book = self.books.get(symbol)
        if snapshot:
            self.resyncing.discard(symbol)
            depth = self.settings.channels.book.depth if self.settings.channels.book else 10
            book = Book(symbol, depth, *self.precisions.get(symbol, (None, None)))
            self.books[symbol] = book
        elif book is None:
            # Updates before the (re)subscription's snapshot cannot be applied.
            return
        book.apply(bids, asks, snapshot)
        expected = item.get("checksum")
        if symbol in self.unverified:
            ok = False
        else:
            ok = expected is None or book.checksum() == coerce("int", expected)
            if not ok:
                self._mismatch(book, expected, self._top(book, ok, snapshot), out)
                return
            if not snapshot:
                self._failed_resyncs.pop(symbol, None)
        fields = self._top(book, ok, snapshot)
        top = (fields.get("best_bid"), fields.get("best_ask"), fields.get("best_bid_qty"),
               fields.get("best_ask_qty"))
        if snapshot or self._tops.get(symbol) != top:
            self._tops[symbol] = top
            out.events.append(("book", fields))

    def _top(self, book: Book, ok: bool, snapshot: bool) -> Fields:
        fields: Fields = {"symbol": book.symbol, "checksum_ok": ok, "depth": book.depth,
                          "snapshot": snapshot}
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None:
            fields["best_bid"], fields["best_bid_qty"] = float(bid[0]), float(bid[1])
        if ask is not None:
            fields["best_ask"], fields["best_ask_qty"] = float(ask[0]), float(ask[1])
        if bid is not None and ask is not None:
            fields["spread"] = float(ask[0] - bid[0])
        return fields

    def _mismatch(self, book: Book, expected: Any, fields: Fields, out: Parsed) -> None:
        """Drop the book and resubscribe only this symbol (unsubscribe repeats the depth)."""
        self.mismatches += 1
        self.metrics.inc("kraken_book_checksum_mismatches_total", source=self.name,
                         symbol=book.symbol)
        log.warning("%s: book checksum mismatch for %s (expected %s, computed %s); "
                    "resubscribing its book", self.name, book.symbol, expected,
                    book.checksum())
        fields["checksum"] = coerce("int", expected)
        out.events.append(("book", fields))
        failures = self._failed_resyncs[book.symbol] = self._failed_resyncs.get(book.symbol, 0) + 1
        if failures > MAX_RESYNCS:
            # Resubscribing forever would hammer Kraken; keep the book, flagged unverified.
            self.unverified.add(book.symbol)
            out.errors.append(("checksum", f"book checksum of {book.symbol} failed after "
                               f"{MAX_RESYNCS} resubscriptions; no longer verified until "
                               "the next connection (book events carry checksum_ok false)"))
            return
        del self.books[book.symbol]
        self._tops.pop(book.symbol, None)
        self.resyncing.add(book.symbol)
        out.send.append(self._book_request("unsubscribe", [book.symbol]))
        out.send.append(self._book_request("subscribe", [book.symbol]))


class KrakenSource(WebSocketSource):
    """The `kind: kraken` watcher: `KrakenProtocol` driven by the shared runner."""

    kind: ClassVar[SourceKind] = KIND
    settings: KrakenSettings
    # parse() takes the frame's bytes (orjson decodes UTF-8 itself): the runner skips
    # decoding every text frame to str first.
    raw_frames: ClassVar[bool] = True

    def __init__(self, name: str, settings: KrakenSettings, ctx: SourceContext) -> None:
        super().__init__(name, settings, ctx)
        self.protocol = KrakenProtocol(settings, name=name, metrics=ctx.metrics)

    def subscribe(self) -> list[str]:
        return self.protocol.subscribe()

    def parse(self, frame: str | bytes) -> Parsed | Events:
        return self.protocol.parse(frame)

    def app_ping(self) -> str | None:
        return self.protocol.ping()

    def on_disconnect(self) -> None:
        self.protocol.reset()

    def set_interest(self, interest: Mapping[str, Iterable[str]]) -> None:
        """Symbols rules ask for per event type (`where: {symbol: ...}`), subscribed from
        the next connection on in addition to the configured channels' symbols."""
        self.protocol.set_interest(interest)
