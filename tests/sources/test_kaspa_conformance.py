"""The source conformance kit over the Kaspa watcher, plus the resolver path end to end."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from alertbot.sources.kaspa import KaspaSettings, KaspaSource
from alertbot.sources.runner import SourceRunner
from alertbot.sources.sim.kaspa import KaspaSim
from tests.fakes.kaspa_resolver import FakeResolver
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import (
    RecordingContext,
    check_fields,
    check_garbage,
    check_resubscribe,
    check_subscribe_pure,
)

FAST: dict[str, Any] = {"healthy_after": 0.02, "poll_interval": 0.1, "request_timeout": 0.2,
                        "reconnect": {"initial": 0.01, "max": 0.05, "jitter": 0}}


def make(url: str = "ws://127.0.0.1:1", ctx: RecordingContext | None = None,
         **extra: Any) -> KaspaSource:
    cfg = KaspaSettings.model_validate({"kind": "kaspa", "url": url, **FAST, **extra})
    return KaspaSource("kaspa", cfg, ctx or RecordingContext("kaspa"))


def node_frames(shared: Path) -> list[str]:
    path = shared / "fixtures" / "kaspa" / "node_frames.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [f["raw"] for f in lines if f["kind"] == "text" and f["raw"].startswith("{")]


def test_kaspa_fields_match_declaration(shared_dir: Path) -> None:
    """Notifications in the recorded frames give declared event types, names and types."""
    events = check_fields(make(notifications=["BlockAdded"]), node_frames(shared_dir),
                          min_events=5)
    assert {e[0] for e in events} == {"daa_score", "sink_blue_score", "block_added"}


def test_kaspa_survives_garbage(shared_dir: Path) -> None:
    """Hostile variants of the recorded frames raise nothing but ValueError."""
    assert check_garbage(make(), node_frames(shared_dir)) > 20


def test_kaspa_subscribe_is_pure() -> None:
    """subscribe() is deterministic and offline."""
    assert len(check_subscribe_pure(make)) == 2


async def test_kaspa_resubscribes_after_reconnect() -> None:
    """After the server drops the link, both subscribe frames arrive again."""
    async with WsServer() as server:
        await check_resubscribe(lambda ctx: make(server.url, ctx), server)


async def test_resolver_uid_in_connection_events() -> None:
    """With `resolver: true` the source connects where the resolver points, uid reported."""
    async with KaspaSim(tick=0.02) as sim, FakeResolver(404) as bad, \
            FakeResolver(200, {"uid": "node-7", "url": sim.url}) as good:
        ctx = RecordingContext("kaspa")
        cfg = KaspaSettings.model_validate({"kind": "kaspa", "resolver": True,
                                            "resolvers": [bad.url, good.url], **FAST})
        source = KaspaSource("kaspa", cfg, ctx)
        runner = SourceRunner(source, rng=random.Random(0))
        task = asyncio.create_task(runner.run())
        try:
            await ctx.wait_for(lambda: "connected" in ctx.states() and bool(
                ctx.of_type("daa_score")))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    connected = [e for e in ctx.of_type("connection") if e.data["state"] == "connected"]
    assert connected[0].data["node_uid"] == "node-7"
    assert connected[0].data["url"] == sim.url
    assert good.paths == ["/v2/kaspa/mainnet/any/wrpc/json"]
