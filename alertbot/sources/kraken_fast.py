"""Typed decoding of Kraken market-data frames (ticker, trade, ohlc): the feed's hot path.

Most frames of a market feed are ticker, trade or ohlc updates. msgspec decodes and
type-checks such a frame in one C pass against structs generated from the declared
event fields (`number` → float, `int`, `str`, `bool`), so a well-formed entry becomes
its event's field dict without a per-field Python loop. Anything else — another
channel, a null or missing field, a value of the wrong type, a number beyond what the
struct takes — returns None and the frame goes through the general parser, which
coerces, drops what it cannot use and reports what is malformed. So this module only
ever speeds a frame up; it never decides differently from the general path: unknown
keys are ignored (as `typed()` drops them), ints in number fields become floats (as
`coerce` does), and an optional field that is absent or null is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .base import Events, EventSpec

_WIRE_TYPES: dict[str, Any] = {"number": float, "int": int, "str": str, "bool": bool}
# Fields Kraken leaves out of some frames (older API versions): absent or null is fine.
_OPTIONAL = {"ticker": frozenset({"timestamp"})}


def _entry_struct(spec: EventSpec) -> tuple[type[msgspec.Struct], tuple[str, ...]]:
    optional = _OPTIONAL.get(spec.type, frozenset())
    # Required fields first (msgspec wants defaulted ones last), each in declared order.
    fields: list[Any] = [(name, _WIRE_TYPES[ftype]) for name, ftype in spec.fields.items()
                         if name not in optional]
    fields += [(name, _WIRE_TYPES[ftype] | None, None)
               for name, ftype in spec.fields.items() if name in optional]
    struct = msgspec.defstruct(f"{spec.type.title()}Entry", fields)
    return struct, tuple(n for n in spec.fields if n in optional)


class MarketDecoder:
    """Decodes market frames of the given channels into events, or says it cannot."""

    def __init__(self, specs: Mapping[str, EventSpec]) -> None:
        frames: list[Any] = []
        self._optional: dict[type, tuple[str, ...]] = {}
        for channel, spec in specs.items():
            entry, optional = _entry_struct(spec)
            entries: Any = list[entry]   # type: ignore[valid-type]
            frame = msgspec.defstruct(f"{channel.title()}Frame", [("data", entries)],
                                      tag_field="channel", tag=channel)
            frames.append(frame)
            self._optional[frame] = optional
        self._channel = {frame: channel for frame, channel in zip(frames, specs, strict=True)}
        union: Any = frames[0]
        for frame in frames[1:]:
            union = union | frame
        self._decoder = msgspec.json.Decoder(union)

    def events(self, frame: str | bytes) -> Events | None:
        """The frame's events, or None: not a well-formed frame of these channels."""
        try:
            msg = self._decoder.decode(frame)
        except msgspec.DecodeError:  # ValidationError included
            return None
        kind = type(msg)
        channel, optional = self._channel[kind], self._optional[kind]
        asdict = msgspec.structs.asdict
        out: Events = []
        for entry in msg.data:
            fields = asdict(entry)
            for name in optional:
                if fields[name] is None:
                    del fields[name]
            out.append((channel, fields))
        return out
