"""The source conformance kit: checks every source's tests run with their own fixtures.

- `check_fields(source, frames)`: every event `parse()` emits for the fixtures is a
  declared type, its field names are declared and its values have the declared type.
- `check_garbage(source, frames)`: random bytes, truncated and mutated fixtures (wrong
  types, huge numbers, nulls) make `parse()` return or raise ValueError, nothing else.
- `check_subscribe_pure(make_source)`: `subscribe()` gives the same frames twice and
  for two instances, without touching the network.
- `check_resubscribe(make_source, server)`: against a local `WsServer`, the server
  sees the subscribe frames again after the connection drops.

`RecordingContext` is a `SourceContext` that keeps emitted events and errors in lists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from alertbot.metrics import RecordingMetrics
from alertbot.model import Event
from alertbot.sources.base import FieldType, WebSocketSource, events_of
from alertbot.sources.runner import SourceRunner
from alertbot.store import StateStore
from tests.fakes.ws_server import WsServer, frames_as_text


class RecordingContext:
    """A SourceContext for tests: events and errors land in lists (wall or fake clock)."""

    def __init__(self, name: str = "src", *, clock: Any = None,
                 store: StateStore | None = None) -> None:
        from alertbot.clock import SystemClock
        self.name = name
        self.clock = clock or SystemClock()
        self.metrics = RecordingMetrics()
        self.store = store
        self.log = logging.getLogger(f"tests.source.{name}")
        self.events: list[Event] = []
        self.changed = asyncio.Event()

    def emit(self, etype: str, data: Mapping[str, Any]) -> None:
        self.events.append(Event(self.name, etype, self.clock.now(), dict(data)))
        self.changed.set()

    def error(self, kind: str, message: str) -> None:
        self.emit("source_error", {"kind": kind, "message": message})

    def of_type(self, etype: str) -> list[Event]:
        return [e for e in self.events if e.type == etype]

    def states(self) -> list[str]:
        return [str(e.data["state"]) for e in self.of_type("connection")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


_TYPES: dict[FieldType, tuple[type, ...]] = {
    "str": (str,), "number": (float, int), "decimal": (Decimal,), "int": (int,),
    "bool": (bool,), "list": (list,), "object": (dict,),
}


def field_problems(source: WebSocketSource, etype: str, data: Mapping[str, Any]) -> list[str]:
    """What is wrong with one emitted event against the source kind's declaration."""
    spec = source.kind.event(etype)
    if spec is None:
        return [f"event type {etype!r} is not declared"]
    problems = []
    for key, value in data.items():
        ftype = spec.fields.get(key)
        if ftype is None:
            problems.append(f"{etype}.{key} is not a declared field")
        elif value is not None and (not isinstance(value, _TYPES[ftype])
                                    or (ftype != "bool" and isinstance(value, bool))):
            problems.append(f"{etype}.{key}={value!r} is not of declared type {ftype}")
    return problems


def check_fields(source: WebSocketSource, frames: Iterable[str | bytes],
                 *, min_events: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """Parse fixtures; assert every event matches the declaration. Returns the events."""
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in frames:
        events.extend(events_of(source.parse(frame)))
    problems = [p for etype, data in events for p in field_problems(source, etype, data)]
    assert not problems, "\n".join(problems)
    assert len(events) >= min_events, f"fixtures produced only {len(events)} events"
    return events


def _mutations(obj: Any, rng: random.Random) -> Iterator[Any]:
    """Copies of `obj` with one value replaced by a hostile one, recursively."""
    hostile: list[Any] = [None, True, -1, 10**400, 1e308, "x", "", [], {}, "NaN",
                          "1" * 500, -(10**30), 0.5]
    if isinstance(obj, dict):
        for key in list(obj):
            for bad in rng.sample(hostile, 4):
                yield {**obj, key: bad}
            for sub in _mutations(obj[key], rng):
                yield {**obj, key: sub}
    elif isinstance(obj, list):
        for i in range(min(len(obj), 6)):
            for bad in rng.sample(hostile, 3):
                yield [*obj[:i], bad, *obj[i + 1:]]
            for sub in _mutations(obj[i], rng):
                yield [*obj[:i], sub, *obj[i + 1:]]
        yield obj[:-1] if obj else [None]
    else:
        yield from rng.sample(hostile, 3)


def garbage_frames(frames: Iterable[str | bytes], *, seed: int = 4,
                   limit: int = 3000) -> list[str | bytes]:
    """Hostile variants of fixture frames (plus generic junk), deterministic per seed."""
    rng = random.Random(seed)
    junk: list[str | bytes] = [b"", b"\x00\xff\xfe", "", "null", "[]", "{}", "42",
                               '"text"', "[[[[", '{"a":', "\ud800", "1e999999",
                               json.dumps([1, {"a": None}]), "{" * 10_000]
    junk += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
             for _ in range(30)]
    for frame in frames:
        text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
        junk += [text[: rng.randrange(len(text) + 1)] for _ in range(8)]
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        junk += [json.dumps(m) for m in _mutations(obj, rng)]
    return junk[:limit] if len(junk) > limit else junk


def check_garbage(source: WebSocketSource, frames: Iterable[str | bytes] = (),
                  *, seed: int = 4) -> int:
    """Assert parse() only ever returns or raises ValueError; returns the rejected count."""
    rejected = 0
    for frame in garbage_frames(frames, seed=seed):
        try:
            source.parse(frame)
        except ValueError:
            rejected += 1
        except Exception as exc:  # the point of the check
            raise AssertionError(f"parse({frame!r:.120}) raised {exc!r}") from exc
    return rejected


@contextmanager
def _no_network() -> Iterator[None]:
    real = socket.socket.connect

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"subscribe() touched the network: {address!r}")

    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        socket.socket.connect = real  # type: ignore[method-assign]


def check_subscribe_pure(make_source: Callable[[], WebSocketSource]) -> list[str]:
    """Assert subscribe() is deterministic and does no I/O; returns its frames."""
    with _no_network():
        a, b = make_source(), make_source()
        first = a.subscribe()
        assert a.subscribe() == first, "subscribe() differs between two calls"
        assert b.subscribe() == first, "subscribe() differs between two instances"
    assert all(isinstance(f, (str, bytes)) for f in first)
    return first


async def check_resubscribe(make_source: Callable[[RecordingContext], WebSocketSource],
                            server: WsServer, *, expected: list[str] | None = None,
                            timeout: float = 5.0) -> None:
    """Run the source against `server`, drop the link, assert subscribe frames come again.

    The source's settings must point at `server.url`; use scaled-down reconnect delays.
    `expected` defaults to the source's own `subscribe()` frames.
    """
    ctx = RecordingContext(clock=None)
    source = make_source(ctx)
    want = frames_as_text(expected if expected is not None else source.subscribe())
    assert want, "the source subscribes to nothing: nothing to check"

    task = asyncio.create_task(SourceRunner(source, rng=random.Random(0)).run())
    try:
        await server.wait_for(lambda: all(
            frames_as_text(server.received).count(f) >= 1 for f in want), timeout)
        server.drop_all()
        await server.wait_for(lambda: all(
            frames_as_text(server.received).count(f) >= 2 for f in want), timeout)
        assert server.accepted >= 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


__all__ = ["RecordingContext", "check_fields", "check_garbage",
           "check_resubscribe", "check_subscribe_pure", "field_problems", "garbage_frames"]
