"""The shared reconnect runner: one connection loop per WebSocket source.

`SourceRunner` drives a `WebSocketSource` (base.py) with the connection settings of
DESIGN.md §2.2: connect with `open_timeout` over the endpoint list (failover), read
frames through the source's pure `parse()`, keep the link honest (websockets keepalive
pings for half-open links, `heartbeat_timeout` for silence, the optional application
ping), run `on_connect` and the polls, and back off with capped jitter after every
failed attempt. A connection counts as healthy only after `healthy_after`; one that
closes earlier is a failure, so a node that accepts and drops never causes a tight loop
nor a `connected` event. `connection` events follow §2.6 and are never repeated.
This is the one home of the websockets client: its errors become `SourceError` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
)

from ..clock import Clock
from ..errors import SourceError
from ..metrics import Metrics
from ..model import Event
from ..store import StateStore
from .base import (
    SOURCE_ERROR,
    ConnectionState,
    Parsed,
    Poll,
    ReconnectSettings,
    RequestId,
    Session,
    WebSocketSource,
)

log = logging.getLogger(__name__)


def backoff_delay(failures: int, settings: ReconnectSettings, rand: float) -> float:
    """Delay before the next attempt after `failures` consecutive failures (≥ 1).

    `initial · factor^(failures-1)`, capped at `max`, then spread by ±jitter using
    `rand` in [0, 1); the result never exceeds `max`.
    """
    base = settings.initial * settings.factor ** min(failures - 1, 64)
    base = min(base, settings.max)
    spread = 1.0 + settings.jitter * (2.0 * rand - 1.0)
    return max(0.0, min(settings.max, base * spread))


class EventContext:
    """The standard `SourceContext`: stamps events with the clock and hands them on."""

    def __init__(self, name: str, *, clock: Clock, metrics: Metrics,
                 store: StateStore | None, emit: Callable[[Event], None]) -> None:
        self.name = name
        self.clock = clock
        self.metrics = metrics
        self.store = store
        self.log = logging.getLogger(f"alertbot.source.{name}")
        self._emit = emit

    def emit(self, etype: str, data: Mapping[str, Any]) -> None:
        self._emit(Event(self.name, etype, self.clock.now(), data))

    def emit_all(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """`emit` for each (type, data) of one frame: the runner's per-frame path. The
        events of a frame arrived together, so they share one clock reading."""
        sink, name, t = self._emit, self.name, self.clock.now()
        for etype, data in events:
            sink(Event(name, etype, t, data))

    def error(self, kind: str, message: str) -> None:
        self.log.warning("%s: %s", kind, message)
        self.metrics.inc("source_errors_total", source=self.name, kind=kind)
        self.emit(SOURCE_ERROR.type, {"kind": kind, "message": message})


class _Drop(Exception):
    """Ends the current connection with a reason (internal to the runner).

    `dead` marks a link that stopped answering: it is aborted instead of closed, since
    a close handshake with a silent peer would only wait out close_timeout.
    """

    def __init__(self, reason: str, *, dead: bool = False) -> None:
        super().__init__(reason)
        self.dead = dead


class WsSession:
    """One live websockets connection as a `Session`, with request/reply routing."""

    def __init__(self, url: str, ws: ClientConnection) -> None:
        self.url = url
        self.ws = ws
        self.pending: dict[RequestId, asyncio.Future[Any]] = {}
        self.dead = False
        self.closing: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def send(self, frame: str | bytes) -> None:
        try:
            await self.ws.send(frame)
        except ConnectionClosed as exc:
            raise SourceError(f"connection closed: {exc}", kind="closed") from None

    async def request(self, frame: str | bytes, request_id: RequestId,
                      timeout: float) -> Any:
        if request_id in self.pending:
            raise SourceError(f"request id {request_id!r} already pending", kind="protocol")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = fut
        try:
            await self.send(frame)
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise SourceError(f"no reply to request {request_id!r} within {timeout:g}s",
                              kind="timeout") from None
        finally:
            self.pending.pop(request_id, None)

    async def close(self, reason: str) -> None:
        if not self.closing.done():
            self.closing.set_result(reason)

    def resolve(self, parsed: Parsed) -> None:
        for rid, value in parsed.replies.items():
            fut = self.pending.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(value)
        for rid, message in parsed.failures.items():
            fut = self.pending.get(rid)
            if fut is not None and not fut.done():
                fut.set_exception(SourceError(message, kind="rpc"))

    def fail_pending(self, reason: str) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(SourceError(f"connection closed: {reason}", kind="closed"))


class SourceRunner:
    """Runs one source forever: connect, read, keep alive, reconnect with backoff.

    `rng` (jitter) is injectable for deterministic tests; backoff sleeps go through the
    context's clock, connection timers (heartbeat, healthy_after, pings) through the
    event loop. `attempts` counts connection attempts; `state` is the announced state.
    """

    def __init__(self, source: WebSocketSource, *, rng: random.Random | None = None,
                 scheduler: AsyncIOScheduler | None = None) -> None:
        self.source = source
        self.ctx = source.ctx
        # The standard context emits a frame's events in one call; any other (a source
        # wrapping it, a test double) gets them one `emit` at a time.
        self._emit_all: Callable[[Iterable[tuple[str, Mapping[str, Any]]]], None] = (
            self.ctx.emit_all if isinstance(self.ctx, EventContext) else self._emit_each)
        self.settings = source.settings
        self.rng = rng or random.Random()
        self.attempts = 0
        self.failures = 0
        self.state: ConnectionState = "connecting"
        self._scheduler = scheduler
        self._own_scheduler = scheduler is None
        self._url_index = 0
        self._retry_soon = True
        self._last_frame = 0.0
        self._pong = asyncio.Event()
        self._job_ids: list[str] = []

    def attach_scheduler(self, scheduler: AsyncIOScheduler) -> None:
        """Run polls on a shared, externally owned scheduler (the manager's)."""
        self._scheduler = scheduler
        self._own_scheduler = False

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and reconnect until cancelled."""
        try:
            while True:
                healthy, url, reason = await self._attempt()
                if healthy:
                    self.failures = 0
                    self._announce("disconnected", url, reason)
                    continue
                self.failures += 1
                self._url_index += 1
                self._announce("disconnected", url, reason)
                delay = backoff_delay(self.failures, self.settings.reconnect, self.rng.random())
                if not self._retry_soon:    # e.g. bad config: retry, but slowly
                    delay = self.settings.reconnect.max
                self.ctx.log.info("reconnecting in %.2fs (failure %d: %s)",
                                  delay, self.failures, reason)
                await self.ctx.clock.sleep_until(self.ctx.clock.now() + delay)
        finally:
            if self._own_scheduler and self._scheduler is not None and self._scheduler.running:
                self._scheduler.shutdown(wait=False)

    def _announce(self, state: ConnectionState, url: str, reason: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.ctx.metrics.set("source_connected", 1.0 if state == "connected" else 0.0,
                             source=self.ctx.name)
        self.ctx.log.info("%s %s (%s)", state, url, reason)
        self.ctx.emit("connection", {"state": state, "url": url, "reason": reason})

    async def _attempt(self) -> tuple[bool, str, str]:
        """One connection attempt: (became healthy, url, reason it ended)."""
        self.attempts += 1
        self.ctx.metrics.inc("source_connect_attempts_total", source=self.ctx.name)
        url = "?"
        try:
            urls = await self.source.endpoints()
            url = urls[self._url_index % len(urls)]
            ws = await self._open(url)
        except SourceError as exc:
            if exc.kind != "connect":
                self.ctx.error(exc.kind, str(exc))
            self._retry_soon = exc.retry
            return False, url, str(exc)
        self._retry_soon = True
        session = WsSession(url, ws)
        healthy = asyncio.Event()
        try:
            reason = await self._connected(session, healthy)
        finally:
            session.fail_pending("disconnected")
            self.source.session = None
            self._stop_polls()
            try:
                self.source.on_disconnect()
            except Exception:
                self.ctx.log.exception("on_disconnect failed")
            if session.dead:
                ws.transport.abort()
            else:
                await _close(ws)
        return healthy.is_set(), url, reason

    async def _open(self, url: str) -> ClientConnection:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if url.startswith("wss:"):
            ctx = self.source.ssl_context(url)   # may raise SourceError(kind="tls")
            if ctx is not None:
                kwargs["ssl"] = ctx
        try:
            # Keepalive pings are ours (_keepalive) so a dead link is dropped at once.
            return await connect(url, open_timeout=s.open_timeout, ping_interval=None,
                                 close_timeout=s.pong_timeout,
                                 max_size=s.max_size, proxy=None, compression=None,
                                 user_agent_header="alertbot", **kwargs)
        except ssl.SSLError as exc:
            # Certificate or handshake trouble is worth a source_error, unlike a refusal.
            raise SourceError(f"TLS handshake with {url} failed: {exc}", kind="tls") from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise SourceError(f"cannot connect to {url}: {exc or type(exc).__name__}",
                              kind="connect") from None

    # -- one live connection -------------------------------------------------------------
    async def _connected(self, session: WsSession, healthy: asyncio.Event) -> str:
        self._last_frame = monotonic()
        self._pong = asyncio.Event()
        jobs: list[Coroutine[Any, Any, None]] = [
            self._read(session), self._watch_heartbeat(session), self._keepalive(session),
            self._setup(session, healthy)]
        if self.source.app_ping() is not None:
            jobs.append(self._app_ping(session))
        tasks = [asyncio.create_task(self._guard(job, session)) for job in jobs]
        try:
            return await session.closing
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, job: Awaitable[None], session: WsSession) -> None:
        """Turns whatever ends a connection task into the connection's close reason."""
        try:
            await job
        except _Drop as exc:
            session.dead = session.dead or exc.dead
            await session.close(str(exc))
        except ConnectionClosed as exc:
            await session.close(f"connection closed: {exc}")
        except SourceError as exc:
            if exc.kind != "closed":
                self.ctx.error(exc.kind, str(exc))
            await session.close(str(exc))
        except Exception as exc:
            self.ctx.log.exception("source task failed")
            await session.close(f"internal error: {exc!r}")

    async def _read(self, session: WsSession) -> None:
        recv = session.ws.recv
        # Sources whose parse() takes bytes skip the UTF-8 decode of every text frame.
        decode: bool | None = False if getattr(self.source, "raw_frames", False) else None
        dispatch = self._dispatch
        while True:
            try:
                frame = await recv(decode)
            except ConnectionClosedOK:
                raise _Drop("closed by peer") from None
            # time.monotonic, not loop.time(): the same clock without a Python call per frame.
            self._last_frame = monotonic()
            parsed = dispatch(frame)
            # Only frames that ask for more than events (replies, sends...) cost an await.
            if parsed is not None:
                await self._follow_up(session, parsed)

    def _dispatch(self, frame: str | bytes) -> Parsed | None:
        """Parse one frame and emit its events; returns it if it needs anything more."""
        try:
            parsed = self.source.parse(frame)
        except Exception as exc:
            # A malformed frame costs one frame, never the connection.
            self.ctx.metrics.inc("source_malformed_frames_total", source=self.ctx.name)
            level = logging.WARNING if isinstance(exc, ValueError) else logging.ERROR
            self.ctx.log.log(level, "skipped malformed frame (%s): %.200r", exc, frame,
                             exc_info=not isinstance(exc, ValueError))
            return None
        if isinstance(parsed, list):   # events only (a market feed's hot path)
            self._emit_all(parsed)
            return None
        self._emit_all(parsed.events)
        if (parsed.replies or parsed.failures or parsed.errors or parsed.send
                or parsed.pong or parsed.reconnect):
            return parsed
        return None

    def _emit_each(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        for etype, data in events:
            self.ctx.emit(etype, data)

    async def _handle(self, session: WsSession, frame: str | bytes) -> None:
        """Parse one frame and act on it (events, replies, errors, sends, pong)."""
        parsed = self._dispatch(frame)
        if parsed is not None:
            await self._follow_up(session, parsed)

    async def _follow_up(self, session: WsSession, parsed: Parsed) -> None:
        if parsed.replies or parsed.failures:
            session.resolve(parsed)
        for kind, message in parsed.errors:
            self.ctx.error(kind, message)
        for out in parsed.send:
            await session.send(out)
        if parsed.pong:
            self._pong.set()
        if parsed.reconnect:
            raise _Drop(parsed.reconnect)

    async def _watch_heartbeat(self, session: WsSession) -> None:
        limit = self.settings.heartbeat_timeout
        while True:
            idle = monotonic() - self._last_frame
            if idle >= limit:
                raise _Drop(f"no frame for {limit:g}s (heartbeat_timeout)", dead=True)
            await asyncio.sleep(limit - idle)

    async def _keepalive(self, session: WsSession) -> None:
        """WebSocket pings: a half-open link is dropped within ping_interval + pong_timeout."""
        interval, timeout = self.settings.ping_interval, self.settings.pong_timeout
        while True:
            await asyncio.sleep(interval)
            pong = await session.ws.ping()
            try:
                async with asyncio.timeout(timeout):
                    await pong
            except TimeoutError:
                raise _Drop(f"keepalive ping unanswered for {timeout:g}s", dead=True) from None

    async def _app_ping(self, session: WsSession) -> None:
        interval, timeout = self.settings.ping_interval, self.settings.pong_timeout
        while True:
            await asyncio.sleep(interval)
            frame = self.source.app_ping()
            if frame is None:
                continue
            self._pong.clear()
            await session.send(frame)
            try:
                async with asyncio.timeout(timeout):
                    await self._pong.wait()
            except TimeoutError:
                raise _Drop(f"application ping unanswered for {timeout:g}s",
                            dead=True) from None

    async def _setup(self, session: WsSession, healthy: asyncio.Event) -> None:
        """on_connect, polls, then `connected` once the link has lasted `healthy_after`."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        self.source.session = session
        await self.source.on_connect(session)
        self._start_polls(session)
        await asyncio.sleep(max(0.0, opened + self.settings.healthy_after - loop.time()))
        healthy.set()
        self.failures = 0
        self._announce("connected", session.url, "healthy")

    # -- polls (APScheduler, wall clock) ---------------------------------------------------
    def _start_polls(self, session: WsSession) -> None:
        polls = self.source.polls()
        if not polls:
            return
        if self._scheduler is None:
            self._scheduler = AsyncIOScheduler(timezone=UTC)
        if not self._scheduler.running:
            self._scheduler.start()
        self._job_ids = []
        for i, poll in enumerate(polls):
            job_id = f"{self.ctx.name}:{i}:{poll.name}"
            first = datetime.now(UTC) if poll.at_connect else None
            kwargs: dict[str, Any] = {"next_run_time": first} if first else {}
            self._scheduler.add_job(self._run_poll, "interval", seconds=poll.interval,
                                    args=[poll, session], id=job_id, replace_existing=True,
                                    max_instances=1, coalesce=True, misfire_grace_time=None,
                                    **kwargs)
            self._job_ids.append(job_id)

    def _stop_polls(self) -> None:
        if self._scheduler is None:
            return
        for job_id in self._job_ids:
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)
        self._job_ids = []

    async def _run_poll(self, poll: Poll, session: WsSession) -> None:
        if session.closing.done():
            return
        try:
            await poll.fn(session)
        except SourceError as exc:
            if exc.kind != "closed":
                self.ctx.error(exc.kind, f"{poll.name}: {exc}")
        except Exception:
            self.ctx.log.exception("poll %s failed", poll.name)
            self.ctx.metrics.inc("source_errors_total", source=self.ctx.name, kind="poll")


async def _close(ws: ClientConnection) -> None:
    """The close handshake, discarding whatever still arrives meanwhile. Nobody reads
    any more, so behind a busy feed reading pauses once `max_queue` frames wait and the
    peer's close frame sits unread behind them: close() would wait out close_timeout
    (longer than a container's stop grace) instead of taking milliseconds."""
    async def discard() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv(decode=False)

    drain = asyncio.create_task(discard())
    try:
        await ws.close()
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


def run_source(source: WebSocketSource, **kwargs: Any) -> Coroutine[Any, Any, None]:
    """Shorthand: `await run_source(src)` runs `SourceRunner(src).run()`."""
    return SourceRunner(source, **kwargs).run()


__all__ = ["EventContext", "Session", "SourceRunner", "WsSession", "backoff_delay",
           "run_source"]
