"""What every source declares: its settings model, event types and their typed fields.

A source kind is data (`SourceKind`): `check` uses it to validate rules (event names,
field names, literal coercion), `parse()` uses the same field types to coerce wire
values, and `docs/events.md` is written from it. The shared connection settings of
DESIGN.md §2.2 live in `ConnectionSettings`, the base of every kind's settings model.
The second half is the runtime seam every WebSocket watcher implements: `SourceContext`
(what the runner gives a source), `Session` (one live connection), `Parsed` (what a
pure `parse()` returns), `Poll` and the `WebSocketSource` base class. The reconnect
loop that drives it lives in `runner.py`; a source never touches the engine directly.
"""

from __future__ import annotations

import logging
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, Protocol

from pydantic import Field

from ..clock import Clock
from ..config_types import Duration, Strict
from ..errors import SourceError
from ..metrics import Metrics
from ..store import StateStore

FieldType = Literal["str", "number", "decimal", "int", "bool", "list", "object"]


def coerce(ftype: FieldType, value: Any) -> Any:
    """Coerce a wire or rule-literal value to a declared field type; ValueError if impossible.

    Numbers: `number` → float, `decimal` → Decimal (exact; Kakitu raw amounts), `int` →
    int (accepts "12", 12.0). Every source sends scalars its own way (Kakitu: all strings).
    """
    if value is None:
        return None
    if ftype == "str":
        if isinstance(value, (dict, list)):
            raise ValueError(f"expected text, found {type(value).__name__}")
        return value if isinstance(value, str) else str(value)
    if ftype == "number":
        if isinstance(value, bool):
            raise ValueError("expected a number, found a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, found {value!r}") from None
    if ftype == "decimal":
        if isinstance(value, bool):
            raise ValueError("expected a number, found a boolean")
        try:
            return Decimal(str(value)) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise ValueError(f"expected a number, found {value!r}") from None
    if ftype == "int":
        if isinstance(value, bool):
            raise ValueError("expected an integer, found a boolean")
        try:
            f = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"expected an integer, found {value!r}") from None
        if f != f.to_integral_value():
            raise ValueError(f"expected an integer, found {value!r}")
        return int(f)
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"expected true or false, found {value!r}")
    if ftype == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, found {type(value).__name__}")
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, found {type(value).__name__}")
    return value


NUMERIC_TYPES: frozenset[str] = frozenset({"number", "decimal", "int"})


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type a source emits, with its declared fields (name → type)."""

    type: str
    fields: Mapping[str, FieldType]
    doc: str = ""


CONNECTION = EventSpec("connection", {"state": "str", "url": "str", "reason": "str"},
                       "connected (once healthy) / disconnected (first failed attempt)")
SOURCE_ERROR = EventSpec("source_error", {"kind": "str", "message": "str"},
                         "a protocol, TLS or RPC error the source survived")
COMMON_EVENTS: tuple[EventSpec, ...] = (CONNECTION, SOURCE_ERROR)


class ReconnectSettings(Strict):
    initial: Duration = 1.0
    max: Duration = 60.0
    factor: float = Field(2.0, ge=1.0)
    jitter: float = Field(0.2, ge=0.0, le=1.0)


class ConnectionSettings(Strict):
    """Connection settings every source takes (DESIGN.md §2.2), defaults as documented."""

    kind: str
    ping_interval: Duration = 10.0
    pong_timeout: Duration = 10.0
    heartbeat_timeout: Duration = 30.0
    open_timeout: Duration = 10.0
    healthy_after: Duration = 5.0
    reconnect: ReconnectSettings = ReconnectSettings()
    max_size: int = Field(4 * 1024 * 1024, ge=1024, description="largest frame, bytes")


@dataclass(frozen=True, slots=True)
class SourceKind:
    """The declaration of one source kind: the registry's value type.

    `interest_fields` are event fields whose `where` values the source must subscribe
    to (Kraken `symbol`, Kakitu accounts); `subscribed(settings)` returns the values the
    config already subscribes to, so `check` can warn about a rule outside them (the
    source subscribes to the union at run time).
    """

    kind: str
    settings: type[ConnectionSettings]
    events: tuple[EventSpec, ...]
    doc: str = ""
    interest_fields: tuple[str, ...] = ()
    subscribed: Callable[[Any], frozenset[str] | None] = field(default=lambda _s: None)

    def event(self, etype: str) -> EventSpec | None:
        for spec in self.events:
            if spec.type == etype:
                return spec
        for spec in COMMON_EVENTS:
            if spec.type == etype:
                return spec
        return None

    def event_types(self) -> list[str]:
        own = [e.type for e in self.events]
        return own + [e.type for e in COMMON_EVENTS if e.type not in own]


# -- runtime seam ----------------------------------------------------------------------

RequestId = str | int
ConnectionState = Literal["connecting", "connected", "disconnected"]


class SourceContext(Protocol):
    """What the runner hands a source: identity, clock, metrics, store and two outlets.

    `emit` turns (type, data) into an Event stamped with `clock.now()` (the receive
    time) under the source's configured name; `error` emits a `source_error` event,
    logs it and counts it (`source_errors_total{source,kind}`).
    """

    # Read-only members, so any object with these attributes conforms (e.g. one whose
    # `metrics` is a RecordingMetrics).
    @property
    def name(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def store(self) -> StateStore | None: ...
    @property
    def log(self) -> logging.Logger: ...

    def emit(self, etype: str, data: Mapping[str, Any]) -> None: ...
    def error(self, kind: str, message: str) -> None: ...


class Session(Protocol):
    """One live connection, given to `on_connect` and polls (and kept in `source.session`).

    `request` sends a frame and waits for the reply the source's `parse()` routes back
    by id through `Parsed.replies` (or `Parsed.failures`). It raises `SourceError` with
    kind `timeout` when no reply comes within `timeout` seconds, kind `rpc` on a failure
    reply, kind `closed` when the connection ends first. Several requests may be
    outstanding at once; one unanswered request never blocks the others. `close` drops
    the connection on purpose (the runner then reconnects with backoff).
    """

    url: str

    async def send(self, frame: str | bytes) -> None: ...
    async def request(self, frame: str | bytes, request_id: RequestId,
                      timeout: float) -> Any: ...
    async def close(self, reason: str) -> None: ...


@dataclass(slots=True)
class Parsed:
    """What one frame meant. Built by a pure `parse()`; acted on by the runner.

    events   — (event type, typed data) to emit, in order.
    replies  — request id → reply payload, resolves a pending `Session.request`.
    failures — request id → error message, fails a pending request (SourceError "rpc").
    send     — frames to send back now (e.g. Kraken: resubscribe one book symbol).
    errors   — (kind, message) the source survived → `source_error` events.
    pong     — this frame answers the application ping (`app_ping()`).
    reconnect — a reason when the protocol requires dropping this connection.
    """

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    replies: dict[RequestId, Any] = field(default_factory=dict)
    failures: dict[RequestId, str] = field(default_factory=dict)
    send: list[str | bytes] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    pong: bool = False
    reconnect: str | None = None


# What `parse()` returns for a frame that carries events and nothing else: the list
# alone, so the runner's hot path skips building a `Parsed` per frame.
Events = list[tuple[str, dict[str, Any]]]


def events_of(parsed: Parsed | Events) -> Events:
    """The events of a `parse()` result, whichever form it took."""
    return parsed if isinstance(parsed, list) else parsed.events


def as_parsed(parsed: Parsed | Events) -> Parsed:
    """A `parse()` result as a `Parsed`, whichever form it took."""
    return Parsed(events=parsed) if isinstance(parsed, list) else parsed


PollFn = Callable[["Session"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Poll:
    """A periodic job run while connected (APScheduler, wall clock).

    Each poll runs independently (a slow one skips its own next run, never another
    poll's); `at_connect` also runs it right after `on_connect`. A `SourceError` it
    raises becomes a `source_error` event; the connection stays up.
    """

    name: str
    interval: float
    fn: PollFn
    at_connect: bool = True


class WebSocketSource(ABC):
    """Base class of every WebSocket watcher; the runner drives it.

    Subclasses set `kind` and implement the pure `subscribe()` and `parse()`; the hooks
    have working defaults. Per-connection state is reset in `on_disconnect()`, which
    the runner calls after every connection ends (also one that never got healthy).
    """

    kind: ClassVar[SourceKind]

    def __init__(self, name: str, settings: ConnectionSettings, ctx: SourceContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.session: Session | None = None   # set by the runner while connected

    async def endpoints(self) -> list[str]:
        """URLs in failover order; re-evaluated before every connection attempt."""
        urls = list(getattr(self.settings, "urls", None) or [])
        url = getattr(self.settings, "url", None)
        if url and url not in urls:
            urls.insert(0, url)
        if not urls:
            raise SourceError("no url configured", kind="config", retry=False)
        return urls

    def ssl_context(self, url: str) -> ssl.SSLContext | None:
        """TLS context for a `wss://` URL (None = library default); may raise SourceError."""
        return None

    @abstractmethod
    def subscribe(self) -> list[str]:
        """Frames to send after every connect. Pure: same output for the same state."""

    @abstractmethod
    def parse(self, frame: str | bytes) -> Parsed | Events:
        """Interpret one frame; raise ValueError (only) for a malformed one. A frame that
        only carries events may return them as a plain list (`Events`)."""

    def app_ping(self) -> str | None:
        """Application-level ping frame sent every `ping_interval`, if the protocol has one.

        When set, a frame with `Parsed.pong` must arrive within `pong_timeout` of each
        ping or the runner reconnects (Kakitu: unanswered ping = dead session).
        """
        return None

    async def on_connect(self, session: Session) -> None:
        """Run once per connection while frames are being read: default sends subscribe().

        Override to await acks (`session.request`), re-register, or catch up. Raising
        SourceError counts the attempt as failed and reconnects with backoff.
        """
        for frame in self.subscribe():
            await session.send(frame)

    def on_disconnect(self) -> None:
        """Reset per-connection state (books, pending requests, acks)."""
        return None

    def polls(self) -> list[Poll]:
        """Periodic jobs to run while connected."""
        return []
