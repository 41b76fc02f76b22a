"""A tiny resolver service on 127.0.0.1:0: fixed HTTP answers per request path, recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeResolver:
    """Answers every GET with `status` and `body` (a node JSON, or text for errors)."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status, self.body = status, body
        self.paths: list[str] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeResolver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.paths.append(head.split(b" ")[1].decode())
        if isinstance(self.body, (dict, list)):
            payload, ctype = json.dumps(self.body).encode(), "application/json"
        else:
            payload, ctype = str(self.body or "not found").encode(), "text/plain"
        reason = "OK" if self.status == 200 else "Not Found"
        writer.write(f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                     + payload)
        await writer.drain()
        writer.close()
