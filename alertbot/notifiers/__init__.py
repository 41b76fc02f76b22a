"""NOTIFIERS: the registry of notifier kinds (kind name → NotifierKind).

Adding a notifier = one module + one line here + its tests + its block in the example
config. Factories are attached by the delivery work; settings are declared here so
`check` validates every notifier block.
"""

from __future__ import annotations

from .base import NotifierKind
from .settings import ConsoleSettings, SlackSettings, TelegramSettings, WebhookSettings

NOTIFIERS: dict[str, NotifierKind] = {
    "console": NotifierKind("console", ConsoleSettings, doc="one line per notification"),
    "telegram": NotifierKind("telegram", TelegramSettings, doc="Telegram Bot API"),
    "slack": NotifierKind("slack", SlackSettings, doc="Slack incoming webhook"),
    "webhook": NotifierKind("webhook", WebhookSettings, doc="signed HTTP POST"),
}
