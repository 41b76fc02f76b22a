"""The `telegram` notifier: python-telegram-bot's `Bot`, done the way Telegram wants it.

Each notification goes to every configured chat (optionally a forum topic), as HTML by
default with all user text escaped (`telegram_format.py`), split into parts of at most
4,096 UTF-16 units on line boundaries, silently (no sound) for `info`. A 400 "can't
parse entities" re-sends that part once as plain text. Sends are paced
(`telegram_pacing.py`: 1/s per chat, 20/min per group, 30/s overall); a 429 pauses that
chat until exactly `retry_after` and is raised as `DeliveryError(retry=True,
retry_after=...)`, so the delivery worker (the only stage that retries) pauses the lane
for the same time. Chats and parts already delivered are remembered per notification,
so a retry continues where the failure happened and nobody gets a part twice. Every
PTB error is translated here, its text scrubbed of the token (`Scrubber`), and PTB's
and httpx's log records are scrubbed too. `send_group` renders a grouped message (the
delivery worker calls it when the notifier has `group_wait`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from ..errors import DeliveryError
from ..model import Notification, Severity
from .http import NotifierContext, Scrubber, secret_value
from .render import custom_text
from .settings import TelegramSettings
from .telegram_format import (
    Line,
    Mode,
    group_lines,
    notification_lines,
    render,
    split,
    text_lines,
)
from .telegram_pacing import pacer_for

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.telegram.org/bot"
MAX_PACING_WAIT = 30.0      # longer waits go back to the delivery worker as a retry_after
PROGRESS_MEMORY = 1000      # notifications whose partial progress is remembered


class _ScrubFilter(logging.Filter):
    """Masks every registered bot token in records of python-telegram-bot's loggers."""

    def __init__(self) -> None:
        super().__init__()
        self.scrub = Scrubber(register=False)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self.scrub(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


# PTB names its loggers after classes (telegram.Bot, telegram.ext.Updater, ...); a filter
# on a logger does not apply to its children, so each one gets the shared filter.
_PTB_LOGGERS = ("telegram", "telegram.ext", "telegram.Bot", "telegram.ext.ExtBot",
                "telegram.HTTPXRequest", "telegram.BaseRequest", "telegram.ext.Updater",
                "telegram.ext.Application", "telegram.ext.JobQueue",
                "telegram.ext.BaseUpdateProcessor", "telegram.ext.AIORateLimiter")
_FILTER = _ScrubFilter()
for _name in _PTB_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def scrub_library_logs(token: str) -> Scrubber:
    """Register `token` for masking in PTB's (and httpx's) logs; returns its Scrubber."""
    scrub = Scrubber([token])
    _FILTER.scrub.add([token])
    return scrub


def retry_after_seconds(value: int | float | dt.timedelta) -> float:
    """PTB gives `retry_after` as int seconds or (PTB_TIMEDELTA) a timedelta."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def make_bot(token: str, api_url: str | None, timeout: float,
             ctx: NotifierContext | None = None) -> Bot:
    """A PTB Bot on `api_url` (the Bot API root ending in `/bot`), transport injectable."""
    kwargs: dict[str, Any] = {}
    if ctx is not None and ctx.transport is not None:
        kwargs["transport"] = ctx.transport
    request = HTTPXRequest(connection_pool_size=8, read_timeout=timeout,
                           write_timeout=timeout, connect_timeout=timeout,
                           pool_timeout=timeout, httpx_kwargs=kwargs or None)
    return Bot(token, base_url=api_url or DEFAULT_API, request=request)


class _ParseError(Exception):
    """Telegram rejected the markup of a part (400 can't parse entities)."""


class TelegramNotifier:
    """One bot token, one or more chats; see the module docstring."""

    def __init__(self, name: str, settings: TelegramSettings, ctx: NotifierContext) -> None:
        self.name = name
        self.settings = settings
        token = secret_value(settings.token) or ""
        self._scrub = scrub_library_logs(token)
        chats = settings.chat_id if isinstance(settings.chat_id, list) else [settings.chat_id]
        self.chats = [str(c) for c in chats]
        self.mode: Mode = settings.parse_mode
        self._clock = ctx.clock
        self._bot = make_bot(token, settings.api_url, float(settings.timeout), ctx)
        self.pacer = pacer_for(token, ctx.clock)
        self._progress: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._closed = False

    # -- Notifier ----------------------------------------------------------------------
    async def send(self, notification: Notification) -> None:
        silent = notification.alert.severity <= Severity.info
        custom = custom_text(notification, self.settings.template)
        lines = notification_lines(notification) if custom is None else text_lines(custom)
        await self._deliver(notification.id, lines, silent)

    async def send_group(self, group_key: str,
                         notifications: Sequence[Notification]) -> None:
        """One message listing every notification of a group (delivery worker's call)."""
        silent = all(n.alert.severity <= Severity.info for n in notifications)
        ids = "|".join(sorted(n.id for n in notifications))
        key = "grp_" + hashlib.sha256(f"{group_key}|{ids}".encode()).hexdigest()[:24]
        await self._deliver(key, group_lines(notifications), silent)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._bot.shutdown()
            except TelegramError as exc:
                log.debug("telegram %s: shutdown: %s", self.name, self._scrub(str(exc)))

    # -- delivery ----------------------------------------------------------------------
    async def _deliver(self, key: str, lines: list[Line], silent: bool) -> None:
        parts = split(lines)
        for chat in self.chats:
            done = self._progress.get((key, chat), 0)
            for index in range(done, len(parts)):
                await self._send_part(chat, parts[index], silent)
                self._remember((key, chat), index + 1)
        for chat in self.chats:
            self._progress.pop((key, chat), None)

    def _remember(self, key: tuple[str, str], done: int) -> None:
        self._progress[key] = done
        self._progress.move_to_end(key)
        while len(self._progress) > PROGRESS_MEMORY:
            self._progress.popitem(last=False)

    async def _send_part(self, chat: str, part: list[Line], silent: bool) -> None:
        try:
            await self._paced_send(chat, render(part, self.mode), self.mode, silent)
        except _ParseError as exc:
            log.warning("telegram %s: chat %s rejected the %s markup (%s); "
                        "sending this part as plain text", self.name, chat, self.mode, exc)
            try:
                # The rejected message was not delivered: no second pacing slot for it.
                await self._paced_send(chat, render(part, "none"), "none", silent,
                                       paced=False)
            except _ParseError as again:
                raise DeliveryError(f"telegram {self.name}: chat {chat}: {again}",
                                    retry=False, status=400) from None

    async def _paced_send(self, chat: str, text: str, mode: Mode, silent: bool, *,
                          paced: bool = True) -> None:
        delay = await self.pacer.wait(chat, MAX_PACING_WAIT) if paced else None
        if delay is not None:
            raise DeliveryError(f"telegram {self.name}: chat {chat} paced for {delay:.1f}s",
                                retry=True, retry_after=delay)
        try:
            await self._bot.send_message(
                chat_id=chat, text=text, parse_mode=None if mode == "none" else mode,
                disable_notification=silent,
                message_thread_id=self.settings.message_thread_id,
                link_preview_options=None)
        except TelegramError as exc:
            raise self._translate(chat, exc) from None

    def _translate(self, chat: str, exc: TelegramError) -> Exception:
        """PTB's exception → DeliveryError (or _ParseError), scrubbed of the token."""
        what = f"telegram {self.name}: chat {chat}"
        text = self._scrub(exc.message)
        if isinstance(exc, RetryAfter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PTB warns about int vs timedelta
                seconds = retry_after_seconds(exc.retry_after)
            self.pacer.pause(chat, self._clock.now() + seconds)
            return DeliveryError(f"{what}: rate limited, retry after {seconds:g}s",
                                 retry=True, retry_after=seconds, status=429)
        if isinstance(exc, BadRequest):
            if "can't parse entities" in text.lower() or "can't parse" in text.lower():
                return _ParseError(text)
            return DeliveryError(f"{what}: bad request: {text}", retry=False, status=400)
        if isinstance(exc, ChatMigrated):
            return DeliveryError(f"{what}: the group became a supergroup; set chat_id to "
                                 f"{exc.new_chat_id}", retry=False, status=400)
        if isinstance(exc, Forbidden):
            return DeliveryError(f"{what}: forbidden (bot blocked or removed?): {text}",
                                 retry=False, status=403)
        if isinstance(exc, InvalidToken):
            return DeliveryError(f"{what}: the token was rejected or the api_url is wrong",
                                 retry=False, status=401)
        if isinstance(exc, TimedOut):
            return DeliveryError(f"{what}: timed out", retry=True)
        if isinstance(exc, NetworkError):
            return DeliveryError(f"{what}: network or server error: {text}", retry=True)
        return DeliveryError(f"{what}: {type(exc).__name__}: {text}", retry=False)


def build(name: str, settings: TelegramSettings,
          ctx: NotifierContext | None) -> TelegramNotifier:
    """NOTIFIERS factory for `kind: telegram`."""
    return TelegramNotifier(name, settings, ctx or NotifierContext())
