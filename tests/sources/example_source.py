"""A minimal WebSocket source used to test the runner and the conformance kit.

Its wire protocol is tiny JSON: it subscribes with `{"op":"subscribe","channel":...}`,
the server pushes `{"type":"tick","name":...,"value":...}` (→ `tick` event) and
`{"type":"heartbeat"}`, answers requests `{"id":N,"op":"echo"}` with `{"id":N,...}`,
and the application ping `{"op":"ping"}` with `{"type":"pong"}`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from alertbot.sources.base import (
    ConnectionSettings,
    EventSpec,
    Parsed,
    Poll,
    Session,
    SourceContext,
    SourceKind,
    WebSocketSource,
    coerce,
)


class ExampleSettings(ConnectionSettings):
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=lambda: ["ticks"])
    app_ping: bool = False
    poll_interval: float | None = None


TICK = EventSpec("tick", {"name": "str", "value": "number", "seq": "int"})
KIND = SourceKind("example", ExampleSettings, (TICK,), "test source")


class ExampleSource(WebSocketSource):
    kind: ClassVar[SourceKind] = KIND
    settings: ExampleSettings

    def __init__(self, name: str, settings: ExampleSettings, ctx: SourceContext) -> None:
        super().__init__(name, settings, ctx)
        self.connects = 0
        self.disconnects = 0
        self.poll_replies: list[Any] = []
        self._next_id = 0

    def subscribe(self) -> list[str]:
        return [json.dumps({"op": "subscribe", "channel": c}) for c in self.settings.channels]

    def app_ping(self) -> str | None:
        return '{"op":"ping"}' if self.settings.app_ping else None

    def parse(self, frame: str | bytes) -> Parsed:
        try:
            msg = json.loads(frame)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise ValueError("expected an object")
        out = Parsed()
        if "id" in msg:
            if not isinstance(msg["id"], (int, str)):
                raise ValueError("request id must be a number or text")
            if "error" in msg:
                out.failures[msg["id"]] = str(msg["error"])
            else:
                out.replies[msg["id"]] = msg.get("result")
        elif msg.get("type") == "tick":
            data = {k: coerce(t, msg.get(k)) for k, t in TICK.fields.items() if k in msg}
            out.events.append(("tick", data))
        elif msg.get("type") == "pong":
            out.pong = True
        elif msg.get("type") == "error":
            out.errors.append(("protocol", str(msg.get("message"))))
        elif msg.get("type") != "heartbeat":
            raise ValueError(f"unknown message type {msg.get('type')!r}")
        return out

    async def on_connect(self, session: Session) -> None:
        self.connects += 1
        await super().on_connect(session)

    def on_disconnect(self) -> None:
        self.disconnects += 1

    def polls(self) -> list[Poll]:
        if self.settings.poll_interval is None:
            return []
        return [Poll("echo", self.settings.poll_interval, self._poll)]

    async def _poll(self, session: Session) -> None:
        self._next_id += 1
        rid = self._next_id
        reply = await session.request(json.dumps({"id": rid, "op": "echo"}), rid, timeout=1.0)
        self.poll_replies.append(reply)


def from_any_settings(name: str, settings: ConnectionSettings,
                      ctx: SourceContext) -> ExampleSource:
    """A factory for manager tests: runs the example protocol from any kind's settings."""
    shared = settings.model_dump(include=set(ConnectionSettings.model_fields) | {"url", "urls"})
    return ExampleSource(name, ExampleSettings.model_validate({**shared, "kind": "example"}),
                         ctx)


class ExampleSim:
    """A `Simulator` for the registry tests: a WsServer that ticks once per script step."""

    closed = 0

    def __init__(self, server: Any) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def subscribers(self) -> int:
        return len(self.server.open)

    def source_config(self) -> dict[str, Any]:
        return {"kind": "kaspa", "url": self.url, "healthy_after": 0.02}

    async def script(self, duration: float) -> None:
        await self.server.send_all('{"type":"tick","name":"demo","value":1}')

    async def close(self) -> None:
        ExampleSim.closed += 1
        await self.server.close()


async def start_example_sim() -> ExampleSim:
    from tests.fakes.ws_server import WsServer
    return ExampleSim(await WsServer().__aenter__())


async def start_broken_sim() -> ExampleSim:
    raise OSError("port in use")
