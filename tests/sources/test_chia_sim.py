"""The Chia simulator speaks the daemon protocol the way the recorded real daemon does."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from alertbot.sources.chia import ChiaSettings
from alertbot.sources.chia_tls import client_context
from alertbot.sources.sim.chia import ChiaSim


@pytest.fixture
async def sim() -> AsyncIterator[ChiaSim]:
    async with ChiaSim(sp_interval=60) as s:     # no background pushes unless asked
        yield s


async def ask(ws: ClientConnection, command: str, data: dict[str, Any] | None = None,
              destination: str = "daemon") -> dict[str, Any]:
    await ws.send(json.dumps({"command": command, "ack": False, "data": data or {},
                              "request_id": command, "destination": destination,
                              "origin": "tests"}))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def test_registry_entry_gives_valid_chia_settings() -> None:
    """SIMULATORS starts it; its source_config validates as Chia settings over wss."""
    from alertbot.sources.sim import Simulator, close_all, start_all
    sims = await start_all(["chia"])
    try:
        assert isinstance(sims["chia"], Simulator)
        cfg = ChiaSettings.model_validate(sims["chia"].source_config())
        assert cfg.daemon_url.startswith("wss://127.0.0.1:")
    finally:
        await close_all(sims)


async def test_daemon_commands_like_the_real_one(sim: ChiaSim) -> None:
    """ping, unknown commands and a command without data answer as 2.7.5 does."""
    async with connect(sim.url, ssl=client_context(str(sim.ssl_dir))) as ws:
        assert (await ask(ws, "ping"))["data"] == {"success": True, "value": "pong"}
        bogus = await ask(ws, "bogus_command")
        assert bogus["data"] == {"success": False, "error": "unknown_command bogus_command"}
        missing = await ask(ws, "is_running")
        assert missing["data"]["error"] == 'is_running requires "data"'
        assert missing["ack"] is True and missing["destination"] == "tests"


async def test_routing_forwards_verbatim_to_registered_names(sim: ChiaSim) -> None:
    """A frame for a registered name arrives unchanged; for an unknown name it vanishes."""
    ctx = client_context(str(sim.ssl_dir))
    async with connect(sim.url, ssl=ctx) as ui, connect(sim.url, ssl=ctx) as farmer:
        await ask(ui, "register_service", {"service": "wallet_ui"})
        frame = {"command": "new_signage_point", "ack": False, "data": {"x": 1},
                 "request_id": "r1", "destination": "nobody", "origin": "chia_farmer"}
        await farmer.send(json.dumps(frame))
        await farmer.send(json.dumps({**frame, "destination": "wallet_ui"}))
        assert json.loads(await ui.recv()) == {**frame, "destination": "wallet_ui"}
    await sim.wait_for(lambda: sim.subscribers == 0)   # registrations end with the socket


async def test_client_certificate_is_required(sim: ChiaSim) -> None:
    """Like chia_daemon, a TLS client without a certificate is refused."""
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.check_hostname = False
    bare.load_verify_locations(sim.ssl_dir / "ca" / "private_ca.crt")
    with pytest.raises(Exception):  # noqa: B017 - TLS alert or closed handshake, by version
        async with connect(sim.url, ssl=bare, open_timeout=2) as ws:
            await asyncio.wait_for(ws.recv(), 2)


async def test_pushes_go_to_both_channels(sim: ChiaSim) -> None:
    """One signage point reaches a socket registered on both channels twice, same data."""
    async with connect(sim.url, ssl=client_context(str(sim.ssl_dir))) as ws:
        await ask(ws, "register_service", {"service": "wallet_ui"})
        await ask(ws, "register_service", {"service": "metrics"})
        await sim.signage_point()
        first, second = json.loads(await ws.recv()), json.loads(await ws.recv())
    assert {first["destination"], second["destination"]} == {"wallet_ui", "metrics"}
    assert first["data"] == second["data"] and first["command"] == "new_signage_point"
