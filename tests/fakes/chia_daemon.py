"""The REAL Chia daemon for tests, plus fake Chia services that talk to it.

`find_chia_bin()` locates a `chia` 2.7.5 install: `$ALERTBOT_CHIA_BIN`, then
/work/chia-venv/bin/chia, then `.venv-chia/bin/chia` in the repository (`.ci/chia_venv.sh`
creates it). `RealDaemon` runs `chia init` under a temporary CHIA_ROOT/CHIA_KEYS_ROOT,
moves the daemon to a free port on 127.0.0.1 and starts `chia_daemon` as our own child
(protocols/chia_real_peer.md §3), so it can be stopped and restarted by PID.
`FakeService` is a socket that registers under a service name (`chia_farmer`,
`chia_full_node`) and pushes frames or answers requests the way those services do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from alertbot.sources.chia_tls import client_context

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (Path("/work/chia-venv/bin/chia"), REPO / ".venv-chia" / "bin" / "chia")


def find_chia_bin() -> Path | None:
    """The `chia` executable to test against, or None when there is none."""
    env = os.environ.get("ALERTBOT_CHIA_BIN")
    for path in ([Path(env)] if env else []) + list(CANDIDATES):
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RealDaemon:
    """`chia_daemon` under a throw-away root on a free port; start/stop/restart by PID."""

    def __init__(self, chia: Path, tmp: Path) -> None:
        self.bin = chia.parent
        self.root = tmp / "root"
        self.env = {**os.environ, "CHIA_ROOT": str(self.root),
                    "CHIA_KEYS_ROOT": str(tmp / "keys"), "HOME": str(tmp / "home"),
                    "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.port = 0
        self.log = tmp / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def ssl_dir(self) -> Path:
        return self.root / "config" / "ssl"

    def init(self) -> None:
        """`chia init` (config + certificates), then our port and 127.0.0.1 in the config."""
        subprocess.run([str(self.bin / "chia"), "init"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        config = self.root / "config" / "config.yaml"
        self.port = free_port()
        text = re.sub(r"(?m)^daemon_port: \d+", f"daemon_port: {self.port}",
                      config.read_text())
        text = re.sub(r'(?m)^self_hostname: &self_hostname "localhost"',
                      'self_hostname: &self_hostname "127.0.0.1"', text)
        config.write_text(text)

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(self.bin / "chia_daemon")], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chia_daemon exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"chia_daemon did not listen on {self.port} within {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (clean, ~6 s with clients attached) or SIGKILL (a crash, instant)."""
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class FakeService:
    """One socket on the daemon registered as `name`; pushes or answers like that service."""

    def __init__(self, url: str, ssl_dir: Path, name: str) -> None:
        self.url, self.ssl_dir, self.name = url, ssl_dir, name
        self.ws: ClientConnection | None = None
        self.answer: dict[str, Any] | None = None   # data for get_blockchain_state replies
        self.requests: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._acked = asyncio.Event()

    async def __aenter__(self) -> FakeService:
        self.ws = await connect(self.url, ssl=client_context(str(self.ssl_dir)),
                                max_size=50_000_000)
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(self._frame("register_service", {"service": self.name}, "daemon"))
        async with asyncio.timeout(5):
            await self._acked.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.ws is not None:
            await self.ws.close()

    def _frame(self, command: str, data: dict[str, Any], destination: str, *,
               ack: bool = False, request_id: str | None = None,
               origin: str | None = None) -> str:
        return orjson.dumps({"command": command, "ack": ack, "data": data,
                             "request_id": request_id or uuid.uuid4().hex,
                             "destination": destination,
                             "origin": origin or self.name}).decode()

    async def push(self, command: str, data: dict[str, Any],
                   channels: tuple[str, ...] = ("wallet_ui", "metrics")) -> None:
        """A state change sent to each channel, as chia services do (success added)."""
        assert self.ws is not None
        for channel in channels:
            await self.ws.send(self._frame(command, {**data, "success": True}, channel))

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                msg = orjson.loads(raw)
                if msg.get("command") == "register_service" and msg.get("ack"):
                    self._acked.set()
                elif not msg.get("ack"):
                    self.requests.append(msg)
                    await self._answer(msg)

    async def _answer(self, msg: dict[str, Any]) -> None:
        if msg.get("command") != "get_blockchain_state" or self.answer is None:
            return
        assert self.ws is not None
        await self.ws.send(self._frame("get_blockchain_state", self.answer,
                                       str(msg.get("origin")), ack=True,
                                       request_id=str(msg.get("request_id"))))
