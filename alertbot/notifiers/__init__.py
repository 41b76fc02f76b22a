"""NOTIFIERS: the registry of notifier kinds (kind name → NotifierKind).

Adding a notifier = one module + one line here + its tests + its block in the example
config. Factories are attached by the delivery work; settings are declared here so
`check` validates every notifier block.
"""

from __future__ import annotations

from .base import NotifierKind
from .settings import ConsoleSettings, SlackSettings, TelegramSettings, WebhookSettings

NOTIFIERS: dict[str, NotifierKind] = {
    "console": NotifierKind("console", ConsoleSettings, "alertbot.notifiers.console:build",
                            "one line per notification"),
    "telegram": NotifierKind("telegram", TelegramSettings, "alertbot.notifiers.telegram:build",
                             "Telegram Bot API"),
    "slack": NotifierKind("slack", SlackSettings, "alertbot.notifiers.slack:build",
                          "Slack incoming webhook"),
    "webhook": NotifierKind("webhook", WebhookSettings, "alertbot.notifiers.webhook:build",
                            "signed HTTP POST"),
}
