"""Duration parsing and formatting: `30s`, `5m`, `1h30m`, `1d`, `250ms`, or plain seconds.

Used by config, rules, the CLI (`silence add --duration`) and Telegram's `/silence`.
`format_duration(parse_duration(x))` is canonical and round-trips. Stdlib only.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_TOKEN = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(value: object) -> float:
    """Seconds from a duration string or number; ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(_msg(value))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_msg(value))
    text = value.strip().replace(" ", "")
    if not text:
        raise ValueError(_msg(value))
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return number
    if not _WHOLE.fullmatch(text):
        raise ValueError(_msg(value))
    return sum(float(n) * _UNITS[u] for n, u in _TOKEN.findall(text))


def format_duration(seconds: float) -> str:
    """Canonical short form: 5400 → `1h30m`; 0.25 → `250ms`; 0 → `0s`."""
    if seconds <= 0:
        return "0s"
    ms_total = round(seconds * 1000)
    whole, ms = divmod(ms_total, 1000)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, whole = divmod(whole, size)
        if n:
            out.append(f"{n}{unit}")
    if ms:
        out.append(f"{ms}ms")
    return "".join(out)


def _msg(value: object) -> str:
    return (f"invalid duration {value!r}: use a number of seconds or units like "
            "30s, 5m, 1h30m, 2d, 250ms")
