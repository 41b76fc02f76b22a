"""The event pump against a source that queues more per loop iteration than one batch."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from alertbot.metrics import NullMetrics
from alertbot.model import Event
from alertbot.pump import BATCH, EventPump
from alertbot.runtime import Runtime
from tests.fakes.clock import FakeClock
from tests.pipeline.helpers import T0, pipeline
from tests.pipeline.test_runtime import ScriptedEngine


async def test_a_burst_bigger_than_a_batch_is_drained_before_sources_run_again() -> None:
    """A runner reading a socket chunk queues thousands of events per loop iteration;
    the pump evaluates all of them in its next turn, so the queue never holds more than
    one iteration's worth (with one batch per turn it grew by each burst minus BATCH)."""
    clock = FakeClock(T0)
    depths: list[int] = []
    pump: EventPump

    def transaction() -> AbstractContextManager[Any]:
        depths.append(pump.depth)   # the queue as each batch begins
        return nullcontext()

    pump = EventPump(Runtime(ScriptedEngine({}), pipeline(), clock=clock),
                     clock=clock, metrics=NullMetrics(), transaction=transaction)
    burst, bursts = 3 * BATCH, 6
    task = asyncio.create_task(pump.run())
    try:
        for n in range(bursts):
            for i in range(burst):
                pump.put(Event("kraken", "ticker", T0, {"n": n, "i": i}))
            await asyncio.sleep(0)   # one loop iteration, as a runner between reads
        while pump.processed < burst * bursts:
            await asyncio.sleep(0)
    finally:
        pump.stop()
        await task
    assert max(depths) <= burst
    assert pump.processed == burst * bursts
