"""Pacing of Telegram sends: Telegram's own limits, kept before it has to say 429.

Telegram allows about one message per second to one chat, 20 per minute to one group
(negative chat ids) and 30 per second for one bot overall; past that it answers 429
with `retry_after` and may block the bot for longer. `Pacer` remembers when each chat
was last written to, the group sends of the last minute and all sends of the last
second, and tells how long to wait before the next send to a chat; a chat paused by a
429 stays paused until exactly the time Telegram named. Time comes from the injected
Clock, so tests run it on a fake clock.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import deque

from ..clock import Clock


class Pacer:
    """Per-chat, per-group and overall send budgets of one bot token."""

    def __init__(self, clock: Clock, *, per_chat: float = 1.0, group_per_minute: int = 20,
                 overall_per_second: int = 30) -> None:
        self.clock = clock
        self.per_chat = per_chat
        self.group_per_minute = group_per_minute
        self.overall_per_second = overall_per_second
        self._last: dict[str, float] = {}
        self._group: dict[str, deque[float]] = {}
        self._overall: deque[float] = deque()
        self._paused: dict[str, float] = {}

    @staticmethod
    def is_group(chat_id: str) -> bool:
        return chat_id.startswith("-")

    def next_allowed(self, chat_id: str, now: float) -> float:
        """Earliest time a message to `chat_id` may go out (≤ now: at once)."""
        at = max(self._paused.get(chat_id, now), self._last.get(chat_id, -1e18) + self.per_chat)
        window = self._group.get(chat_id)
        if window is not None:
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= self.group_per_minute:
                at = max(at, window[-self.group_per_minute] + 60.0)
        while self._overall and self._overall[0] <= now - 1.0:
            self._overall.popleft()
        if len(self._overall) >= self.overall_per_second:
            at = max(at, self._overall[-self.overall_per_second] + 1.0)
        return at

    def record(self, chat_id: str, now: float) -> None:
        """A message to `chat_id` was handed to Telegram at `now`."""
        self._last[chat_id] = now
        self._overall.append(now)
        if self.is_group(chat_id):
            self._group.setdefault(chat_id, deque()).append(now)

    def pause(self, chat_id: str, until: float) -> None:
        """Telegram said 429: nothing goes to this chat before `until`."""
        self._paused[chat_id] = max(until, self._paused.get(chat_id, until))

    def paused_until(self, chat_id: str) -> float | None:
        until = self._paused.get(chat_id)
        return until if until is not None and until > self.clock.now() else None

    async def wait(self, chat_id: str, max_wait: float) -> float | None:
        """Sleep (on the clock) until a send to `chat_id` is allowed and record it.

        Returns None once recorded; when the wait would exceed `max_wait`, returns the
        delay instead without waiting or recording, so the caller can hand the wait
        to the delivery worker's retry path rather than holding the lane.
        """
        while True:
            now = self.clock.now()
            at = self.next_allowed(chat_id, now)
            if at <= now:
                self.record(chat_id, now)
                return None
            if at - now > max_wait:
                return at - now
            await self.clock.sleep_until(at)


_SHARED: weakref.WeakValueDictionary[tuple[str, int], Pacer] = weakref.WeakValueDictionary()


def pacer_for(token: str, clock: Clock) -> Pacer:
    """The Pacer of a bot token: Telegram's limits are per bot, so notifiers sharing a
    token (several blocks, or a rebuilt notifier during a reload) share one budget."""
    key = (hashlib.sha256(token.encode()).hexdigest(), id(clock))
    pacer = _SHARED.get(key)
    if pacer is None or pacer.clock is not clock:
        pacer = Pacer(clock)
        _SHARED[key] = pacer
    return pacer
