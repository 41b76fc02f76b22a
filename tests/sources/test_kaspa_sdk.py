"""The official `kaspa` SDK (test-only) accepts our simulator as a JSON wRPC node.

The SDK runs in a child process: it occasionally aborts at interpreter exit
(protocols/kaspa.md §7), which must not take pytest down with it. The child prints one
JSON line per result before disconnecting, and the test reads those lines.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from typing import Any

import pytest

from alertbot.sources.sim.kaspa import KaspaSim

pytestmark = pytest.mark.skipif(importlib.util.find_spec("kaspa") is None,
                                reason="the kaspa SDK wheel is not installed here")

CHILD = r"""
import asyncio, json, sys
from kaspa import RpcClient

def out(what, value):
    print(json.dumps({"what": what, "value": value}, default=str), flush=True)

async def main(url):
    client = RpcClient(url=url, encoding="json", network_id="mainnet")
    await asyncio.wait_for(client.connect(block_async_connect=True, strategy="fallback",
                                          timeout_duration=3000), 5)
    out("server_info", await client.get_server_info())
    out("dag_info", await client.get_block_dag_info())
    out("sync_status", await client.get_sync_status())
    out("peers", await client.get_connected_peer_info())
    got = asyncio.Queue()
    loop = asyncio.get_running_loop()
    def on_event(event):  # called from the SDK's own thread
        loop.call_soon_threadsafe(got.put_nowait, event)
    client.add_event_listener("virtual-daa-score-changed", on_event)
    client.add_event_listener("sink-blue-score-changed", on_event)
    await client.subscribe_virtual_daa_score_changed()
    await client.subscribe_sink_blue_score_changed()
    seen = set()
    while len(seen) < 2:
        event = await asyncio.wait_for(got.get(), 5)
        seen.add(event["type"])
        out("notification", event)
    try:
        await client.get_block_count()
        out("unserved", "no error")
    except Exception as exc:
        out("unserved", str(exc))
    await client.disconnect()
    out("done", True)

asyncio.run(main(sys.argv[1]))
"""


async def _run_sdk(url: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    assert lines and lines[-1]["what"] == "done", stderr.decode()[-2000:]
    return lines


async def test_sdk_calls_and_notifications() -> None:
    """The SDK connects with encoding=json, gets full replies and our wrapped notifications."""
    async with KaspaSim(tick=0.05) as sim:
        results = await _run_sdk(sim.url)
    by = {r["what"]: r["value"] for r in results if r["what"] != "notification"}
    assert by["server_info"]["serverVersion"] == "1.0.1"
    assert by["server_info"]["isSynced"] is True
    assert by["dag_info"]["virtualDaaScore"] >= 150_000_000
    assert by["dag_info"]["network"] == "mainnet"
    assert by["sync_status"]["isSynced"] is True
    assert len(by["peers"]["peerInfo"]) == 8
    notes = [r["value"] for r in results if r["what"] == "notification"]
    types = {n["type"] for n in notes}
    assert types == {"VirtualDaaScoreChanged", "SinkBlueScoreChanged"}
    daa = next(n for n in notes if n["type"] == "VirtualDaaScoreChanged")
    assert daa["data"]["virtualDaaScore"] > 150_000_000
    assert "RPC method not found" in by["unserved"]
    assert sim.requested("subscribe") == 2
