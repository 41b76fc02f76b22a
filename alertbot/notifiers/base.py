"""What every notifier declares and implements.

`NotifierSettings` carries the settings every notifier takes (`min_severity`,
`send_resolved`, grouping, `template`); each kind subclasses it. At run time a notifier
is an object with `async send(notification)` that raises `DeliveryError(retry=...)`
and `async aclose()`; the retry stage (the only one that retries) lives in the pipeline.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from ..config_types import Duration, SeverityField, Strict
from ..model import Notification, Severity


class NotifierSettings(Strict):
    kind: str
    min_severity: SeverityField = Severity.info
    send_resolved: bool = True
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    template: str | None = None
    timeout: Duration = 10.0


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> None:
        """Deliver once; raise DeliveryError(retry=..., retry_after=...) on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class NotifierKind:
    """Registry value: a kind's settings model and the factory that builds it."""

    kind: str
    settings: type[NotifierSettings]
    factory: str = ""
    """`module:function` building the notifier: `(name, settings, ctx) -> Notifier`;
    imported only when the notifier is built, so `check` stays light."""
    doc: str = ""

    def build(self, name: str, settings: Any, ctx: Any) -> Notifier:
        module_name, _, func = self.factory.partition(":")
        if not module_name:
            raise LookupError(f"notifier kind {self.kind!r} has no implementation yet")
        module = importlib.import_module(module_name)
        built: Notifier = getattr(module, func)(name, settings, ctx)
        return built
