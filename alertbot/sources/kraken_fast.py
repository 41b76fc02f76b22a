"""Typed decoding of Kraken market-data frames (ticker, trade, ohlc): the feed's hot path.

Most frames of a market feed are ticker, trade or ohlc updates. msgspec decodes and
type-checks such a frame in one C pass against TypedDicts generated from the declared
event fields (`number` → float, `int`, `str`, `bool`), so a well-formed entry becomes
its event's field dict without a per-field Python loop. Anything else — another
channel, a null or missing field, a value of the wrong type, a number beyond what the
struct takes — returns None and the frame goes through the general parser, which
coerces, drops what it cannot use and reports what is malformed. So this module only
ever speeds a frame up; it never decides differently from the general path: unknown
keys are left out (as `typed()` drops them), ints in number fields become floats (as
`coerce` does), and an optional field may be absent (a null goes the general way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import msgspec

from .base import Events, EventSpec

# The Python type of each declared field type on the wire (the general parser coerces
# to the same ones).
WIRE_TYPES: dict[str, type] = {"number": float, "int": int, "str": str, "bool": bool}
# Fields Kraken leaves out of some frames (older API versions): absent is fine.
_OPTIONAL = {"ticker": frozenset({"timestamp"})}


def _entry_type(spec: EventSpec) -> Any:
    """A TypedDict of the declared fields: msgspec decodes an entry straight into a plain
    dict, checking each value's type, turning ints into floats where a number is
    declared and leaving unknown keys out."""
    optional = _OPTIONAL.get(spec.type, frozenset())
    fields = {name: NotRequired[WIRE_TYPES[ftype]] if name in optional
              else WIRE_TYPES[ftype] for name, ftype in spec.fields.items()}
    return TypedDict(f"{spec.type.title()}Entry", fields)  # type: ignore[operator]


class MarketDecoder:
    """Decodes market frames of the given channels into events, or says it cannot."""

    def __init__(self, specs: Mapping[str, EventSpec]) -> None:
        frames: list[Any] = []
        for channel, spec in specs.items():
            entries: Any = list[_entry_type(spec)]  # type: ignore[misc]
            # `event` is a class attribute (not a field): the event type to read back.
            frames.append(msgspec.defstruct(f"{channel.title()}Frame", [("data", entries)],
                                            tag_field="channel", tag=channel,
                                            namespace={"event": channel}))
        union: Any = frames[0]
        for frame in frames[1:]:
            union = union | frame
        self._decode = msgspec.json.Decoder(union).decode

    def events(self, frame: str | bytes) -> Events | None:
        """The frame's events, or None: not a well-formed frame of these channels."""
        try:
            msg = self._decode(frame)
        except msgspec.DecodeError:  # ValidationError included
            return None
        data = msg.data
        if len(data) == 1:   # nearly every update: no comprehension to set up
            return [(msg.event, data[0])]
        return [(msg.event, entry) for entry in data]
