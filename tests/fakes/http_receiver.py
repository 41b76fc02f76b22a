"""HttpReceiver: a real HTTP/1.1 server on 127.0.0.1:0 with scripted answers.

Runs on asyncio streams in the test's event loop. Every request is recorded (method,
path, lower-cased headers, body, arrival time); answers come from a script of
`Reply`s consumed in order (then `default`); an optional `route(request)` answers
first when it returns a Reply (e.g. a fixed answer for one path). A reply with
`hold=True` keeps the request open until `release()` (or close), which is how tests
produce client timeouts and in-flight kills without sleeping. `wait_for(n)` awaits the n-th request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
           410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | str = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    def __init__(self, script: Iterable[Reply] = (), default: Reply | None = None, *,
                 route: Callable[[Request], Reply | None] | None = None) -> None:
        self.script = list(script)
        self.route = route
        self.default = default or Reply()
        self.requests: list[Request] = []
        self._arrived = asyncio.Condition()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HttpReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> HttpReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def release(self) -> None:
        """Let every held request answer (with the default reply)."""
        self._release.set()

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        """Return once at least `count` requests arrived (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    def ids(self) -> list[str]:
        """The `webhook-id` header of every request, in arrival order."""
        return [r.headers.get("webhook-id", "") for r in self.requests]

    # -- server ------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                reply = self.route(request) if self.route is not None else None
                if reply is None:
                    reply = self.script.pop(0) if self.script else self.default
                async with self._arrived:
                    self.requests.append(request)
                    self._arrived.notify_all()
                if reply.hold:
                    await self._release.wait()
                await self._write(writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._conns.discard(writer)
            writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, path, headers, body, time.monotonic())

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, reply: Reply) -> None:
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}",
                f"Content-Length: {len(body)}", "Content-Type: text/plain"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
