"""The one exception tree of alertbot.

Every library error is translated into one of these at its single home module (httpx in
the notifiers' HTTP helper, websockets in the source runner, ruamel.yaml in yamlio), so
callers catch alertbot errors only. Delivery errors say whether a retry can help and,
when the server said so, after how long (`retry_after`). Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass


class AlertbotError(Exception):
    """Base of every error alertbot raises on purpose."""


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One located problem in a config or rule file (`FILE:LINE:COL: message`)."""

    file: str
    line: int
    col: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        tag = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}:{self.col}: {tag}{self.message}"


class ConfigError(AlertbotError):
    """Config or rule files are invalid; carries every problem found, located."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretError(AlertbotError):
    """A `${VAR}` or `*_file` secret could not be resolved (names the variable/file only)."""


class ReplayError(AlertbotError):
    """A replay input line is malformed or goes back in time (names the line)."""


class StoreError(AlertbotError):
    """The state store cannot be opened or migrated."""


class SourceError(AlertbotError):
    """A source failed (connection, TLS, protocol). `retry` says whether reconnecting helps."""

    def __init__(self, message: str, *, kind: str = "protocol", retry: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry = retry


class DeliveryError(AlertbotError):
    """A notifier could not deliver. `retry` False means dead-letter now.

    `retry_after` is the server's requested delay in seconds (HTTP 429 Retry-After,
    Telegram's retry_after), which the retry stage honours exactly.
    """

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after
        self.status = status
