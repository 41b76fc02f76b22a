"""Fixtures of the Telegram tests: the fake Bot API on a fake clock, notifier builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import TelegramSettings
from alertbot.notifiers.telegram import TelegramNotifier, build
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:TESTtokenVALUE_abc"


class JumpClock(FakeClock):
    """A fake clock whose sleeps jump straight to their deadline (pacing tests)."""

    async def sleep_until(self, deadline: float) -> None:
        if deadline > self.now():
            self.set(deadline)


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(token=TOKEN, now=clock.now) as fake:
        yield fake


def make(api: FakeTelegramAPI, clock: FakeClock, **kw: Any) -> TelegramNotifier:
    """A telegram notifier named `tg` pointed at the fake API."""
    settings = TelegramSettings.model_validate(
        {"kind": "telegram", "token": TOKEN, "chat_id": "1001",
         "api_url": api.base_url, "timeout": 2, **kw})
    return build("tg", settings, NotifierContext(clock=clock))
