"""The replay's virtual clock and the parser of replay input lines.

In `alertbot replay` (and the interim `alertbot demo`) time is whatever the input says:
each Event line's `time`, or a bare `{"time": ...}` advance line. `VirtualClock` only
moves forward when told; `parse_line` turns one JSONL line into an Event (with its data
coerced to the source's declared field types) or a clock advance, raising ReplayError
that names the line number for anything malformed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from .errors import ReplayError
from .model import Event, parse_time
from .sources import SOURCES
from .sources.base import ConnectionSettings, coerce


class VirtualClock:
    """Time moves only by `set()`; sleepers wake when it passes their deadline."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def set(self, t: float) -> None:
        if t < self._now:
            raise ValueError("the virtual clock never goes back")
        self._now = t
        self._changed.set()

    async def sleep_until(self, deadline: float) -> None:
        while self._now < deadline:
            self._changed.clear()
            await self._changed.wait()


def parse_line(text: str, lineno: int,
               sources: Mapping[str, ConnectionSettings]) -> Event | float | None:
    """An Event, a clock advance (float), or None for a blank line."""
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"line {lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    try:
        if isinstance(obj, dict) and set(obj) == {"time"}:
            return _time_value(obj["time"])
        event = Event.from_json(obj)
        return _coerced(event, sources)
    except ValueError as exc:
        raise ReplayError(f"line {lineno}: {exc}") from None


def _time_value(t: Any) -> float:
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    if isinstance(t, str):
        try:
            return parse_time(t)
        except ValueError:
            pass
    raise ValueError(f"'time' {t!r} is neither RFC 3339 nor epoch seconds")


def _coerced(event: Event, sources: Mapping[str, ConnectionSettings]) -> Event:
    """Coerce declared fields (Decimals arrive as strings or numbers); others pass."""
    settings = sources.get(event.source)
    kind = SOURCES.get(settings.kind if settings is not None else event.source)
    spec = None if kind is None else kind.event(event.type)
    if spec is None:
        return event
    data: dict[str, Any] = dict(event.data)
    for name, ftype in spec.fields.items():
        if name in data:
            try:
                data[name] = coerce(ftype, data[name])
            except ValueError as exc:
                raise ValueError(f"{event.source}/{event.type} field {name!r}: {exc}") from None
    return Event(event.source, event.type, event.time, data)
