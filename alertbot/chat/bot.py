"""The Telegram command bot: a python-telegram-bot `Application` on long polling.

`run_commands` runs until `stop` is set: it builds the Application on the notifier's
token and `api_url`, registers a gate (group -1) that drops every update whose chat is
not in `allowed_chat_ids` and whose sender is not in `allowed_user_ids` — no answer,
one log line — and one `CommandHandler` per command of `commands.py`. With both lists
empty, the notifier's own `chat_id`s are the allowed chats. Start-up failures (network,
bad token) are logged scrubbed of the token and retried with a capped backoff, so an
unreachable Telegram never stops the service. Replies are HTML, split like alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from ..control import ServiceControl
from ..notifiers.http import Scrubber, secret_value
from ..notifiers.settings import TelegramSettings
from ..notifiers.telegram import DEFAULT_API, scrub_library_logs
from ..notifiers.telegram_format import render, split
from .commands import COMMANDS

log = logging.getLogger(__name__)

RETRY_INITIAL = 5.0
RETRY_MAX = 300.0


class Gate:
    """Who may command the bot: chat ids and user ids, compared as strings."""

    def __init__(self, settings: TelegramSettings) -> None:
        chats = settings.allowed_chat_ids
        users = settings.allowed_user_ids
        if not chats and not users:
            own = settings.chat_id if isinstance(settings.chat_id, list) else [settings.chat_id]
            chats = list(own)
        self.chats = {str(c) for c in chats}
        self.users = {str(u) for u in users}

    def allows(self, chat_id: object, user_id: object) -> bool:
        return str(chat_id) in self.chats or (user_id is not None
                                              and str(user_id) in self.users)


def build_application(name: str, settings: TelegramSettings, control: ServiceControl,
                      *, poll_timeout: float = 10.0) -> Application:  # type: ignore[type-arg]
    """The Application with the gate and every command handler registered."""
    token = secret_value(settings.token) or ""
    timeout = float(settings.timeout)
    app = (ApplicationBuilder().token(token).base_url(settings.api_url or DEFAULT_API)
           .connect_timeout(timeout).read_timeout(timeout).write_timeout(timeout)
           .get_updates_read_timeout(poll_timeout + timeout)
           .get_updates_connect_timeout(timeout)
           .build())
    gate = Gate(settings)

    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        user = update.effective_user
        if chat is None or not gate.allows(chat.id, None if user is None else user.id):
            log.warning("telegram %s: ignored a command from chat %s user %s (not in "
                        "allowed_chat_ids/allowed_user_ids)", name,
                        None if chat is None else chat.id, None if user is None else user.id)
            raise ApplicationHandlerStop

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        exc = context.error
        log.warning("telegram %s commands: %s: %s", name, type(exc).__name__,
                    Scrubber([token], register=False)(str(exc)))

    app.add_handler(TypeHandler(Update, check), group=-1)
    for command in COMMANDS:
        app.add_handler(CommandHandler(command, _handler(command, control)))
    app.add_error_handler(on_error)
    return app


def _handler(command: str, control: ServiceControl):  # type: ignore[no-untyped-def]
    func = COMMANDS[command]

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        user = update.effective_user
        author = f"telegram:{user.username or user.id}" if user is not None else "telegram"
        lines = func(control, list(context.args or ()), author, time.time())
        for part in split(lines):
            await message.reply_text(render(part, "HTML"), parse_mode="HTML",
                                     do_quote=False)
    return handle


async def run_commands(name: str, settings: TelegramSettings, control: ServiceControl, *,
                       stop: asyncio.Event, poll_timeout: float = 10.0) -> None:
    """Answer chat commands for notifier `name` until `stop` is set (then return)."""
    token = secret_value(settings.token) or ""
    scrub = scrub_library_logs(token)
    delay = RETRY_INITIAL
    while not stop.is_set():
        app = build_application(name, settings, control, poll_timeout=poll_timeout)
        try:
            await _serve(app, stop, poll_timeout)
            return
        except TelegramError as exc:
            log.warning("telegram %s commands: cannot start (%s: %s); retry in %.0fs", name,
                        type(exc).__name__, scrub(str(exc)), delay)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
        delay = min(RETRY_MAX, delay * 2)


async def _serve(app: Application, stop: asyncio.Event,  # type: ignore[type-arg]
                 poll_timeout: float) -> None:
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=int(poll_timeout),
                                        allowed_updates=["message"])
        await app.start()
        log.info("telegram commands: polling for updates")
        try:
            await stop.wait()
        finally:
            await app.updater.stop()
            await app.stop()


async def run_all_commands(notifiers: Mapping[str, object], control: ServiceControl, *,
                           stop: asyncio.Event) -> None:
    """`run_commands` for every telegram notifier with `commands: true` (one per token)."""
    seen: set[str] = set()
    tasks = []
    for name, settings in notifiers.items():
        if not isinstance(settings, TelegramSettings) or not settings.commands:
            continue
        token = secret_value(settings.token) or ""
        if token in seen:
            continue  # one poller per bot token: Telegram allows only one getUpdates
        seen.add(token)
        tasks.append(asyncio.create_task(run_commands(name, settings, control, stop=stop),
                                         name=f"telegram-commands:{name}"))
    if tasks:
        await asyncio.gather(*tasks)
