"""A REAL Chia farm for one watcher run, inside a private network namespace.

`unshare -n python -m tests.fakes.chia_farm CHIA_BIN TMP` (from the repository root):
brings up `lo`, creates a `chia dev sim` (simulator full node + daemon, 6 tiny plots),
has the daemon start the real farmer and harvester, runs `ChiaSource` under the real
runner against that daemon, feeds the farmer signage points 1,2,3,6,7,8 through
`chia_injector.py` (4 and 5 skipped) and prints every event the watcher emitted as one
JSON line on stdout (progress on stderr), then stops the simulator and the daemon.
This is protocols/chia_real_peer.md §6; the namespace keeps the node's P2P ports and
DNS introducer lookups off the host. Takes about a minute (the sim create is ~40 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from alertbot.clock import SystemClock
from alertbot.metrics import RecordingMetrics
from alertbot.model import Event
from alertbot.sources.chia import ChiaSettings, ChiaSource
from alertbot.sources.chia_tls import client_context
from alertbot.sources.runner import EventContext, SourceRunner

INJECTOR = Path(__file__).with_name("chia_injector.py")
INDEXES = ["1", "2", "3", "6", "7", "8"]


def say(text: str) -> None:
    print(f"chia_farm: {text}", file=sys.stderr, flush=True)


def create_sim(bin_dir: Path, tmp: Path, env: dict[str, str]) -> Path:
    mnemonic = subprocess.run(
        [str(bin_dir / "python"), "-c", "from chia.util.keychain import generate_mnemonic;"
         "print(generate_mnemonic())"], env=env, check=True, capture_output=True,
        text=True).stdout.strip()
    started = time.monotonic()
    subprocess.run([str(bin_dir / "chia"), "dev", "sim", "--root-path", str(tmp / "sim"),
                    "create", "-m", mnemonic], env=env, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    say(f"sim created in {time.monotonic() - started:.0f} s")
    return tmp / "sim" / "main"


async def start_services(url: str, ssl_dir: Path) -> None:
    """Ask the daemon to launch the real farmer and harvester."""
    async with connect(url, ssl=client_context(str(ssl_dir)), max_size=50_000_000) as ws:
        for service in ("chia_farmer", "chia_harvester"):
            rid = uuid.uuid4().hex
            await ws.send(json.dumps({"command": "start_service", "ack": False,
                                      "data": {"service": service}, "request_id": rid,
                                      "destination": "daemon", "origin": "tests"}))
            async with asyncio.timeout(60):
                while json.loads(await ws.recv()).get("request_id") != rid:
                    pass


async def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


async def watch(root: Path, bin_dir: Path, env: dict[str, str]) -> list[Event]:
    config = (root / "config" / "config.yaml").read_text()
    daemon_port = int(re.search(r"(?m)^daemon_port: (\d+)", config).group(1))  # type: ignore[union-attr]
    url, ssl_dir = f"wss://127.0.0.1:{daemon_port}", root / "config" / "ssl"
    await start_services(url, ssl_dir)
    events: list[Event] = []
    changed = asyncio.Event()

    def keep(event: Event) -> None:
        events.append(event)
        changed.set()

    async def until(pred: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                changed.clear()
                await changed.wait()

    ctx = EventContext("chia", clock=SystemClock(), metrics=RecordingMetrics(), store=None,
                       emit=keep)
    settings = ChiaSettings.model_validate({"kind": "chia", "daemon_url": url,
                                            "ssl_dir": str(ssl_dir), "poll_interval": 2,
                                            "healthy_after": 0.2})
    runner = asyncio.create_task(SourceRunner(ChiaSource("chia", settings, ctx),
                                              rng=random.Random(0)).run())
    try:
        await until(lambda: any(e.type == "harvester" and e.data.get("plots")
                                and not e.data.get("syncing") for e in events), 60)
        say("harvester synced its plots")
        await wait_port(8447)
        subprocess.run([str(bin_dir / "python"), str(INJECTOR), str(root), "simulator0",
                        "1.0", *INDEXES], env=env, check=True, timeout=60, stdout=sys.stderr)
        await until(lambda: sum(1 for e in events if e.type == "signage_point") >= 6
                    and sum(1 for e in events if e.type == "farming_info") >= 6, 20)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return events


def main(chia: str, tmp_arg: str) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    bin_dir, tmp = Path(chia).parent, Path(tmp_arg)
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(tmp / "home"), "CHIA_KEYS_ROOT": str(tmp / "keys"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("CHIA_ROOT", None)
    root = create_sim(bin_dir, tmp, env)
    env["CHIA_ROOT"] = str(root)
    try:
        events = asyncio.run(watch(root, bin_dir, env))
    finally:
        subprocess.run([str(bin_dir / "chia"), "dev", "sim", "--root-path", str(tmp / "sim"),
                        "stop", "-d"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    for event in events:
        print(json.dumps({"type": event.type, "data": event.data}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
