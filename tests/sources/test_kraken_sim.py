"""The Kraken simulator speaks the protocol the watcher expects, and obeys its controls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from alertbot.sources.base import Parsed, as_parsed
from alertbot.sources.kraken import KrakenProtocol, KrakenSettings
from alertbot.sources.sim.kraken import KrakenSim


@pytest.fixture
async def sim() -> AsyncIterator[KrakenSim]:
    async with KrakenSim(tick=0.01, heartbeat=0.05) as s:
        yield s


def _proto(url: str, **channels: Any) -> KrakenProtocol:
    return KrakenProtocol(KrakenSettings.model_validate(
        {"kind": "kraken", "url": url, "channels": channels}))


async def _until(ws: ClientConnection, proto: KrakenProtocol, done: Any,
                 limit: int = 2000) -> list[Parsed]:
    """Parse frames (answering resubscriptions) until `done(outputs)` holds."""
    outs: list[Parsed] = []
    async with asyncio.timeout(5):
        for _ in range(limit):
            out = as_parsed(proto.parse(await ws.recv()))
            for frame in out.send:
                await ws.send(frame)
            outs.append(out)
            if done(outs):
                return outs
    raise AssertionError("condition not reached")


def _events(outs: list[Parsed], etype: str) -> list[dict[str, Any]]:
    return [d for o in outs for t, d in o.events if t == etype]


async def test_status_acks_refusal_and_pong(sim: KrakenSim) -> None:
    """Status on connect, one ack per symbol, a refused pair, and a pong for a ping."""
    proto = _proto(sim.url, ticker={"symbols": ["BTC/USD", "XBT/USDC", "ETH/USD"]})
    async with connect(sim.url) as ws:
        status = json.loads(await ws.recv())
        assert status["channel"] == "status"
        assert status["data"][0]["connection_id"] == 13834774380200032777
        for frame in proto.subscribe():
            await ws.send(frame)
        await ws.send(proto.ping())
        outs = await _until(ws, proto, lambda o: any(x.pong for x in o) and len(proto.acked) == 2)
    assert proto.acked == {("ticker", "BTC/USD"), ("ticker", "ETH/USD")}
    assert [e[0] for o in outs for e in o.errors] == ["subscribe"]
    assert proto.refused == {("ticker", "XBT/USDC")}


async def test_book_checksums_verify_with_the_same_code(sim: KrakenSim) -> None:
    """Hundreds of simulated book updates at depth 10 and 100 all verify."""
    sim.tick = 0.002
    proto = _proto(sim.url, book={"symbols": ["BTC/USD", "MATIC/USD"], "depth": 100})
    async with connect(sim.url) as ws:
        for frame in proto.subscribe():
            await ws.send(frame)
        seen = 0

        def enough(outs: list[Parsed]) -> bool:
            nonlocal seen
            seen = sum(1 for o in outs if not o.events or o.events[0][0] != "status")
            return seen > 400
        outs = await _until(ws, proto, enough)
    assert proto.mismatches == 0
    assert all(e["checksum_ok"] for e in _events(outs, "book"))
    assert {e["symbol"] for e in _events(outs, "book")} == {"BTC/USD", "MATIC/USD"}


async def test_corrupted_checksum_resubscribes_only_that_book(sim: KrakenSim) -> None:
    """A wrong checksum is detected; the server sees unsubscribe+subscribe for that symbol."""
    proto = _proto(sim.url, book={"symbols": ["BTC/USD", "ETH/USD"], "depth": 25})
    async with connect(sim.url) as ws:
        for frame in proto.subscribe():
            await ws.send(frame)
        await _until(ws, proto, lambda o: len(proto.books) == 2)
        sim.corrupt_next_book("ETH/USD")
        outs = await _until(ws, proto, lambda o: proto.mismatches == 1)
        await sim.wait_for(lambda: sim.subscribed("book", "ETH/USD") == 2)
        await _until(ws, proto, lambda o: "ETH/USD" in proto.books)
    bad = [e for e in _events(outs, "book") if not e["checksum_ok"]]
    assert [e["symbol"] for e in bad] == ["ETH/USD"]
    assert sim.subscribed("book", "ETH/USD", "unsubscribe") == 1
    assert sim.subscribed("book", "BTC/USD") == 1
    unsub = next(r for _, r in sim.requests if r["method"] == "unsubscribe")
    assert unsub["params"]["depth"] == 25


async def test_heartbeat_when_idle_and_set_price(sim: KrakenSim) -> None:
    """Without a random walk the server sends heartbeats; set_price pushes a ticker."""
    sim.walk = False
    proto = _proto(sim.url, ticker={"symbols": ["BTC/USD"]})
    async with connect(sim.url) as ws:
        for frame in proto.subscribe():
            await ws.send(frame)
        frames: list[str] = []
        async with asyncio.timeout(5):
            while '{"channel":"heartbeat"}' not in frames:
                frames.append(str(await ws.recv()))
        await sim.set_price("BTC/USD", 123456.7)
        outs = await _until(ws, proto, lambda o: bool(_events(o, "ticker")))
    assert _events(outs, "ticker")[-1]["last"] == 123456.7


async def test_drop_silence_and_garbage(sim: KrakenSim) -> None:
    """drop() aborts the socket, go_silent() stops every frame, broadcast() sends raw text."""
    async with connect(sim.url) as ws:
        await ws.recv()
        await ws.send('{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]}}')
        await sim.broadcast("garbage{")
        async with asyncio.timeout(5):
            while await ws.recv() != "garbage{":
                pass
        sim.go_silent()
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                while True:
                    await ws.recv()
    async with connect(sim.url) as ws:
        await ws.recv()
        sim.drop()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
    assert sim.connections == 2


async def test_demo_harness_registration_config_and_script() -> None:
    """Registered for `alertbot demo`; its config validates; the script crosses and resolves."""
    from alertbot.sources.sim import SIMULATORS, Simulator, load_starter
    sim = await load_starter(SIMULATORS["kraken"])()
    try:
        assert isinstance(sim, Simulator) and isinstance(sim, KrakenSim)
        settings = KrakenSettings.model_validate(sim.source_config())
        proto = KrakenProtocol(settings)
        async with connect(sim.url) as ws:
            for frame in proto.subscribe():
                await ws.send(frame)
            await sim.wait_for(lambda: sim.subscribers == 1)
            script = asyncio.create_task(sim.script(0.4, hold=0.1))
            outs = await _until(ws, proto, lambda o: any(
                e["system"] == "online" for e in _events(o, "status")[1:]) and any(
                e["symbol"] == "BTC/USD" and e["last"] < 99_500 for e in _events(o, "ticker")[3:]))
            await script
        btc = [e["last"] for e in _events(outs, "ticker") if e["symbol"] == "BTC/USD"]
        assert max(btc) > 100_000 and btc[-1] < 99_500
        assert [e["system"] for e in _events(outs, "status")] == ["online", "maintenance",
                                                                  "online"]
    finally:
        await sim.close()
