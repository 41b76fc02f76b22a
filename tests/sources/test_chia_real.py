"""The Chia watcher against the REAL `chia_daemon` 2.7.5 (skipped when chia is not installed).

One daemon per module (temporary CHIA_ROOT/CHIA_KEYS_ROOT, free port, its own generated
certificates). Fake services on the same daemon play the farmer and the full node:
they push the recorded fixture shapes to both channels or answer the watcher's
`get_blockchain_state`, so stalls and unsynced states are reproducible. Durations are
scaled down (stall 0.6 s); the watcher runs under the real runner and a real Engine.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alertbot.sources.chia_certs import make_ssl_dir
from tests.conftest import SHARED
from tests.fakes.chia_daemon import FakeService, RealDaemon, find_chia_bin
from tests.sources.chia_kit import ChiaWatch

CHIA = find_chia_bin()
pytestmark = [pytest.mark.realpeer, pytest.mark.skipif(
    CHIA is None, reason="no chia-blockchain 2.7.5 install: set ALERTBOT_CHIA_BIN or run "
    ".ci/chia_venv.sh .venv-chia")]

RULES: list[dict[str, Any]] = [
    {"id": "chia-signage-stalled", "source": "chia", "event": "signage_point",
     "where": {"origin": "chia_farmer"}, "absent_for": 0.6, "notify": ["console"]},
    {"id": "chia-not-synced", "source": "chia", "event": "blockchain_state",
     "when": {"field": "synced", "equals": False}, "for": 0.2, "notify": ["console"]},
]


def fixture_frames(name: str) -> list[dict[str, Any]]:
    path = SHARED / "fixtures" / "chia" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SP = next(f["data"] for f in fixture_frames("daemon_pushes_farmer_harvester.jsonl")
          if f["command"] == "new_signage_point")
UNSYNCED = next(r["messages"]["data"] for r in fixture_frames("daemon_replies.jsonl")
                if r["step"] == "via daemon get_blockchain_state")


def signage_point(index: int) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(SP)
    data.pop("success", None)
    data["signage_point"]["signage_point_index"] = index
    data["signage_point"]["challenge_chain_sp"] = f"0x{index:064x}"
    return data


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealDaemon]:
    assert CHIA is not None
    real = RealDaemon(CHIA, tmp_path_factory.mktemp("chia"))
    real.init()
    real.start()
    yield real
    real.stop()


class Watcher(ChiaWatch):
    """ChiaSource under the real runner with a real Engine, against the real daemon."""

    WAIT = 10.0

    def __init__(self, daemon: RealDaemon, **extra: Any) -> None:
        super().__init__(RULES, {
            "kind": "chia", "daemon_url": daemon.url, "ssl_dir": str(daemon.ssl_dir),
            "poll_interval": 0.2, "request_timeout": 0.5, "healthy_after": 0.05,
            "ping_interval": 1, "open_timeout": 2,
            "reconnect": {"initial": 0.1, "max": 0.3, "jitter": 0}, **extra})
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Watcher:
        self.tasks = [asyncio.create_task(self.runner.run()), asyncio.create_task(self.tick())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def connected(self) -> int:
        return sum(1 for e in self.of("connection") if e.data["state"] == "connected")


async def feed(farmer: FakeService, first: int, count: int) -> None:
    for index in range(first, first + count):
        await farmer.push("new_signage_point", signage_point(index))
        await asyncio.sleep(0.05)   # the SP cadence, scaled down (not synchronisation)


async def test_stall_fires_once_and_resolves_once(daemon: RealDaemon) -> None:
    """SPs on both channels → one event each; a pause → one stall alert; resume → one resolve."""
    async with Watcher(daemon, poll_full_node=False) as w:
        await w.wait_for(lambda: w.connected() == 1)
        async with FakeService(daemon.url, daemon.ssl_dir, "chia_farmer") as farmer:
            await feed(farmer, 1, 8)
            await farmer.push("harvester_removed", {"node_id": "0xff"}, ("metrics",))
            await w.wait_for(lambda: bool(w.of("harvester")))     # sentinel: all SPs read
            assert [e.data["signage_point_index"] for e in w.of("signage_point")] == list(
                range(1, 9))
            await w.wait_for(lambda: bool(w.alerts_of("chia-signage-stalled", "firing")))
            await feed(farmer, 9, 3)
            await w.wait_for(lambda: bool(w.alerts_of("chia-signage-stalled", "resolved")))
    assert len(w.alerts_of("chia-signage-stalled", "firing")) == 1
    assert len(w.alerts_of("chia-signage-stalled", "resolved")) == 1


async def test_unsynced_full_node_alerts(daemon: RealDaemon) -> None:
    """A socket registered as chia_full_node answers synced:false → not-synced alert."""
    async with FakeService(daemon.url, daemon.ssl_dir, "chia_full_node") as node, \
            Watcher(daemon) as w:
        node.answer = UNSYNCED
        await w.wait_for(lambda: bool(w.alerts_of("chia-not-synced", "firing")))
    assert node.requests[0]["origin"] == "alertbot"
    state = w.of("blockchain_state")[0].data
    assert state["synced"] is False and state["peak_height"] is None


async def test_certificates_of_another_ca_are_refused(daemon: RealDaemon,
                                                      tmp_path: Path) -> None:
    """Another CA: the TLS failure is reported as source_error, the watcher keeps retrying."""
    other = make_ssl_dir(tmp_path / "other", ca_name="Other CA")
    async with Watcher(daemon, ssl_dir=str(other)) as w:
        await w.wait_for(lambda: len(w.of("source_error")) >= 2)
        assert all(not t.done() for t in w.tasks)
    messages = [str(e.data["message"]) for e in w.of("source_error")]
    assert all(e.data["kind"] == "tls" for e in w.of("source_error"))
    assert "certificate verify failed" in messages[0].lower() and daemon.url in messages[0]
    assert w.connected() == 0 and daemon.proc is not None and daemon.proc.poll() is None


@pytest.fixture
async def farmer_factory(daemon: RealDaemon) -> AsyncIterator[Callable[[], FakeService]]:
    yield lambda: FakeService(daemon.url, daemon.ssl_dir, "chia_farmer")


async def test_daemon_restart_watcher_registers_again(
        daemon: RealDaemon, farmer_factory: Callable[[], FakeService]) -> None:
    """The daemon dies and restarts: the watcher re-registers by itself; alerts resume."""
    async with Watcher(daemon, poll_full_node=False) as w:
        await w.wait_for(lambda: w.connected() == 1)
        async with farmer_factory() as farmer:
            await feed(farmer, 1, 3)
            await w.wait_for(lambda: len(w.of("signage_point")) == 3)
        await asyncio.to_thread(daemon.stop, kill=True)   # a crash; SIGTERM takes ~6 s
        await w.wait_for(lambda: bool(w.alerts_of("chia-signage-stalled", "firing")))
        await asyncio.to_thread(daemon.start)
        await w.wait_for(lambda: w.connected() == 2)
        async with farmer_factory() as farmer:
            await feed(farmer, 4, 3)
            await w.wait_for(lambda: bool(w.alerts_of("chia-signage-stalled", "resolved")))
    assert len(w.alerts_of("chia-signage-stalled", "firing")) == 1
    assert [e.data["signage_point_index"] for e in w.of("signage_point")][-1] >= 4
