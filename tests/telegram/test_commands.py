"""Chat commands through PTB's Application against the fake Bot API (getUpdates scripted)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from alertbot.chat import run_commands
from alertbot.chat.commands import parse_target
from alertbot.control import LocalControl, rule_infos
from alertbot.notifiers.settings import TelegramSettings
from alertbot.pipeline import Pipeline
from alertbot.store import SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.pipeline.helpers import T0, alert, pipeline, rule

from .conftest import TOKEN

ALLOWED_CHAT, ALLOWED_USER, STRANGER = 1001, 55, 666


@dataclass
class Bot:
    api: FakeTelegramAPI
    pipe: Pipeline
    store: SQLiteStore
    clock: FakeClock

    async def ask(self, text: str, *, chat: int = ALLOWED_CHAT,
                  user: int = ALLOWED_USER) -> str:
        """Send a command from `chat` and return the bot's reply there."""
        before = len(self.api.texts(chat))
        self.api.push_command(text, chat_id=chat, user_id=user)
        await self.api.wait_sent(before + 1, chat_id=chat)
        return self.api.texts(chat)[before]


@pytest.fixture
async def bot(clock: FakeClock) -> AsyncIterator[Bot]:
    store = SQLiteStore(":memory:")
    rules = (rule("btc_high"), rule("eth_low"))
    pipe = pipeline(rules=rules, store=store)
    control = LocalControl(store=store, clock=clock, firing=pipe.firing, ack=pipe.ack,
                           states=lambda: {"kraken": "connected", "kaspa": "disconnected"},
                           rules=lambda: rule_infos(rules),
                           on_silences_changed=lambda: pipe.stages.silence.reload(
                               clock.now()))
    stop = asyncio.Event()
    async with FakeTelegramAPI(token=TOKEN) as api:
        settings = TelegramSettings.model_validate(
            {"kind": "telegram", "token": TOKEN, "chat_id": "-100200", "commands": True,
             "api_url": api.base_url, "allowed_chat_ids": [ALLOWED_CHAT],
             "allowed_user_ids": [77], "timeout": 2})
        task = asyncio.create_task(run_commands("tg", settings, control, stop=stop,
                                                poll_timeout=1))
        yield Bot(api, pipe, store, clock)
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_help_and_status_from_an_allowed_chat(bot: Bot) -> None:
    """/help lists the commands; /status shows firing alerts and source states."""
    assert "/silence <rule|label=value> <duration>" in await bot.ask("/help")
    bot.pipe.submit([alert("btc_high", labels={"symbol": "BTC/USD"})], T0)
    reply = await bot.ask("/status")
    assert "1 firing" in reply and "btc_high" in reply and "symbol=BTC/USD" in reply
    assert "kraken: connected" in reply and "kaspa: disconnected" in reply
    assert "btc_high kraken/ticker" in await bot.ask("/rules")


async def test_other_chats_are_ignored_and_logged(bot: Bot,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A command from a chat and user not allowed gets no answer and a log line."""
    caplog.set_level(logging.WARNING)
    bot.api.push_command("/status", chat_id=STRANGER, user_id=9)
    # Updates are handled in order: once the next one is answered, the first was seen.
    await bot.ask("/help")
    assert bot.api.texts(STRANGER) == []
    assert "ignored a command from chat 666" in caplog.text
    assert "silenced" in await bot.ask("/silence btc_high 1h", chat=STRANGER, user=77)


async def test_silence_then_firing_alert_sends_nothing(bot: Bot) -> None:
    """/silence btc_high 1h: the next btc_high firing produces no notification."""
    reply = await bot.ask("/silence btc_high 1h night maintenance")
    assert "silenced rule=btc_high until" in reply
    [stored] = bot.store.silences()
    assert stored.comment == "night maintenance" and stored.ends_at == T0 + 3600
    assert stored.created_by.startswith("telegram:")
    assert bot.pipe.submit([alert("btc_high")], T0 + 1) == []
    assert len(bot.pipe.submit([alert("eth_low")], T0 + 1)) == 1
    assert f"silence {stored.id} removed" in await bot.ask(f"/unsilence {stored.id}")
    assert bot.store.silences() == []
    assert "no silence nope" in await bot.ask("/unsilence nope")


async def test_bad_silence_arguments_explain_usage(bot: Bot) -> None:
    """Missing or malformed arguments answer with the usage, store untouched."""
    assert "usage: /silence" in await bot.ask("/silence btc_high")
    assert "not silenced" in await bot.ask("/silence btc_high soon")
    assert bot.store.silences() == []


async def test_ack_stops_reminders(bot: Bot) -> None:
    """/ack <rule> cancels the episode's reminders; an unknown alert says so."""
    bot.pipe.submit([alert("btc_high", repeat=60)], T0)
    assert "acknowledged 1 alert" in await bot.ask("/ack btc_high")
    assert bot.pipe.advance(T0 + 120) == []
    assert "nothing firing matches zzz" in await bot.ask("/ack zzz")


def test_parse_target() -> None:
    """A bare word is a rule id; label=value pairs (comma-separated) are matchers."""
    assert parse_target("btc_high") == {"rule": "btc_high"}
    assert parse_target("symbol=BTC/USD,severity=~crit.*") == {
        "symbol": "BTC/USD", "severity": "~crit.*"}
    with pytest.raises(ValueError):
        parse_target("=x")


def test_cli_silence_reaches_a_running_pipeline_within_two_seconds(tmp_path: object) -> None:
    """A silence written by another process (`alertbot silence add`) mutes within 2 s."""
    from pathlib import Path

    from alertbot.store import Silence

    db = Path(str(tmp_path)) / "alertbot.db"
    service_store, cli_store = SQLiteStore(db), SQLiteStore(db)
    pipe = pipeline(rules=(rule("btc_high"),), store=service_store)
    assert pipe.submit([alert("eth_low")], T0) != []  # the stage has read the store now
    cli_store.silence_add(Silence("cli1", {"rule": "btc_high"}, T0, T0 + 3600))
    assert pipe.submit([alert("btc_high")], T0 + 2.0) == []
    cli_store.close()
    service_store.close()


async def test_rejected_token_is_logged_without_the_token(
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """A token the API rejects: a warning naming the problem, never the token; stop works."""
    caplog.set_level(logging.DEBUG)
    store = SQLiteStore(":memory:")
    control = LocalControl(store=store, clock=clock, firing=list, ack=lambda fp: False)
    stop = asyncio.Event()
    async with FakeTelegramAPI(token="999:otherTOKENvalue") as api:
        settings = TelegramSettings.model_validate(
            {"kind": "telegram", "token": TOKEN, "chat_id": 1, "commands": True,
             "api_url": api.base_url, "timeout": 2})
        task = asyncio.create_task(run_commands("tg", settings, control, stop=stop))
        async with asyncio.timeout(5):
            while "cannot start" not in caplog.text:
                await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert "InvalidToken" in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
