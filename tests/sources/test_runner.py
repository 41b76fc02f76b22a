"""The reconnect runner against a real local websockets server, durations scaled down."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from alertbot.clock import SystemClock
from alertbot.errors import SourceError
from alertbot.metrics import NullMetrics
from alertbot.model import Event
from alertbot.settings import Config
from alertbot.sources.base import Parsed, ReconnectSettings, Session
from alertbot.sources.manager import SourceManager
from alertbot.sources.runner import SourceRunner, backoff_delay
from alertbot.sources.sim import close_all, demo_sources, run_scripts, start_all
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import RecordingContext
from tests.sources.example_source import ExampleSettings, ExampleSim, ExampleSource

FAST = {"initial": 0.01, "max": 0.08, "factor": 2.0, "jitter": 0.0}


class SleepLog(SystemClock):
    """The system clock, remembering every backoff delay the runner asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def sleep_until(self, deadline: float) -> None:
        self.delays.append(deadline - self.now())
        await super().sleep_until(deadline)


def settings(url: str | list[str], **over: Any) -> ExampleSettings:
    base: dict[str, Any] = {"kind": "example", "ping_interval": 5, "pong_timeout": 5,
                            "heartbeat_timeout": 5, "open_timeout": 1, "healthy_after": 0.1,
                            "reconnect": FAST}
    base.update({"urls": url} if isinstance(url, list) else {"url": url})
    base.update(over)
    return ExampleSettings.model_validate(base)


Started = tuple[ExampleSource, SourceRunner, RecordingContext]


def delays(ctx: RecordingContext) -> list[float]:
    assert isinstance(ctx.clock, SleepLog)
    return ctx.clock.delays


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Started]]:
    tasks: list[asyncio.Task[None]] = []

    def _start(cfg: ExampleSettings, cls: type[ExampleSource] = ExampleSource) -> Started:
        ctx = RecordingContext("ex", clock=SleepLog())
        source = cls("ex", cfg, ctx)
        runner = SourceRunner(source, rng=random.Random(1))
        tasks.append(asyncio.create_task(runner.run()))
        return source, runner, ctx

    yield _start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@given(st.integers(1, 200), st.floats(0, 0.999), st.floats(0, 1))
def test_backoff_is_capped_and_jittered(failures: int, rand: float, jitter: float) -> None:
    """The delay stays within ±jitter of the exponential base and never exceeds max."""
    s = ReconnectSettings(initial=1, max=60, factor=2, jitter=jitter)
    base = min(60.0, 2.0 ** (failures - 1))
    d = backoff_delay(failures, s, rand)
    assert d <= 60.0
    assert base * (1 - jitter) - 1e-9 <= d <= base * (1 + jitter) + 1e-9


async def test_refused_then_accepted_gives_one_disconnected_then_connected(
        start: Callable[..., Started]) -> None:
    """Refusals announce `disconnected` once; `connected` comes only after healthy_after."""
    async with WsServer() as server:
        server.refuse = True
        _, runner, ctx = start(settings(server.url))
        await server.wait_for(lambda: server.handshakes >= 4)
        assert ctx.states() == ["disconnected"]
        server.refuse = False
        await server.wait_for(lambda: server.accepted == 1)
        accepted_at = ctx.clock.now()
        await ctx.wait_for(lambda: runner.state == "connected")
        assert ctx.states() == ["disconnected", "connected"]
        assert ctx.of_type("connection")[-1].time - accepted_at >= 0.1 - 0.02
        assert ctx.of_type("connection")[-1].data["url"] == server.url


async def test_accept_then_drop_stays_disconnected_and_backs_off(
        start: Callable[..., Started]) -> None:
    """A server dropping every connection after 0.02 s never yields `connected`; delays grow."""
    async with WsServer() as server:
        server.drop_after = 0.02
        _, runner, ctx = start(settings(server.url, healthy_after=0.1))
        await server.wait_for(lambda: server.accepted >= 7)
        assert ctx.states() == ["disconnected"]
        assert delays(ctx)[:6] == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.08, 0.08],
                                                    abs=2e-3)
        # no busy loop: one attempt per backoff sleep
        assert runner.attempts - len(delays(ctx)) in (0, 1)
        assert runner.attempts - server.accepted in (0, 1)


async def test_drops_for_a_while_then_stable(start: Callable[..., Started]) -> None:
    """After flapping stops, one `connected` follows and the backoff resets."""
    async with WsServer() as server:
        server.drop_after = 0.02
        _, runner, ctx = start(settings(server.url))
        await server.wait_for(lambda: server.accepted >= 3)
        server.drop_after = None
        await ctx.wait_for(lambda: runner.state == "connected")
        assert ctx.states() == ["disconnected", "connected"]
        assert runner.failures == 0


async def test_silence_longer_than_heartbeat_timeout_reconnects(
        start: Callable[..., Started]) -> None:
    """No frame for heartbeat_timeout drops the link and a new connection follows."""
    async with WsServer() as server:
        _, runner, ctx = start(settings(server.url, heartbeat_timeout=0.15,
                                        healthy_after=0.02))
        await ctx.wait_for(lambda: runner.state == "connected")
        opened = ctx.clock.now()
        await server.wait_for(lambda: server.accepted >= 2)
        assert ctx.clock.now() - opened >= 0.1
        lost = ctx.of_type("connection")[1]
        assert lost.data["state"] == "disconnected"
        assert "heartbeat_timeout" in str(lost.data["reason"])


async def test_chatter_within_heartbeat_timeout_keeps_connection(
        start: Callable[..., Started]) -> None:
    """Frames more often than heartbeat_timeout keep a single connection alive."""
    async with WsServer() as server:
        server.chatter = 0.03
        _, runner, ctx = start(settings(server.url, heartbeat_timeout=0.15,
                                        healthy_after=0.02))
        await ctx.wait_for(lambda: runner.state == "connected")
        server.chatter_frame = '{"type":"tick","name":"a","value":1}'
        await ctx.wait_for(lambda: len(ctx.of_type("tick")) >= 12)   # ≥ 0.36 s > 2×timeout
        assert server.accepted == 1
        assert ctx.states() == ["connected"]


async def test_half_open_link_detected_by_keepalive_ping(
        start: Callable[..., Started]) -> None:
    """A peer that stops reading is detected within ping_interval + pong_timeout."""
    async with WsServer() as server:
        _, runner, ctx = start(settings(server.url, ping_interval=0.2, pong_timeout=0.2,
                                        heartbeat_timeout=5, healthy_after=0.02))
        await ctx.wait_for(lambda: runner.state == "connected")
        server.half_open()
        stalled = ctx.clock.now()
        await ctx.wait_for(lambda: runner.state == "disconnected", timeout=2)
        detected = ctx.of_type("connection")[-1]
        assert detected.time - stalled <= 0.2 + 0.2 + 0.1     # 0.1 s scheduling slack
        assert "keepalive" in str(detected.data["reason"])


async def test_malformed_frames_are_counted_and_skipped(start: Callable[..., Started]) -> None:
    """Garbage frames are counted and skipped; the connection and later frames survive."""
    async with WsServer(greeting=["not json", '{"type":"tick","value":"x"}', "[1]",
                                  '{"type":"tick","name":"a","value":"2.5"}']) as server:
        _, runner, ctx = start(settings(server.url))
        await ctx.wait_for(lambda: bool(ctx.of_type("tick")))
        assert ctx.of_type("tick")[0].data == {"name": "a", "value": 2.5}
        assert ctx.metrics.count("source_malformed_frames_total", source="ex") == 3
        assert server.accepted == 1 and runner.attempts == 1


async def test_app_ping_unanswered_reconnects(start: Callable[..., Started]) -> None:
    """With an application ping, silence after a ping (other frames aside) reconnects."""
    async with WsServer() as server:
        server.chatter = 0.02     # frames keep flowing, but no pong: still dead
        _, _runner, ctx = start(settings(server.url, app_ping=True, ping_interval=0.05,
                                        pong_timeout=0.05, healthy_after=0.02))
        await server.wait_for(lambda: server.accepted >= 2)
        assert '{"op":"ping"}' in server.received
        reasons = [e.data["reason"] for e in ctx.of_type("connection")]
        assert any("application ping" in str(r) for r in reasons)


async def test_app_ping_answered_keeps_connection(start: Callable[..., Started]) -> None:
    """Answered application pings keep one connection through several ping rounds."""
    def reply(frame: str | bytes) -> list[str]:
        return ['{"type":"pong"}'] if frame == '{"op":"ping"}' else []

    async with WsServer(reply=reply) as server:
        _, runner, _ctx = start(settings(server.url, app_ping=True, ping_interval=0.03,
                                        pong_timeout=0.05, healthy_after=0.02))
        await server.wait_for(lambda: server.received.count('{"op":"ping"}') >= 5)
        assert server.accepted == 1 and runner.state == "connected"


async def test_polls_request_and_timeouts_do_not_drop(start: Callable[..., Started]) -> None:
    """Polls get replies routed by id; an unanswered request is a source_error, not a drop."""
    answer = {"on": True}

    def reply(frame: str | bytes) -> list[str]:
        msg = json.loads(frame)
        if msg.get("op") == "echo" and answer["on"]:
            return [json.dumps({"id": msg["id"], "result": msg["id"] * 10})]
        return []

    async with WsServer(reply=reply) as server:
        server.chatter = 0.02     # ticks wake ctx.wait_for so it re-checks poll_replies
        server.chatter_frame = '{"type":"tick","name":"a","value":1}'
        source, _runner, ctx = start(settings(server.url, poll_interval=0.05,
                                             healthy_after=0.02))
        await ctx.wait_for(lambda: len(source.poll_replies) >= 2)
        assert source.poll_replies[:2] == [10, 20]
        answer["on"] = False
        await ctx.wait_for(lambda: bool(ctx.of_type("source_error")), timeout=3)
        assert ctx.of_type("source_error")[0].data["kind"] == "timeout"
        assert server.accepted == 1


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{s.getsockname()[1]}"


async def test_failover_to_next_url(start: Callable[..., Started]) -> None:
    """A refused first URL fails over to the second one in the list."""
    async with WsServer() as server:
        _, runner, ctx = start(settings([_dead_url(), server.url]))
        await ctx.wait_for(lambda: runner.state == "connected")
        assert ctx.of_type("connection")[0].data["state"] == "disconnected"
        assert ctx.of_type("connection")[-1].data["url"] == server.url


class TlsFailing(ExampleSource):
    def ssl_context(self, url: str) -> ssl.SSLContext | None:
        raise SourceError("cannot load CA from /nowhere", kind="tls")


async def test_ssl_context_error_is_reported_and_retried(start: Callable[..., Started]) -> None:
    """A failing SSLContext gives source_error(tls), `disconnected`, and more attempts."""
    _, runner, ctx = start(settings("wss://127.0.0.1:9"), TlsFailing)
    await ctx.wait_for(lambda: runner.attempts >= 3)
    assert ctx.of_type("source_error")[0].data["kind"] == "tls"
    assert ctx.states() == ["disconnected"]


class Resyncing(ExampleSource):
    def parse(self, frame: str | bytes) -> Parsed:
        out = super().parse(frame)
        if '"resync"' in str(frame):
            out.send.append('{"op":"subscribe","channel":"again"}')
        if '"fatal"' in str(frame):
            out.reconnect = "server said fatal"
        return out


async def test_parsed_send_and_reconnect_are_honoured(start: Callable[..., Started]) -> None:
    """Frames in Parsed.send go out; Parsed.reconnect drops the connection with its reason."""
    async with WsServer(greeting=['{"type":"error","message":"resync"}']) as server:
        _, runner, ctx = start(settings(server.url, healthy_after=0.02), Resyncing)
        await server.wait_for(lambda: '{"op":"subscribe","channel":"again"}' in server.received)
        await ctx.wait_for(lambda: runner.state == "connected")
        await server.send_all('{"type":"error","message":"fatal"}')
        await ctx.wait_for(lambda: runner.state == "disconnected")
        assert ctx.of_type("connection")[-1].data["reason"] == "server said fatal"
        assert ctx.of_type("source_error")[0].data == {"kind": "protocol", "message": "resync"}


async def test_loss_of_healthy_connection_announces_once_and_recovers(
        start: Callable[..., Started]) -> None:
    """Losing a healthy link emits one `disconnected`; reconnecting emits `connected` again."""
    async with WsServer() as server:
        source, runner, ctx = start(settings(server.url, healthy_after=0.02))
        await ctx.wait_for(lambda: runner.state == "connected")
        server.drop_all()
        await ctx.wait_for(lambda: ctx.states().count("connected") == 2)
        assert ctx.states() == ["connected", "disconnected", "connected"]
        assert source.connects == 2 and source.disconnects == 1


async def test_manager_runs_configured_sources_and_stops() -> None:
    """The manager builds a runner per source, reports states, and stop() closes links."""
    async with WsServer() as server:
        config = Config.model_validate({"sources": {
            "node": {"kind": "kaspa", "url": server.url, "healthy_after": 0.02},
            "farm": {"kind": "chia", "daemon_url": "wss://127.0.0.1:9"}}})
        events: list[Event] = []
        seen = asyncio.Event()

        def emit(event: Event) -> None:
            events.append(event)
            seen.set()

        manager = SourceManager(
            config, clock=SystemClock(), metrics=NullMetrics(), store=None, emit=emit,
            classes={"kaspa": "tests.sources.example_source:from_any_settings"})
        assert manager.states() == {"node": "connecting", "farm": "disconnected"}
        task = asyncio.create_task(manager.run())
        async with asyncio.timeout(5):
            while manager.states()["node"] != "connected":
                seen.clear()
                await seen.wait()
        assert server.accepted == 1
        errors = [e for e in events if e.type == "source_error"]
        assert errors[0].source == "farm" and errors[0].data["kind"] == "config"
        assert [e.data["state"] for e in events if e.source == "node"] == ["connected"]
        await manager.stop()
        await server.wait_for(lambda: not server.open)
        assert task.done()


REGISTRY = {"example": "tests.sources.example_source:start_example_sim",
            "other": "tests.sources.example_source:start_example_sim",
            "broken": "tests.sources.example_source:start_broken_sim"}


async def test_sim_registry_starts_configures_and_closes() -> None:
    """start_all starts each registered simulator; its source block drives a real source."""
    sims = await start_all(["example", "other"], registry=REGISTRY)
    try:
        blocks = demo_sources(sims)
        assert set(blocks) == {"example", "other"} and blocks["example"]["url"].startswith(
            "ws://127.0.0.1:")
        ctx = RecordingContext()
        manager = SourceManager(
            Config.model_validate({"sources": blocks}), clock=SystemClock(),
            metrics=NullMetrics(), store=None,
            emit=lambda e: ctx.emit(e.type, {**e.data, "from": e.source}),
            classes={"kaspa": "tests.sources.example_source:from_any_settings"})
        task = asyncio.create_task(manager.run())
        server = sims["example"].server  # type: ignore[attr-defined]
        await server.wait_for(lambda: all(s.subscribers == 1 for s in sims.values()))
        await run_scripts(sims, 0.1)
        await ctx.wait_for(lambda: len(ctx.of_type("tick")) == 2)
        assert {e.data["from"] for e in ctx.of_type("tick")} == {"example", "other"}
        await manager.stop()
        await task
    finally:
        before = ExampleSim.closed
        await close_all(sims)
        assert ExampleSim.closed == before + 2


async def test_sim_registry_rejects_unknown_and_cleans_up_on_failure() -> None:
    """Unknown kinds fail before starting; a failing start closes the ones that started."""
    with pytest.raises(KeyError, match="nope"):
        await start_all(["nope"], registry=REGISTRY)
    before = ExampleSim.closed
    with pytest.raises(OSError, match="port in use"):
        await start_all(["example", "broken"], registry=REGISTRY)
    assert ExampleSim.closed == before + 1


class AckingSource(ExampleSource):
    """Subscribes with a request that must be acknowledged (like Kakitu's ack:true)."""

    async def on_connect(self, session: Session) -> None:
        self.connects += 1
        await session.request('{"id":"sub","op":"subscribe"}', "sub", timeout=0.05)


async def test_on_connect_failures_count_as_failed_attempts(
        start: Callable[..., Started]) -> None:
    """A missing ack or an error reply in on_connect: source_error, reconnect, never connected."""
    replies = iter(['{"id":"sub","error":"topic unknown"}'])

    def reply(frame: str | bytes) -> list[str]:
        return [next(replies, "")] if "subscribe" in str(frame) else []

    async with WsServer(reply=reply) as server:
        source, runner, ctx = start(settings(server.url, healthy_after=0.02), AckingSource)
        await ctx.wait_for(lambda: len(ctx.of_type("source_error")) >= 2)
        kinds = [e.data["kind"] for e in ctx.of_type("source_error")]
        assert kinds[:2] == ["rpc", "timeout"]
        assert "topic unknown" in str(ctx.of_type("source_error")[0].data["message"])
        assert ctx.states() == ["disconnected"] and runner.failures >= 1
        assert source.connects >= 2


async def test_stopping_during_a_flood_closes_cleanly_at_once() -> None:
    """A runner stopped while its peer floods it completes the close handshake at once:
    frames still arriving are discarded, so the peer's close frame is read instead of
    waiting out close_timeout (3 s here, 10 s by default) behind a paused reader."""
    seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    frame = json.dumps({"type": "tick", "name": "a", "value": 1, "pad": "x" * 4000})
    peers: list[ServerConnection] = []

    async def flood(ws: ServerConnection) -> None:
        peers.append(ws)
        try:
            while True:
                await ws.send(frame)
        except ConnectionClosed as exc:
            seen.set_result(exc.rcvd)   # the close frame the client sent, if any

    async with serve(flood, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ctx = RecordingContext("ex", clock=SleepLog())
        runner = SourceRunner(ExampleSource("ex", settings(f"ws://127.0.0.1:{port}",
                                                           pong_timeout=3), ctx))
        task = asyncio.create_task(runner.run())
        try:
            await ctx.wait_for(lambda: len(ctx.of_type("tick")) >= 100)
            task.cancel()
            async with asyncio.timeout(1.5):
                await asyncio.gather(task, return_exceptions=True)
                close = await seen
        finally:
            for peer in peers:   # a failed run must not hang the server's shutdown
                peer.transport.abort()
    assert close is not None and close.code == 1000   # a clean close, not an abort
