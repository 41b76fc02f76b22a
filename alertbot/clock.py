"""The Clock protocol and the system clock.

The engine, the pipeline's timers and the delivery worker read time only through a
Clock, so `run` (system clock) and `replay`/tests (virtual or fake clocks) execute the
same code. Times are float epoch seconds. The fake clock used by tests lives in
`tests/fakes/clock.py`; the replay's virtual clock lives beside the replay command.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time, epoch seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once now() >= deadline (may return early only if cancelled)."""
        ...


class SystemClock:
    """Wall-clock time; sleeps with asyncio."""

    # time.time itself, not a method wrapping it: read once per frame, and a Python
    # frame around the C call doubled its cost.
    now = staticmethod(time.time)

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
