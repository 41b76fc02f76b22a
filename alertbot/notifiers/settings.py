"""Settings models of the built-in notifier kinds (telegram, slack, webhook, console).

Declared together so the config loader can validate every notifier block without
importing the notifiers' runtime libraries (python-telegram-bot is slow to import).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from .base import NotifierSettings


class ConsoleSettings(NotifierSettings):
    format: Literal["text", "json"] = "text"


class TelegramSettings(NotifierSettings):
    token: SecretStr
    chat_id: str | int | list[str | int]
    message_thread_id: int | None = None
    parse_mode: Literal["HTML", "MarkdownV2", "none"] = "HTML"
    api_url: str | None = None
    commands: bool = False
    allowed_chat_ids: list[str | int] = Field(default_factory=list)
    allowed_user_ids: list[str | int] = Field(default_factory=list)


class SlackSettings(NotifierSettings):
    webhook_url: SecretStr


class WebhookSettings(NotifierSettings):
    url: str
    secret: SecretStr | None = None
    format: Literal["alertbot", "alertmanager"] = "alertbot"
    headers: dict[str, str] = Field(default_factory=dict)
    #: Alertmanager format only: the `externalURL` / `generatorURL` receivers link to.
    external_url: str = ""
