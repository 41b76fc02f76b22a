"""The Kaspa simulator speaks JSON wRPC as kaspad does and obeys its controls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from alertbot.sources.sim.kaspa import KaspaSim, node_down_and_back


@pytest.fixture
async def sim() -> AsyncIterator[KaspaSim]:
    async with KaspaSim(tick=0.02) as s:
        yield s


async def _call(ws: ClientConnection, rid: int, method: str,
                params: dict[str, Any] | None = None, timeout: float = 2.0) -> dict[str, Any]:
    await ws.send(json.dumps({"id": rid, "method": method, "params": params or {}}))
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("id") == rid:
                return dict(msg)


async def test_replies_carry_every_field_the_sdk_requires(sim: KaspaSim) -> None:
    """getServerInfo/getBlockDagInfo replies echo the id and hold all required fields."""
    async with connect(sim.url) as ws:
        info = await _call(ws, 5, "getServerInfo")
        dag = await _call(ws, 6, "getBlockDagInfo")
    assert info["method"] == "getServerInfo"
    assert set(info["params"]) == {"rpcApiVersion", "rpcApiRevision", "serverVersion",
                                   "networkId", "hasUtxoIndex", "isSynced", "virtualDaaScore"}
    assert {"network", "blockCount", "headerCount", "tipHashes", "difficulty",
            "pastMedianTime", "virtualParentHashes", "pruningPointHash", "virtualDaaScore",
            "sink"} <= set(dag["params"])


async def test_notifications_wrapped_and_unsubscribe_stops_them(sim: KaspaSim) -> None:
    """Notifications carry the PascalCase wrapper; unsubscribe ends them."""
    async with connect(sim.url) as ws:
        ack = await _call(ws, 1, "subscribe", {"VirtualDaaScoreChanged": {}})
        assert ack["params"] == {"id": 1}
        note = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert note["method"] == "virtualDaaScoreChangedNotification"
        assert set(note["params"]) == {"VirtualDaaScoreChanged"}
        await _call(ws, 2, "unsubscribe", {"VirtualDaaScoreChanged": {}})
        assert not sim.subscribed("VirtualDaaScoreChanged")


async def test_stall_synced_and_silent_controls(sim: KaspaSim) -> None:
    """Stalling freezes the DAA score, isSynced follows, a silenced method gets no reply."""
    sim.stalled, sim.synced = True, False
    async with connect(sim.url) as ws:
        a = (await _call(ws, 1, "getBlockDagInfo"))["params"]["virtualDaaScore"]
        ticks = sim.ticks
        await sim.wait_for(lambda: sim.ticks >= ticks + 2)
        b = (await _call(ws, 2, "getBlockDagInfo"))["params"]["virtualDaaScore"]
        assert a == b
        assert (await _call(ws, 3, "getSyncStatus"))["params"] == {"isSynced": False}
        sim.never_answer("getSyncStatus")
        with pytest.raises(TimeoutError):
            await _call(ws, 4, "getSyncStatus", timeout=0.2)
        assert (await _call(ws, 5, "ping"))["params"] == {}


async def test_down_and_back_on_the_same_port(sim: KaspaSim) -> None:
    """The node goes down (connections dropped, connects refused) and returns on its port."""
    url = sim.url
    async with connect(url) as ws:
        await sim.down()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)
    with pytest.raises(OSError):
        await connect(url, open_timeout=1)
    await sim.up()
    assert sim.url == url
    async with connect(url) as ws:
        assert (await _call(ws, 1, "getSyncStatus"))["params"] == {"isSynced": True}


async def test_garbage_frame_closes_like_kaspad(sim: KaspaSim) -> None:
    """A frame that is not JSON makes the node drop the connection."""
    async with connect(sim.url) as ws:
        await ws.send("this is not json")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)


async def test_demo_scenario_goes_down_and_back(sim: KaspaSim) -> None:
    """The demo script takes the node down in the middle third and brings it back."""
    seen: list[bool] = []
    task = asyncio.create_task(node_down_and_back(sim, 0.3))
    await sim.wait_for(lambda: not sim.is_up)
    seen.append(sim.is_up)
    await sim.wait_for(lambda: sim.is_up)
    seen.append(sim.is_up)
    await task
    assert seen == [False, True]


async def test_registered_for_the_demo_harness() -> None:
    """SIMULATORS starts it; it is a Simulator whose source_config is valid Kaspa settings."""
    from alertbot.sources.kaspa import KaspaSettings
    from alertbot.sources.sim import Simulator, close_all, start_all

    sims = await start_all(["kaspa"])
    try:
        sim = sims["kaspa"]
        assert isinstance(sim, Simulator) and isinstance(sim, KaspaSim)
        settings = KaspaSettings.model_validate(sim.source_config())
        assert settings.endpoint_urls() == [sim.url]
        async with connect(sim.url) as ws:
            await _call(ws, 1, "subscribe", {"SinkBlueScoreChanged": {}})
            assert sim.subscribers == 1
    finally:
        await close_all(sims)
    assert not sim.is_up
