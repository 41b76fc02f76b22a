"""What every source declares: its settings model, event types and their typed fields.

A source kind is data (`SourceKind`): `check` uses it to validate rules (event names,
field names, literal coercion), `parse()` uses the same field types to coerce wire
values, and `docs/events.md` is written from it. The shared connection settings of
DESIGN.md §2.2 live in `ConnectionSettings`, the base of every kind's settings model.
The reconnect runner and the runtime source protocol are added here by the source-seam
work; this part is the declarative seam the rule language depends on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field

from ..config_types import Duration, Strict

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
        return [e.type for e in self.events] + [e.type for e in COMMON_EVENTS]
