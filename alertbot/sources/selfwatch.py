"""The built-in `alertbot` source: alertbot's own trouble, as events rules can alert on.

Emitted by the service itself (never configured with a URL): a dead-lettered
notification, a rejected reload, a source error, a growing outbox.
"""

from __future__ import annotations

from .base import ConnectionSettings, EventSpec, SourceKind


class SelfSettings(ConnectionSettings):
    pass


EVENTS = (
    EventSpec("dead_letter", {"notifier": "str", "rule": "str", "message": "str",
                              "notification_id": "str"}),
    EventSpec("reload_failed", {"file": "str", "message": "str"}),
    EventSpec("outbox_backlog", {"depth": "int", "notifier": "str"}),
    EventSpec("source_error", {"source": "str", "kind": "str", "message": "str"}),
)

KIND = SourceKind("alertbot", SelfSettings, EVENTS, "alertbot watching itself")
