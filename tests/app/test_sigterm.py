"""`alertbot run` as a real process: SIGTERM mid-burst loses nothing, repeats nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from alertbot.sources.sim.kraken import KrakenSim
from tests.app.service_kit import write_config
from tests.fakes.http_receiver import HttpReceiver, Reply, Request

BURST = 40
ROOT = Path(__file__).resolve().parents[2]


def burst_rules(n: int) -> str:
    rules = [f"""  - id: btc-{i}
    source: kraken
    event: ticker
    where: {{symbol: BTC/USD}}
    when: {{field: last, above: {100000 + i}}}
    notify: [hook]
""" for i in range(n)]
    return "rules:\n" + "".join(rules)


async def start(path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alertbot", "run", "-c", str(path), "--no-watch",
        "--drain-timeout", "0.3", "--log-format", "json", env=env,
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_sigterm_mid_burst_then_restart(tmp_path: Path) -> None:
    """Exit 0 on SIGTERM with the outbox half-delivered; the restart sends the rest once."""
    delivered: list[str] = []
    phase = {"accept": 10}

    def route(request: Request) -> Reply:
        if phase["accept"] > 0:
            phase["accept"] -= 1
            delivered.append(request.headers["webhook-id"])
            return Reply(200)
        return Reply(503, "down for maintenance")

    async with KrakenSim(walk=False) as sim, HttpReceiver(route=route) as hook:
        config = {"sources": {"kraken": {"kind": "kraken", "url": sim.url,
                                         "healthy_after": 0.05}},
                  "notifiers": {"hook": {"kind": "webhook", "url": hook.url}}}
        path = write_config(tmp_path, config, burst_rules(BURST))
        proc = await start(path)
        await sim.wait_for(lambda: sim.subscribed("ticker", "BTC/USD"), timeout=10)
        await sim.set_price("BTC/USD", 200000)
        await hook.wait_for(12, timeout=10)          # 10 delivered, then 503s
        code, log = await stop(proc)
        assert code == 0, log
        assert len(delivered) == 10
        lines = [json.loads(line) for line in log.splitlines()]   # stderr is JSON only
        assert any(x["message"].startswith("SIGTERM received") for x in lines)

        phase["accept"] = 10**6
        proc = await start(path)
        await sim.wait_for(lambda: sim.subscribed("ticker", "BTC/USD"), timeout=10)
        async with asyncio.timeout(10):
            while len(delivered) < BURST:
                await hook.wait_for(len(hook.requests) + 1)
        await sim.set_price("BTC/USD", 200001)       # still firing: nothing new to say
        code, log = await stop(proc)
        assert code == 0, log
    assert len(delivered) == BURST == len(set(delivered))
