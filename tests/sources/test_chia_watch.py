"""Chia watcher end to end: simulator → runner → ChiaSource → Engine → pipeline.

Durations are scaled down (stall 0.5 s, `for` 0.3 s, SPs every 0.05 s); time is the
wall clock because the runner's connection timers run on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alertbot.sources.sim.chia import ChiaSim, stall_and_recover
from tests.sources.chia_kit import ChiaWatch

RULES: list[dict[str, Any]] = [
    {"id": "chia-signage-stalled", "source": "chia", "event": "signage_point",
     "where": {"origin": "chia_farmer"}, "absent_for": 0.5, "notify": ["console"]},
    {"id": "chia-signage-skipped", "source": "chia", "event": "signage_point",
     "mode": "event", "when": {"field": "missing_signage_points", "above": 1},
     "notify": ["console"]},
    {"id": "chia-not-synced", "source": "chia", "event": "blockchain_state",
     "when": {"field": "synced", "equals": False}, "for": 0.3, "notify": ["console"]},
]


class Harness(ChiaWatch):
    """Feeds the simulator's events through a real Engine, on the wall clock."""

    def __init__(self, sim: ChiaSim, **extra: Any) -> None:
        super().__init__(RULES, {
            **sim.source_config(), "poll_interval": 0.1, "request_timeout": 0.3,
            "heartbeat_timeout": 2, "ping_interval": 0.5, "pong_timeout": 1,
            "open_timeout": 1, "healthy_after": 0.05,
            "reconnect": {"initial": 0.05, "max": 0.1, "jitter": 0}, **extra})


@pytest.fixture
async def sim() -> AsyncIterator[ChiaSim]:
    async with ChiaSim(sp_interval=0.05, block_every=2) as s:
        yield s


async def running(h: Harness) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(h.runner.run()), asyncio.create_task(h.tick())]
    await h.wait_for(lambda: bool(h.of("signage_point")) and any(
        e.data["state"] == "connected" for e in h.of("connection")))
    return tasks


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_every_push_once_with_typed_fields(sim: ChiaSim) -> None:
    """SPs pushed to both channels arrive once each; node state and blocks arrive too."""
    h = Harness(sim)
    tasks = await running(h)
    try:
        await h.wait_for(lambda: len(h.of("signage_point")) >= 10 and bool(h.of("block"))
                         and bool(h.of("harvester")))
    finally:
        await stop(tasks)
    sps = [e.data["challenge_chain_sp"] for e in h.of("signage_point")]
    assert len(sps) == len(set(sps))
    assert sim.count("metrics") == 0 and sim.requested("register_service") == 3
    state = h.of("blockchain_state")[-1].data
    assert state["synced"] is True and isinstance(state["peak_height"], int)


async def test_demo_script_stall_fires_and_resolves_once(sim: ChiaSim) -> None:
    """The demo scenario, scaled to 2.5 s: one skip notice, one stall alert, one resolve."""
    h = Harness(sim)
    tasks = await running(h)
    try:
        await stall_and_recover(sim, 2.5)
        await h.wait_for(lambda: bool(h.alerts_of("chia-signage-stalled", "resolved")))
    finally:
        await stop(tasks)
    assert len(h.alerts_of("chia-signage-stalled", "firing")) == 1
    assert len(h.alerts_of("chia-signage-stalled", "resolved")) == 1
    assert len(h.alerts_of("chia-signage-skipped")) == 1


async def test_not_synced_through_the_daemon(sim: ChiaSim) -> None:
    """Without full_node_url the state request is relayed by the daemon; unsynced alerts."""
    h = Harness(sim)
    tasks = await running(h)
    try:
        sim.synced = False
        await h.wait_for(lambda: bool(h.alerts_of("chia-not-synced", "firing")))
        sim.synced = True
        await h.wait_for(lambda: bool(h.alerts_of("chia-not-synced", "resolved")))
    finally:
        await stop(tasks)
    assert sim.requested("get_blockchain_state") >= 3


async def test_not_synced_over_https_rpc(sim: ChiaSim) -> None:
    """With full_node_url the state comes from the HTTPS RPC (full node certificate)."""
    h = Harness(sim, full_node_url=sim.rpc_url)
    tasks = await running(h)
    try:
        sim.synced = False
        await h.wait_for(lambda: bool(h.alerts_of("chia-not-synced", "firing")))
    finally:
        await stop(tasks)
    assert sim.rpc_requests and sim.requested("get_blockchain_state") == 0


async def test_silent_full_node_is_a_source_error_not_a_disconnect(sim: ChiaSim) -> None:
    """No full node behind the daemon: timeouts are reported, the link stays up."""
    sim.node_running = False
    h = Harness(sim)
    tasks = await running(h)
    try:
        await h.wait_for(lambda: len([e for e in h.of("source_error")
                                      if e.data["kind"] == "timeout"]) >= 2)
    finally:
        await stop(tasks)
    message = next(str(e.data["message"]) for e in h.of("source_error"))
    assert "is chia_full_node running?" in message
    assert [e.data["state"] for e in h.of("connection")] == ["connected"]


async def test_daemon_restart_registers_again(sim: ChiaSim) -> None:
    """The daemon goes away and comes back: the watcher re-registers, SPs flow again."""
    h = Harness(sim)
    tasks = await running(h)
    try:
        await sim.down()
        await h.wait_for(lambda: bool(h.alerts_of("chia-signage-stalled", "firing")))
        await sim.up()
        await sim.wait_for(lambda: sim.count("metrics") == 1 and sim.count("wallet_ui") == 1)
        await h.wait_for(lambda: bool(h.alerts_of("chia-signage-stalled", "resolved")))
        await h.wait_for(lambda: h.of("connection")[-1].data["state"] == "connected")
    finally:
        await stop(tasks)
    assert sim.requested("register_service") == 6
    assert [e.data["state"] for e in h.of("connection")][-2:] == ["disconnected", "connected"]
