"""KrakenSource through the shared runner: conformance kit and the issue-7 acceptance runs."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertbot.clock import SystemClock
from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.model import Alert, Event
from alertbot.sources.kraken import KrakenSettings, KrakenSource
from alertbot.sources.runner import SourceRunner
from alertbot.sources.sim.kraken import KrakenSim
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import (
    RecordingContext,
    check_fields,
    check_garbage,
    check_resubscribe,
    check_subscribe_pure,
)

_HERE = Path(__file__).resolve()
FIXTURES = Path(os.environ["KRAKEN_FIXTURES"]) if os.environ.get("KRAKEN_FIXTURES") \
    else next((p for p in (_HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken",
                           _HERE.parents[3] / "shared" / "fixtures" / "kraken") if p.is_dir()),
              _HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken")
SYMBOLS = ["BTC/USD", "ETH/USD", "SOL/USD"]
FAST = {"ping_interval": 0.2, "pong_timeout": 0.2, "heartbeat_timeout": 0.3,
        "open_timeout": 2, "healthy_after": 0.05,
        "reconnect": {"initial": 0.01, "max": 0.05, "jitter": 0}}


def _settings(url: str = "ws://127.0.0.1:9/v2", **extra: Any) -> KrakenSettings:
    channels = extra.pop("channels", None) or {
        "ticker": {"symbols": [*SYMBOLS, "XBT/USDC"]}, "trade": {"symbols": SYMBOLS},
        "book": {"symbols": SYMBOLS, "depth": 10}, "ohlc": {"symbols": SYMBOLS},
        "instrument": {"symbols": SYMBOLS}}
    return KrakenSettings.model_validate({"kind": "kraken", "url": url, **FAST,
                                          "channels": channels, **extra})


def _fixture_frames() -> list[str]:
    frames = []
    for name in ("kraken_docs_examples.jsonl", "kraken_net_test_examples.jsonl",
                 "third_party_test_examples.jsonl"):
        frames += (FIXTURES / name).read_text().splitlines()
    frames += (FIXTURES / "recorded_book_btcusd_depth10.jsonl").read_text().splitlines()[:60]
    # The docs files also hold the client's own requests; a server never sends those.
    return [f for f in frames if not _is_request(json.loads(f))]


def _is_request(msg: dict[str, Any]) -> bool:
    return "method" in msg and msg["method"] != "pong" and not {"success", "error"} & set(msg)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="Kraken fixtures absent")
def test_conformance_fields_and_garbage() -> None:
    """Every event from real frames matches the declaration; hostile frames → ValueError."""
    channels = {"ticker": {"symbols": ["ALGO/USD"]}, "book": {"symbols": ["BTC/USD"]},
                "instrument": {"symbols": ["BTC/USD"]}, "ohlc": {"symbols": ["ALGO/USD"]}}
    source = KrakenSource("kraken", _settings(channels=channels), RecordingContext())
    source.subscribe()
    events = check_fields(source, _fixture_frames(), min_events=20)
    assert {t for t, _ in events} >= {"status", "ticker", "trade", "book", "ohlc",
                                      "instrument"}
    assert all(d["checksum_ok"] for t, d in events if t == "book" and d["symbol"] == "BTC/USD")
    assert check_garbage(source, _fixture_frames()) > 100


def test_conformance_subscribe_is_pure() -> None:
    """subscribe() is deterministic (request ids restart per connection) and offline."""
    frames = check_subscribe_pure(lambda: KrakenSource("k", _settings(), RecordingContext()))
    assert len(frames) == 5


async def test_conformance_resubscribe() -> None:
    """After a drop the kit's server sees every subscribe frame again."""
    async with WsServer() as server:
        server.chatter = 0.05
        server.chatter_frame = '{"channel":"heartbeat"}'
        await check_resubscribe(
            lambda ctx: KrakenSource("kraken", _settings(server.url), ctx), server)


class _EngineContext(RecordingContext):
    """Records events and feeds each through the real Engine, recording its alerts."""

    def __init__(self, engine: Engine) -> None:
        super().__init__("kraken")
        self.engine = engine
        self.alerts: list[Alert] = []

    def emit(self, etype: str, data: Any) -> None:
        super().emit(etype, data)
        self.alerts.extend(self.engine.process(self.events[-1]))


def _engine() -> Engine:
    rule = Rule.model_validate({
        "id": "btc-crosses-100k", "source": "kraken", "event": "ticker",
        "where": {"symbol": "BTC/USD"}, "when": {"field": "last", "crosses_above": 100000},
        "message": "BTC/USD at {{ last }}"})
    return Engine([rule], clock=SystemClock())


def _channels_on(sim: KrakenSim, conn: int) -> set[tuple[str, str]]:
    out = set()
    for index, req in sim.requests:
        params = req.get("params") or {}
        if index == conn and req.get("method") == "subscribe":
            out.update((params["channel"], s) for s in params.get("symbol") or ["*"])
    return out


def _last(ctx: RecordingContext, etype: str, pred: Callable[[Event], bool]) -> Callable[[], bool]:
    return lambda: any(pred(e) for e in ctx.of_type(etype))


async def _crossing(sim: KrakenSim, ctx: _EngineContext, round_: int) -> None:
    """BTC/USD goes above 100k and back; the engine fires and resolves exactly once more."""
    await sim.set_price("BTC/USD", 100_500.0 + round_)
    await ctx.wait_for(lambda: sum(a.status == "firing" for a in ctx.alerts) == round_)
    await sim.set_price("BTC/USD", 99_000.0)
    await ctx.wait_for(lambda: sum(a.status == "resolved" for a in ctx.alerts) == round_)


async def test_acceptance_against_simulator() -> None:
    """3 symbols × channels; two drops and a silence; resubscribe; one alert per crossing."""
    async with KrakenSim(tick=0.02, heartbeat=0.05, walk=False,
                         connection_id=2**64) as sim:
        ctx = _EngineContext(_engine())
        source = KrakenSource("kraken", _settings(sim.url), ctx)
        task = asyncio.create_task(SourceRunner(source, rng=random.Random(0)).run())
        wanted = {(c, s) for c in ("ticker", "trade", "book", "ohlc") for s in SYMBOLS}
        wanted.add(("instrument", "*"))
        try:
            for round_, disrupt in enumerate(["drop", "drop", "silence", None], start=1):
                await sim.wait_for(lambda n=round_: sim.connections == n
                                   and wanted <= _channels_on(sim, n))
                await ctx.wait_for(lambda: len(source.protocol.books) == 3
                                   and ("ticker", "ETH/USD") in source.protocol.acked)
                await _crossing(sim, ctx, round_)
                await ctx.wait_for(lambda n=round_: ctx.states().count("connected") == n)
                if disrupt == "drop":
                    sim.drop()
                elif disrupt == "silence":
                    sim.go_silent()
            firing = [a for a in ctx.alerts if a.status == "firing"]
            assert [a.rule for a in firing] == ["btc-crosses-100k"] * 4
            assert len({a.episode for a in firing}) == 4
            assert ctx.states() == ["connected", "disconnected"] * 3 + ["connected"]
            errors = ctx.of_type("source_error")
            assert errors and all("XBT/USDC" in e.data["message"] for e in errors)
            assert len(errors) == 4   # refused once per connection, others kept working
            status = ctx.of_type("status")[0].data
            assert status["connection_id"] == str(2**64)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_odd_frames_keep_the_connection_and_bad_checksum_resyncs_one_book() -> None:
    """Garbage, an unknown channel and an exponent-form price; a corrupt book resyncs alone."""
    async with KrakenSim(tick=0.02, heartbeat=0.05, walk=False) as sim:
        ctx = _EngineContext(_engine())
        source = KrakenSource("kraken", _settings(sim.url), ctx)
        task = asyncio.create_task(SourceRunner(source, rng=random.Random(0)).run())
        try:
            await ctx.wait_for(lambda: len(source.protocol.books) == 3)
            await ctx.wait_for(_last(ctx, "connection", lambda e: e.data["state"] == "connected"))
            await sim.broadcast("{not json")
            await sim.broadcast('{"channel":"level3","type":"update","data":[]}')
            await sim.broadcast('{"channel":"ticker","type":"update","data":[{"symbol":'
                                '"BTC/USD","last":1.005e5,"bid_qty":5.1e-05}]}')
            await ctx.wait_for(lambda: any(a.status == "firing" for a in ctx.alerts))
            assert ctx.metrics.count("source_malformed_frames_total", source="kraken") == 1
            sim.corrupt_next_book("ETH/USD")
            await ctx.wait_for(_last(ctx, "book", lambda e: not e.data["checksum_ok"]))
            await sim.wait_for(lambda: sim.subscribed("book", "ETH/USD") == 2)
            await ctx.wait_for(lambda: "ETH/USD" in source.protocol.books)
            assert sim.subscribed("book", "ETH/USD", "unsubscribe") == 1
            assert sim.subscribed("book", "BTC/USD") == sim.subscribed("book", "SOL/USD") == 1
            assert sim.connections == 1
            assert ctx.metrics.count("kraken_book_checksum_mismatches_total", source="kraken",
                                     symbol="ETH/USD") == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
