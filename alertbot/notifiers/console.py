"""The console notifier: one line per notification on stdout (text, or JSON).

Text lines are `TIME <headline> {labels}` with the time the notification was created
(the virtual time in replays and the demo); `format: json` prints the DESIGN §2.5
notification object instead. Writing to stdout cannot fail in a way a retry fixes, so
send never raises DeliveryError(retry=True).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ..model import Notification, dumps, format_time
from .render import custom_text, headline, labels_line
from .settings import ConsoleSettings


class ConsoleNotifier:
    def __init__(self, name: str, settings: ConsoleSettings,
                 stream: TextIO | None = None) -> None:
        self.name = name
        self.settings = settings
        self._stream = stream

    def render(self, n: Notification) -> str:
        if self.settings.format == "json":
            return dumps(n.to_json())
        custom = custom_text(n, self.settings.template)
        if custom is not None:
            return " ".join(f"{format_time(n.created_at)} {custom}".split("\n"))
        line = f"{format_time(n.created_at)} {headline(n)}"
        # rule and severity are already in the headline
        labels = {k: v for k, v in n.alert.labels.items() if k not in ("rule", "severity")}
        if labels:
            line += f" {{{labels_line(labels)}}}"
        return " ".join(line.split("\n"))

    async def send(self, notification: Notification) -> None:
        stream = self._stream or sys.stdout
        stream.write(self.render(notification) + "\n")
        stream.flush()

    async def aclose(self) -> None:
        return None


def build(name: str, settings: ConsoleSettings, ctx: Any) -> ConsoleNotifier:
    return ConsoleNotifier(name, settings, getattr(ctx, "console_stream", None))
