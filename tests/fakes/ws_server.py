"""A small controllable `websockets` server on 127.0.0.1:0 for source and runner tests.

Behaviour is switched by plain attributes while it runs: `refuse` (HTTP 503 at the
handshake), `drop_after` (close every connection after that many seconds), `chatter`
(send `chatter_frame` every N seconds so heartbeats stay fresh), `silent` (send
nothing). `half_open()` stops reading on every open connection, so pings go unanswered
while the TCP link stays up. `reply` maps a received frame to frames sent back.
Every connection attempt, handshake and received frame is recorded, and
`wait_for(predicate)` lets tests synchronise on what the server saw without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
from collections.abc import Callable
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


class WsServer:
    def __init__(self, *, reply: Callable[[str | bytes], list[str]] | None = None,
                 greeting: list[str] | None = None) -> None:
        self.reply = reply
        self.greeting = list(greeting or [])
        self.refuse = False
        self.drop_after: float | None = None
        self.chatter: float | None = None
        self.chatter_frame = '{"type":"heartbeat"}'
        self.silent = False
        self.handshakes = 0          # HTTP upgrade requests seen (incl. refused)
        self.accepted = 0            # connections that completed the handshake
        self.received: list[str | bytes] = []
        self.open: set[ServerConnection] = set()
        self._server: Server | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aenter__(self) -> WsServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, ping_interval=None,
                                   process_request=self._process_request, compression=None)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            for ws in list(self.open):
                ws.transport.abort()
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def _notify(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once predicate() holds; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        self._notify()
        if self.refuse:
            return Response(http.HTTPStatus.SERVICE_UNAVAILABLE.value, "Service Unavailable",
                            Headers(), b"refused\n")
        return None

    async def send_all(self, frame: str | bytes) -> None:
        """Send a frame to every open connection."""
        for ws in list(self.open):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frame)

    def half_open(self) -> None:
        """Stop reading on every open connection: pings go unanswered, TCP stays up."""
        self.silent = True
        for ws in self.open:
            ws.transport.pause_reading()

    def drop_all(self) -> None:
        """Abort every open connection (no close frame)."""
        for ws in list(self.open):
            ws.transport.abort()

    async def _handler(self, ws: ServerConnection) -> None:
        self.accepted += 1
        self.open.add(ws)
        self._notify()
        tasks = [asyncio.create_task(self._receive(ws))]
        if self.chatter is not None:
            tasks.append(asyncio.create_task(self._chat(ws, self.chatter)))
        try:
            for frame in self.greeting:
                await ws.send(frame)
            if self.drop_after is not None:
                await asyncio.sleep(self.drop_after)
                ws.transport.abort()
            else:
                await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self.open.discard(ws)
            self._notify()

    async def _receive(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                self.received.append(frame)
                self._notify()
                if self.reply is not None and not self.silent:
                    for out in self.reply(frame):
                        await ws.send(out)

    async def _chat(self, ws: ServerConnection, every: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(every)
                if not self.silent:
                    await ws.send(self.chatter_frame)


def frames_as_text(frames: list[Any]) -> list[str]:
    """Received frames decoded to text (bytes as UTF-8) for easy assertions."""
    return [f.decode() if isinstance(f, bytes) else f for f in frames]
