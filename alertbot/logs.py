"""Logging set-up for the service: stderr only, text on a terminal, JSON otherwise.

Each record carries the `rule`, `source` and `notifier` it concerns when known — from
`extra={...}` or from the logger name (`alertbot.source.NAME`,
`alertbot.notifier.NAME`) — so a JSON log line can be filtered by any of them. Secret
scrubbing happens where messages are made (notifiers scrub their own URLs and tokens);
this module only shapes lines.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal

import orjson

LogFormat = Literal["text", "json", "auto"]
FIELDS = ("rule", "source", "notifier")
_BY_LOGGER = (("alertbot.source.", "source"), ("alertbot.notifier.", "notifier"))


def _fields(record: logging.LogRecord) -> dict[str, str]:
    out = {k: str(v) for k in FIELDS if (v := getattr(record, k, None)) is not None}
    for prefix, key in _BY_LOGGER:
        if key not in out and record.name.startswith(prefix):
            out[key] = record.name[len(prefix):]
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, rule/source/notifier."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(obj).decode()


class TextFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL logger [source=x]: message` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(ctx)s: %(message)s",
                         "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        f = _fields(record)
        record.ctx = "".join(f" {k}={v}" for k, v in f.items()
                             if not record.name.endswith(f".{v}"))
        return super().format(record)


def setup(fmt: LogFormat = "auto", level: str | int = "INFO") -> None:
    """Route every log record to stderr in the chosen format (replacing handlers)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries' chatter is not ours to report at INFO.
    for noisy in ("websockets", "httpx", "httpcore", "apscheduler", "telegram", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
