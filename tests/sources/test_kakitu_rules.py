"""The example rules in rules/kakitu.yaml fire as intended against the demo node."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from alertbot.engine import Engine
from alertbot.loader import load
from alertbot.sources.kakitu import KakituSettings, KakituSource
from alertbot.sources.runner import SourceRunner
from alertbot.sources.sim.kakitu import start
from tests.sources.conformance import RecordingContext

REPO = Path(__file__).resolve().parents[2]


async def test_example_rules_fire_once_per_payment() -> None:
    """Demo scenario (scaled): each payment rule fires once per payment, elections once."""
    loaded = load(REPO / "deploy" / "alertbot.yaml")
    rules = [r for r in loaded.rules if r.source == "kakitu"]
    assert {"incoming-kshs", "treasury-send", "kakitu-stopped-elections",
            "large-incoming-kshs"} <= {r.id for r in rules}
    node = await start()
    ctx = RecordingContext("kakitu")
    config = node.source_config() | {
        "ping_interval": 0.1, "pong_timeout": 0.3, "healthy_after": 0.05,
        "reconnect": {"initial": 0.05, "max": 0.1}, "rpc_backoff": 0.05}
    source = KakituSource("kakitu", KakituSettings.model_validate(config), ctx)
    task = asyncio.create_task(SourceRunner(source, rng=random.Random(0)).run())
    try:
        await ctx.wait_for(lambda: "connected" in ctx.states())
        await node.script(2.0)
        await ctx.wait_for(lambda: ctx.states().count("connected") == 3)
        await ctx.wait_for(lambda: len(ctx.of_type("confirmation")) == 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await node.close()
    engine = Engine(rules, clock=ctx.clock, defaults=loaded.config.defaults)
    fired = Counter(a.rule for e in ctx.events for a in engine.process(e)
                    if a.status == "firing")
    assert fired["incoming-kshs"] == 2 and fired["treasury-send"] == 1
    assert fired["kakitu-stopped-elections"] == 1 and fired["large-incoming-kshs"] == 0
