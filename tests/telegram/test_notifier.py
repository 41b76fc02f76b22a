"""The telegram notifier through the real PTB Bot against the fake Bot API."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from alertbot.errors import DeliveryError
from alertbot.model import Severity
from alertbot.notifiers.telegram_format import utf16_len
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notifiers.samples import make_notification

from .conftest import TOKEN, JumpClock, make

NASTY = "price <100k & falling_fast *now* [check] `x` a>b #1 (ok) ~ | {} . ! \\ end"


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.001)


@pytest.mark.parametrize("mode", ["HTML", "MarkdownV2", "none"])
async def test_user_text_escaped_for_every_parse_mode(api: FakeTelegramAPI, clock: FakeClock,
                                                      mode: str) -> None:
    """<, &, _, *, [ and friends in rule text and labels arrive exactly as typed."""
    tg = make(api, clock, parse_mode=mode)
    n = make_notification("tg", rule="rule_with_under*score", text=NASTY,
                          labels={"sym<b>": "A&B_[x]"})
    await tg.send(n)
    await tg.aclose()
    [sent] = api.sent
    assert sent.parse_mode == (None if mode == "none" else mode)
    assert NASTY in sent.visible
    assert "rule_with_under*score" in sent.visible and "sym<b>=A&B_[x]" in sent.visible


async def test_ten_thousand_characters_split_into_valid_parts() -> None:
    """A 10,000-character message (emoji, entities) arrives as valid parts ≤ 4,096 UTF-16."""
    words = " ".join(f"w{i}&<😀>" for i in range(1500))[:10_000]
    text = "\n".join([words[:2500], words[2500:]])
    clock = JumpClock()
    async with FakeTelegramAPI(token=TOKEN, now=clock.now) as api:
        tg = make(api, clock)
        await tg.send(make_notification("tg", text=text))
        await tg.aclose()
    assert len(api.sent) >= 3
    assert all(utf16_len(s.visible) <= 4096 for s in api.sent)
    joined = "".join(s.visible for s in api.sent).replace("\n", "").replace(" ", "")
    assert text.replace("\n", "").replace(" ", "") in joined


async def test_info_is_silent_and_thread_is_used(api: FakeTelegramAPI,
                                                 clock: FakeClock) -> None:
    """info goes with disable_notification; critical rings; message_thread_id is passed."""
    tg = make(api, clock, message_thread_id=77)
    await tg.send(make_notification("tg", severity=Severity.info))
    clock.advance(1)
    await tg.send(make_notification("tg", severity=Severity.critical, fingerprint="fp2"))
    await tg.aclose()
    assert [s.disable_notification for s in api.sent] == [True, False]
    assert {s.message_thread_id for s in api.sent} == {77}


async def test_parse_error_falls_back_to_plain_text_once(api: FakeTelegramAPI,
                                                         clock: FakeClock) -> None:
    """A 400 can't-parse-entities re-sends the part as plain text; a second one dead-letters."""
    tg = make(api, clock)
    api.fail(400, "Bad Request: can't parse entities: Unsupported start tag")
    await tg.send(make_notification("tg", text="a <b> & c"))
    [sent] = api.sent
    assert sent.parse_mode is None and sent.text == sent.visible and "a <b> & c" in sent.text
    clock.advance(5)
    api.fail(400, "Bad Request: can't parse entities: x", times=2)
    with pytest.raises(DeliveryError) as info:
        await tg.send(make_notification("tg", fingerprint="fp9"))
    await tg.aclose()
    assert info.value.retry is False and len(api.sent) == 1


async def test_429_pauses_the_chat_exactly_then_resumes(api: FakeTelegramAPI,
                                                        clock: FakeClock) -> None:
    """429 retry_after 2 through the worker: nothing reaches the chat for 2 s, then all do."""
    store = SQLiteStore(":memory:")
    tg = make(api, clock)
    worker = DeliveryWorker(store, {"tg": tg}, clock=clock)
    api.fail(429, "Too Many Requests: retry after 2", retry_after=2)
    t0 = clock.now()
    store.enqueue([make_notification("tg", fingerprint=f"fp{i}", created_at=t0)
                   for i in range(3)], t0)
    task = asyncio.create_task(worker.run())
    await until(lambda: any(r.attempts for r in store.outbox_list()))
    [failed] = [r for r in store.outbox_list() if r.attempts]
    assert failed.next_attempt_at == t0 + 2.0
    clock.set(t0 + 1.999)
    await asyncio.sleep(0.05)  # give a wrong implementation the chance to send early
    assert api.sent == []
    clock.set(t0 + 2.0)
    for i in (1, 2, 3):  # then paced: one per second to the chat
        await api.wait_sent(i)
        clock.set(t0 + 2.0 + i)
    await until(lambda: not store.outbox_list())
    task.cancel()
    await worker.aclose()
    assert api.violations == [] and all(s.at >= t0 + 2.0 for s in api.sent)
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(api.sent))


async def test_retry_continues_where_it_failed(api: FakeTelegramAPI,
                                               clock: FakeClock) -> None:
    """Two chats, the second fails with 5xx: the retry sends only to the second chat."""
    tg = make(api, clock, chat_id=["1001", "1002"])
    api.fail(502, "Bad Gateway", chat_id="1002")
    n = make_notification("tg")
    with pytest.raises(DeliveryError) as info:
        await tg.send(n)
    assert info.value.retry is True
    clock.advance(2)
    await tg.send(n)
    await tg.aclose()
    assert [s.chat_id for s in api.sent] == ["1001", "1002"]


async def test_pacing_one_per_second_per_chat() -> None:
    """20 messages to one chat go out at least 1 s apart on the (fake) clock."""
    clock = JumpClock()
    async with FakeTelegramAPI(token=TOKEN, now=clock.now) as api:
        tg = make(api, clock)
        for i in range(20):
            await tg.send(make_notification("tg", fingerprint=f"fp{i}"))
        await tg.aclose()
    times = [s.at for s in api.sent]
    assert len(times) == 20
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


async def test_pacing_twenty_per_minute_per_group_and_thirty_per_second() -> None:
    """A group chat gets ≤ 20 messages in any minute; the bot ≤ 30 per second overall."""
    clock = JumpClock()
    async with FakeTelegramAPI(token=TOKEN, now=clock.now) as api:
        group = make(api, clock, chat_id="-100777")
        for i in range(20):
            await group.send(make_notification("tg", fingerprint=f"g{i}"))
        # The 21st would wait ~40 s: handed back to the worker as retry_after.
        with pytest.raises(DeliveryError) as info:
            await group.send(make_notification("tg", fingerprint="g20"))
        first = api.sent[0].at
        assert info.value.retry and clock.now() + (info.value.retry_after or 0) == first + 60
        clock.set(first + 60)
        await group.send(make_notification("tg", fingerprint="g20"))
        many = make(api, clock, chat_id=[str(2000 + i) for i in range(31)])
        clock.advance(1.0)  # same token, same budget: let the group's last send age out
        start = clock.now()
        await many.send(make_notification("tg", fingerprint="wide"))
        await group.aclose()
        await many.aclose()
    group_times = [s.at for s in api.sent if s.chat_id == "-100777"]
    assert group_times[20] - group_times[0] >= 60.0
    wide = [s.at for s in api.sent if s.chat_id != "-100777"]
    assert len(wide) == 31 and wide[29] == start and wide[30] >= wide[0] + 1.0


async def test_token_never_in_errors_or_logs(clock: FakeClock,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A rejected token (401) dead-letters; neither the error nor any log line has it."""
    caplog.set_level(logging.DEBUG)
    async with FakeTelegramAPI(token="999:otherTOKENvalue", now=clock.now) as api:
        tg = make(api, clock)
        with pytest.raises(DeliveryError) as info:
            await tg.send(make_notification("tg"))
        await tg.aclose()
    assert info.value.retry is False
    secret = TOKEN.split(":")[1]
    assert secret not in str(info.value) and secret not in caplog.text
    assert "/bot" in caplog.text  # httpx did log the request, masked


async def test_group_message_lists_every_alert(api: FakeTelegramAPI,
                                               clock: FakeClock) -> None:
    """send_group sends one message naming every alert of the group."""
    tg = make(api, clock)
    batch = [make_notification("tg", rule=f"rule_{i}", fingerprint=f"fp{i}")
             for i in range(5)]
    await tg.send_group("tg", batch)
    await tg.aclose()
    [sent] = api.sent
    assert sent.visible.startswith("\U0001F534 5 alerts: 5 firing")
    assert all(f"rule_{i}" in sent.visible for i in range(5))


async def test_notifiers_sharing_a_token_share_the_budget() -> None:
    """Two notifier blocks with one bot token and chat are paced together (per bot)."""
    clock = JumpClock()
    async with FakeTelegramAPI(token=TOKEN, now=clock.now) as api:
        a, b = make(api, clock), make(api, clock)
        await a.send(make_notification("tg", fingerprint="a"))
        await b.send(make_notification("tg", fingerprint="b"))
        await a.aclose()
        await b.aclose()
    assert api.sent[1].at - api.sent[0].at >= 1.0
