"""A local Kraken WebSocket v2 simulator: a real `websockets` server on 127.0.0.1.

It speaks the public market-data protocol of kraken.md: a `status` frame on connect,
one ack per symbol matched by `req_id`, `Currency pair not supported` for refused
symbols, application ping/pong, heartbeats while idle, the `instrument` snapshot with
price/qty precisions, a random-walk `ticker`, `trade` and `ohlc`, and a `book` whose
checksums are computed with the same code the watcher verifies them with (the worked
examples pin that code to Kraken's values). Tests and `alertbot demo` steer it: drop
every connection, go silent, send garbage, corrupt the next book checksum, refuse a
symbol, set a price; `script()` plays the demo's crossing and maintenance window.
Every client request is recorded in `requests` so tests can see what was resubscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ...model import format_time
from ..kraken_book import Book
from . import StateWatch

log = logging.getLogger(__name__)

PRECISIONS: dict[str, tuple[int, int]] = {
    "BTC/USD": (1, 8), "ETH/USD": (2, 8), "SOL/USD": (2, 8), "MATIC/USD": (4, 8),
    "XRP/USD": (5, 8), "ADA/USD": (6, 8), "DOT/USD": (4, 8), "LTC/USD": (2, 8),
    "DOGE/USD": (7, 8), "ETH/BTC": (5, 8),
}
START_PRICES = {"BTC/USD": 99_500.0, "ETH/USD": 3_500.0, "SOL/USD": 150.0, "MATIC/USD": 0.56,
                "XRP/USD": 0.6, "ADA/USD": 0.45, "DOT/USD": 7.0, "LTC/USD": 80.0,
                "DOGE/USD": 0.15, "ETH/BTC": 0.035}
BIG_CONNECTION_ID = 2**64


@dataclass
class _Conn:
    ws: ServerConnection
    index: int
    silent: bool = False
    subs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "channel symbol" → params
    books: dict[str, Book] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    last_sent: float = 0.0


def _num(value: Decimal | float, places: int) -> str:
    return f"{value:.{places}f}"


class KrakenSim(StateWatch):
    """The simulator; `async with KrakenSim() as sim:` then connect to `sim.url`."""

    def __init__(self, *, tick: float = 0.1, heartbeat: float = 1.0, walk: bool = True,
                 seed: int = 7, connection_id: int = 13834774380200032777) -> None:
        self.tick, self.heartbeat, self.walk = tick, heartbeat, walk
        self.connection_id = connection_id
        # Scripted prices: the walk stays within ±0.01 % of these (see `script`).
        self.targets: dict[str, float] = {}
        self.rng = random.Random(seed)
        self.prices = dict(START_PRICES)
        self.refused: set[str] = {"XBT/USDC"}
        self.requests: list[tuple[int, dict[str, Any]]] = []
        self.connections = 0
        self.live: list[_Conn] = []
        self._changed = asyncio.Condition()
        self._server: Server | None = None
        self._flood_task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._trade_id = 0
        self.flood_on_subscribe: tuple[list[bytes], int] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> KrakenSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await serve(self._handle, host, port, ping_interval=None,
                                   compression=None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}/v2"

    # ------------------------------------------------------------------ controls

    def drop(self) -> None:
        """Abort every live connection without a close frame (like a network cut)."""
        for conn in list(self.live):
            conn.ws.transport.abort()

    def go_silent(self) -> None:
        """Live connections stop sending anything (no data, heartbeats or pongs)."""
        for conn in self.live:
            conn.silent = True

    def corrupt_next_book(self, symbol: str) -> None:
        """The next book update of `symbol` carries a wrong checksum."""
        for conn in self.live:
            conn.corrupt.add(symbol)

    async def broadcast(self, frame: str | bytes) -> None:
        """Send a raw frame (garbage, unknown channels, odd numbers) to every connection."""
        for conn in list(self.live):
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(frame, text=True)

    async def set_price(self, symbol: str, price: float) -> None:
        """Move `symbol` to `price` and push a ticker update to its subscribers now."""
        self.prices[symbol] = price
        for conn in list(self.live):
            if f"ticker {symbol}" in conn.subs and not conn.silent:
                await self._send(conn, self._ticker_frame([symbol], "update"))

    async def flood(self, frames: list[bytes], count: int) -> None:
        """Push `count` pre-encoded frames (cycling) to every connection, as fast as possible."""
        conns = list(self.live)
        n = len(frames)
        for i in range(count):
            for conn in conns:
                await conn.ws.send(frames[i % n], text=True)

    async def flood_raw(self, frames: list[bytes], count: int) -> None:
        """Like `flood`, for benchmarks: pre-framed bytes written straight to the sockets.

        Frames are framed once and written in batches, so the feed is not limited by
        the server's per-message overhead; waits while the client is behind.
        """
        batch = b"".join(_text_frame(f) for f in frames)
        for conn in list(self.live):
            transport = conn.ws.transport
            sent = 0
            while sent < count and not transport.is_closing():
                transport.write(batch)
                sent += len(frames)
                while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():
                    await asyncio.sleep(0.0005)


    def subscribed(self, channel: str, symbol: str | None = None,
                   method: str = "subscribe") -> int:
        """How many `method` requests for `channel` (and `symbol`) the server has received."""
        n = 0
        for _, req in self.requests:
            params = req.get("params") or {}
            if req.get("method") == method and params.get("channel") == channel and (
                    symbol is None or symbol in (params.get("symbol") or [])):
                n += 1
        return n

    # ------------------------------------------------------------------ demo harness

    @property
    def subscribers(self) -> int:
        """Connected clients with at least one subscription."""
        return sum(1 for conn in self.live if conn.subs)

    def source_config(self) -> dict[str, Any]:
        """The demo's `sources:` entry for this simulator (demo-friendly intervals)."""
        return {"kind": "kraken", "url": self.url, "ping_interval": 5,
                "heartbeat_timeout": 10, "healthy_after": 1,
                "channels": {"ticker": {"symbols": ["BTC/USD", "ETH/USD"]},
                             "trade": {"symbols": ["BTC/USD"]},
                             "book": {"symbols": ["BTC/USD"], "depth": 10}}}

    async def script(self, duration: float, hold: float = 32.0) -> None:
        """The demo scenario over `duration` seconds: BTC/USD rises from 99,000 above
        100,000 at 10 % of the time and stays there long enough for a `for: 30s` rule,
        falls back to 99,000 at 75 % (at least `hold` s after the rise); the exchange reports
        `maintenance` between 40 % and 50 % of the time."""
        loop = asyncio.get_running_loop()
        begin = loop.time()
        rise = 0.1 * duration
        steps: list[tuple[float, str]] = [
            (0.0, "99000"), (rise, "100400"), (0.4 * duration, "maintenance"),
            (0.5 * duration, "online"), (max(0.75 * duration, rise + hold), "99000")]
        for at, what in sorted(steps):
            await asyncio.sleep(max(0.0, begin + at - loop.time()))
            if what.isdigit():
                self.targets["BTC/USD"] = float(what)
                await self.set_price("BTC/USD", float(what))
            else:
                await self.broadcast(self._status_frame(what))
        await asyncio.sleep(max(0.0, begin + duration - loop.time()))

    async def close(self) -> None:
        await self.stop()


    # ------------------------------------------------------------------ connection

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        conn = _Conn(ws, self.connections)
        self.live.append(conn)
        await self._notify()
        producer = asyncio.create_task(self._produce(conn))
        try:
            await self._send(conn, self._status_frame())
            async for raw in ws:
                await self._request(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            producer.cancel()
            self.live.remove(conn)
            await self._notify()

    async def _send(self, conn: _Conn, frame: str | bytes) -> None:
        if conn.silent:
            return
        conn.last_sent = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(frame, text=True)

    async def _request(self, conn: _Conn, raw: str | bytes) -> None:
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("kraken sim: client sent non-JSON %r", raw[:80])
            return
        self.requests.append((conn.index, req))
        await self._notify()
        method, req_id = req.get("method"), req.get("req_id")
        if method == "ping":
            await self._send(conn, orjson.dumps(_reply("pong", req_id, {})))
            return
        params = req.get("params") or {}
        channel = params.get("channel")
        if method not in ("subscribe", "unsubscribe") or channel not in _CHANNELS:
            await self._send(conn, orjson.dumps(_error(method, req_id,
                                                       "Subscription name invalid")))
            return
        if channel == "instrument":
            await self._ack(conn, method, req_id, params, None)
            return
        for symbol in params.get("symbol") or []:
            if method == "subscribe" and (symbol in self.refused or symbol not in PRECISIONS):
                await self._send(conn, orjson.dumps(_error(
                    method, req_id, f"Currency pair not supported {symbol}")))
                continue
            await self._ack(conn, method, req_id, params, symbol)

    async def _ack(self, conn: _Conn, method: str, req_id: Any, params: dict[str, Any],
                   symbol: str | None) -> None:
        channel = params["channel"]
        key = f"{channel} {symbol}" if symbol else channel
        result = {k: v for k, v in params.items() if k != "symbol"}
        if symbol:
            result["symbol"] = symbol
        if method == "unsubscribe":
            if conn.subs.pop(key, None) is None:
                await self._send(conn, orjson.dumps(_error(method, req_id,
                                                           "Subscription Not Found")))
                return
            conn.books.pop(symbol or "", None)
            await self._send(conn, orjson.dumps(_reply(method, req_id, result)))
            return
        conn.subs[key] = params
        await self._send(conn, orjson.dumps(_reply(method, req_id, result)))
        if channel == "ticker" and self.flood_on_subscribe is not None:
            frames, count = self.flood_on_subscribe
            self.flood_on_subscribe = None
            self._flood_task = asyncio.create_task(self.flood_raw(frames, count))
        if params.get("snapshot", True) is False:
            return
        if channel == "instrument":
            await self._send(conn, self._instrument_frame())
        elif channel == "ticker" and symbol:
            await self._send(conn, self._ticker_frame([symbol], "snapshot"))
        elif channel == "ohlc" and symbol:
            await self._send(conn, self._ohlc_frame(symbol, int(params.get("interval", 1)),
                                                    "snapshot"))
        elif channel == "book" and symbol:
            await self._send(conn, self._book_snapshot(conn, symbol,
                                                       int(params.get("depth", 10))))

    async def _produce(self, conn: _Conn) -> None:
        """Market activity every `tick`; a heartbeat when nothing else went out for 1 s."""
        while True:
            await asyncio.sleep(self.tick)
            if conn.silent:
                continue
            symbols = [k.split(" ", 1)[1] for k in conn.subs if k.startswith("ticker ")]
            if self.walk:
                self._step()
                if symbols:
                    await self._send(conn, self._ticker_frame(symbols, "update"))
                for key, params in list(conn.subs.items()):
                    channel, _, symbol = key.partition(" ")
                    if channel == "trade":
                        await self._send(conn, self._trade_frame(symbol))
                    elif channel == "ohlc":
                        await self._send(conn, self._ohlc_frame(
                            symbol, int(params.get("interval", 1)), "update"))
            for symbol in list(conn.books):
                await self._send(conn, self._book_update(conn, symbol))
            if conn.subs and time.monotonic() - conn.last_sent >= self.heartbeat:
                await self._send(conn, b'{"channel":"heartbeat"}')

    def _step(self) -> None:
        for symbol, price in self.prices.items():
            target = self.targets.get(symbol)
            if target is not None:
                self.prices[symbol] = target * (1 + self.rng.gauss(0, 0.0001))
            else:
                self.prices[symbol] = price * (1 + self.rng.gauss(0, 0.0005))

    # ------------------------------------------------------------------ frames

    def _status_frame(self, system: str = "online") -> bytes:
        # Built by hand: a 2^64 connection_id does not fit orjson's 64-bit integers.
        return ('{"channel":"status","type":"update","data":[{"api_version":"v2",'
                f'"connection_id":{self.connection_id},"system":"{system}",'
                '"version":"2.0.0"}]}').encode()

    def _rounded(self, symbol: str) -> float:
        return round(self.prices[symbol], PRECISIONS[symbol][0])

    def _ticker_frame(self, symbols: list[str], kind: str) -> bytes:
        data = []
        for symbol in symbols:
            last = self._rounded(symbol)
            inc = 10.0 ** -PRECISIONS[symbol][0]
            start = START_PRICES[symbol]
            data.append({"symbol": symbol, "bid": round(last - inc, 8), "bid_qty": 1.5,
                         "ask": round(last + inc, 8), "ask_qty": 2.25, "last": last,
                         "volume": 1234.5678, "vwap": start, "low": min(last, start),
                         "high": max(last, start), "change": round(last - start, 8),
                         "change_pct": round((last - start) / start * 100, 2),
                         "timestamp": format_time(time.time())})
        return orjson.dumps({"channel": "ticker", "type": kind, "data": data})

    def _trade_frame(self, symbol: str) -> bytes:
        self._trade_id += 1
        return orjson.dumps({"channel": "trade", "type": "update", "data": [{
            "symbol": symbol, "side": self.rng.choice(("buy", "sell")),
            "price": self._rounded(symbol), "qty": round(self.rng.uniform(0.0001, 2), 8),
            "ord_type": self.rng.choice(("limit", "market")), "trade_id": self._trade_id,
            "timestamp": format_time(time.time())}]})

    def _ohlc_frame(self, symbol: str, interval: int, kind: str) -> bytes:
        now = time.time()
        price = self._rounded(symbol)
        return orjson.dumps({"channel": "ohlc", "type": kind, "data": [{
            "symbol": symbol, "open": price, "high": price, "low": price, "close": price,
            "vwap": price, "trades": 1, "volume": 0.5, "interval": interval,
            "interval_begin": format_time(now - now % (interval * 60))}]})

    def _instrument_frame(self) -> bytes:
        pairs = [{"symbol": s, "base": s.split("/")[0], "quote": s.split("/")[1],
                  "status": "online", "price_precision": pp, "qty_precision": qp,
                  "price_increment": 10.0 ** -pp, "qty_increment": 1e-08, "qty_min": 0.0001,
                  "marginable": False, "has_index": True}
                 for s, (pp, qp) in PRECISIONS.items()]
        return orjson.dumps({"channel": "instrument", "type": "snapshot",
                             "data": {"assets": [], "pairs": pairs}})

    def _levels_json(self, symbol: str, levels: list[tuple[Decimal, Decimal]]) -> str:
        # Numbers written at the pair's precision, trailing zeros kept, as Kraken does.
        pp, qp = PRECISIONS[symbol]
        return "[" + ",".join(f'{{"price":{_num(p, pp)},"qty":{_num(q, qp)}}}'
                              for p, q in levels) + "]"

    def _book_frame(self, conn: _Conn, symbol: str, kind: str,
                    bids: list[tuple[Decimal, Decimal]],
                    asks: list[tuple[Decimal, Decimal]]) -> str:
        checksum = conn.books[symbol].checksum()
        if kind == "update" and symbol in conn.corrupt:
            conn.corrupt.discard(symbol)
            checksum ^= 0x5A5A
        return (f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
                f'"bids":{self._levels_json(symbol, bids)},'
                f'"asks":{self._levels_json(symbol, asks)},"checksum":{checksum},'
                f'"timestamp":"{format_time(time.time())}"}}]}}')

    def _qty(self, symbol: str) -> Decimal:
        return Decimal(_num(self.rng.uniform(0.001, 5), PRECISIONS[symbol][1]))

    def _book_snapshot(self, conn: _Conn, symbol: str, depth: int) -> str:
        pp, qp = PRECISIONS[symbol]
        inc = Decimal(1).scaleb(-pp)
        mid = Decimal(_num(self.prices[symbol], pp))
        bids = [(mid - inc * (i + 1), self._qty(symbol)) for i in range(depth)]
        asks = [(mid + inc * (i + 1), self._qty(symbol)) for i in range(depth)]
        book = Book(symbol, depth, pp, qp)
        book.apply(bids, asks, snapshot=True)
        conn.books[symbol] = book
        return self._book_frame(conn, symbol, "snapshot", bids, asks)

    def _book_update(self, conn: _Conn, symbol: str) -> str:
        """Change a quantity, replace a level beyond the worst, or improve the best level."""
        book = conn.books[symbol]
        inc = Decimal(1).scaleb(-PRECISIONS[symbol][0])
        is_bid = self.rng.random() < 0.5
        side = book.bids if is_bid else book.asks
        levels = side.top(book.depth)
        change: list[tuple[Decimal, Decimal]] = []
        roll = self.rng.random()
        if roll < 0.6 and levels:
            change.append((self.rng.choice(levels)[0], self._qty(symbol)))
        elif roll < 0.8 and levels:
            worst = levels[-1][0]
            change.append((self.rng.choice(levels)[0], Decimal(0)))
            change.append((worst - inc if is_bid else worst + inc, self._qty(symbol)))
        else:
            bid, ask = book.best_bid(), book.best_ask()
            if bid and ask and ask[0] - bid[0] > 2 * inc:
                change.append((bid[0] + inc if is_bid else ask[0] - inc, self._qty(symbol)))
        bids, asks = (change, []) if is_bid else ([], change)
        book.apply(bids, asks)
        return self._book_frame(conn, symbol, "update", bids, asks)


def _text_frame(payload: bytes) -> bytes:
    """One unmasked server text frame (RFC 6455 §5.2) around `payload`."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


_CHANNELS = ("ticker", "trade", "book", "ohlc", "instrument")


def _stamps() -> dict[str, str]:
    now = format_time(time.time())
    return {"time_in": now, "time_out": now}


def _reply(method: str, req_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method, **_stamps()}
    if method != "pong":
        out.update(result=result, success=True)
    if req_id is not None:
        out["req_id"] = req_id
    return out


def _error(method: Any, req_id: Any, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method, "success": False, "error": text, **_stamps()}
    if req_id is not None:
        out["req_id"] = req_id
    return out


async def start() -> KrakenSim:
    """Start the simulator `alertbot demo` uses (registered in `sim.SIMULATORS`)."""
    sim = KrakenSim(tick=0.25)
    await sim.start()
    return sim
