"""A local Chia daemon simulator: a real TLS WebSocket server on 127.0.0.1 with its own CA.

At start it writes a throw-away `ssl_dir` (private CA, daemon and full-node pairs;
`chia_certs`) and serves `wss://127.0.0.1:PORT` requiring a client certificate issued
by that CA, TLS 1.3, like `chia_daemon` (protocols/chia.md §1–3). It speaks the
daemon envelope: the daemon's own commands (register_service, ping, get_version,
running_services, is_running, ...) and routing — a frame for another destination is
forwarded verbatim to every socket registered under that name, and silently dropped
when none is (2.7.5). Behind it sit a virtual farmer and full node: every `sp_interval`
the farmer pushes `new_signage_point` and `new_farming_info` to both `wallet_ui` and
`metrics` (so clients must collapse the copies), the node pushes `block` and
`get_blockchain_state` and answers `get_blockchain_state` requests relayed to
`chia_full_node`, and an HTTPS full-node RPC (`rpc_url`) answers the same. Tests and
`alertbot demo` steer it: stall and resume signage points, skip some, report not
synced, script RPC answers, go down and come back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..chia_certs import make_ssl_dir
from ..chia_tls import server_context
from . import StateWatch

log = logging.getLogger(__name__)

CHANNELS = ("wallet_ui", "metrics")
HARVESTER_ID = "0x" + "ed" * 32


@dataclass(frozen=True)
class RpcReply:
    """A scripted full-node RPC answer (status, body, content type); `hold` never answers."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    hold: bool = False


class ChiaSim(StateWatch):
    """The simulator; `async with ChiaSim() as sim:` then point a chia source at it."""

    def __init__(self, *, sp_interval: float = 0.5, block_every: int = 4,
                 plots: int = 6, lookup_us: int = 300) -> None:
        self.sp_interval, self.block_every = sp_interval, block_every
        self.plots, self.lookup_us = plots, lookup_us
        self.stalled = False
        self.synced = True
        self.node_running = True
        self.height = 100
        self.sp_index = 0
        self.challenge = 1
        self.sps_sent = 0
        self._skip = 0
        self.rpc_script: list[RpcReply] = []
        self.rpc_requests: list[str] = []
        self.requests: list[tuple[int, dict[str, Any]]] = []
        self.registered: dict[str, set[ServerConnection]] = {}
        self.connections = 0
        self.port = 0
        self.rpc_port = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="alertbot-chia-sim-"))
        self.ssl_dir = make_ssl_dir(self._tmp / "ssl")
        self._server: Server | None = None
        self._rpc: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._held: list[asyncio.StreamWriter] = []

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> ChiaSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await self._listen(0)
        self._rpc = await asyncio.start_server(
            self._serve_rpc, "127.0.0.1", 0, ssl=server_context(str(self.ssl_dir), "full_node"))
        self.rpc_port = self._rpc.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_loop())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.down()
        if self._rpc is not None:
            for writer in self._held:
                writer.transport.abort()
            self._rpc.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._rpc.wait_closed(), 2)
            self._rpc = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    async def down(self) -> None:
        """The daemon goes away: stop listening, drop every socket (port kept)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.registered.clear()
            await self._notify()

    async def up(self) -> None:
        """The daemon comes back on the same port (clients must register again)."""
        if self._server is None:
            await self._listen(self.port)
            await self._notify()

    async def _listen(self, port: int) -> None:
        self._server = await serve(self._handle, "127.0.0.1", port, compression=None,
                                   ssl=server_context(str(self.ssl_dir)),
                                   max_size=50_000_000, ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def rpc_url(self) -> str:
        return f"https://127.0.0.1:{self.rpc_port}"

    # ------------------------------------------------------------------ demo harness API
    @property
    def subscribers(self) -> int:
        """Sockets registered under a subscriber channel (wallet_ui or metrics)."""
        return len(set().union(*(self.registered.get(c, set()) for c in CHANNELS)))

    def source_config(self) -> dict[str, Any]:
        """A `kind: chia` source block pointing here, with demo-friendly intervals."""
        return {"kind": "chia", "daemon_url": self.url, "ssl_dir": str(self.ssl_dir),
                "poll_interval": 2.0, "request_timeout": 2.0, "healthy_after": 1.0,
                "reconnect": {"initial": 0.5, "max": 2.0}}

    async def script(self, duration: float) -> None:
        """The demo scenario: signage points stall and recover (see stall_and_recover)."""
        await stall_and_recover(self, duration)

    # ------------------------------------------------------------------ controls
    def skip(self, count: int) -> None:
        """The next signage point jumps `count` indexes (the farmer reports them missing)."""
        self._skip = count

    def count(self, name: str) -> int:
        """Sockets currently registered under `name`."""
        return len(self.registered.get(name, set()))

    def requested(self, command: str) -> int:
        return sum(1 for _, msg in self.requests if msg.get("command") == command)



    # ------------------------------------------------------------------ daemon protocol
    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        index = self.connections
        try:
            async for raw in ws:
                if isinstance(raw, bytes):      # the daemon closes on binary frames
                    await ws.close(1003, "binary frames are not supported")
                    break
                await self._frame(ws, index, raw)
        except ConnectionClosed:
            pass
        finally:
            for sockets in self.registered.values():
                sockets.discard(ws)
            await self._notify()

    async def _frame(self, ws: ServerConnection, index: int, raw: str) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await self._send(ws, {"command": "", "ack": True, "request_id": "",
                                  "destination": "", "origin": "",
                                  "data": {"success": False, "error": str(exc)}})
            return
        if not isinstance(msg, dict):
            return
        self.requests.append((index, msg))
        destination = msg.get("destination")
        if destination is None:
            await self._reply(ws, msg, {"success": False, "error": "'destination'"})
        elif destination == "daemon":
            await self._reply(ws, msg, self._daemon_command(ws, msg))
        elif self.registered.get(str(destination)):
            await self._route(str(destination), msg)
        elif destination == "chia_full_node" and self.node_running:
            await self._node_request(msg)
        await self._notify()

    def _daemon_command(self, ws: ServerConnection, msg: dict[str, Any]) -> dict[str, Any]:
        command, data = msg.get("command"), msg.get("data")
        if command == "ping":
            return {"success": True, "value": "pong"}
        if command == "get_version":
            return {"success": True, "version": "2.7.5"}
        if command == "get_status":
            return {"success": True, "genesis_initialized": True}
        if command == "running_services":
            names = [n for n, s in self.registered.items() if s]
            return {"success": True, "running_services": names}
        if command in ("register_service", "is_running"):
            if not isinstance(data, dict) or not data:
                return {"success": False, "error": f'{command} requires "data"'}
            service = str(data.get("service"))
            if command == "is_running":
                return {"success": True, "service_name": service,
                        "is_running": bool(self.registered.get(service))}
            self.registered.setdefault(service, set()).add(ws)
            return {"success": True}
        return {"success": False, "error": f"unknown_command {command}"}

    async def _reply(self, ws: ServerConnection, msg: dict[str, Any],
                     data: dict[str, Any]) -> None:
        await self._send(ws, {"command": msg.get("command", ""), "ack": True, "data": data,
                              "request_id": msg.get("request_id", ""),
                              "destination": msg.get("origin", ""), "origin": "daemon"})

    async def _route(self, destination: str, msg: dict[str, Any]) -> None:
        for sock in list(self.registered.get(destination, ())):
            await self._send(sock, msg)

    async def _node_request(self, msg: dict[str, Any]) -> None:
        """The virtual full node answers through the daemon, addressed to the request's origin."""
        if msg.get("command") == "get_blockchain_state":
            data: dict[str, Any] = {"blockchain_state": self.blockchain_state(), "success": True}
        else:
            data = {"success": False, "error": f"No route: {msg.get('command')}"}
        await self._route(str(msg.get("origin")), {
            "command": msg.get("command"), "ack": True, "data": data,
            "request_id": msg.get("request_id"), "destination": msg.get("origin"),
            "origin": "chia_full_node"})

    async def _send(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(orjson.dumps(msg).decode())

    async def push(self, origin: str, command: str, data: dict[str, Any],
                   channels: tuple[str, ...] = CHANNELS) -> None:
        """A service's state change, sent to each channel like chia's `state_changed`."""
        for channel in channels:
            await self._route(channel, {
                "command": command, "ack": False, "data": {**data, "success": True},
                "request_id": f"{time.monotonic_ns():064x}", "destination": channel,
                "origin": origin})

    # ------------------------------------------------------------------ virtual services
    def blockchain_state(self) -> dict[str, Any]:
        peak = {"height": self.height, "header_hash": f"0x{self.height:064x}",
                "weight": self.height * 1024, "timestamp": int(time.time())}
        return {"peak": peak, "genesis_challenge_initialized": True,
                "sync": {"synced": self.synced, "sync_mode": False, "sync_tip_height": 0,
                         "sync_progress_height": 0},
                "difficulty": 1024, "sub_slot_iters": 578813952,
                "space": 31 * 2**50, "average_block_time": 18,
                "mempool_size": 0, "mempool_cost": 0, "mempool_fees": 0,
                "mempool_min_fees": {"cost_5000000": 0}, "mempool_max_total_cost": 0,
                "block_max_cost": 11000000000, "node_id": "f6" * 32}

    async def signage_point(self) -> None:
        """One farmer signage point (both channels) and its farming info."""
        missing = None
        step = 1 + self._skip
        if self._skip:
            missing = [int(time.time()), self._skip]
            self._skip = 0
        self.sp_index += step
        if self.sp_index >= 64:
            self.sp_index %= 64
            self.challenge += 1
        self.sps_sent += 1
        challenge = f"0x{self.challenge:064x}"
        sp_hash = f"0x{self.sps_sent:064x}"
        await self.push("chia_farmer", "new_signage_point", {
            "signage_point": {"challenge_hash": challenge, "challenge_chain_sp": sp_hash,
                              "reward_chain_sp": "0x" + "d8" * 32, "difficulty": 1024,
                              "sub_slot_iters": 578813952,
                              "signage_point_index": self.sp_index},
            "proofs": [], "missing_signage_points": missing})
        await self.push("chia_farmer", "new_farming_info", {"farming_info": {
            "challenge_hash": challenge, "signage_point": sp_hash, "passed_filter": 1,
            "proofs": 0, "total_plots": self.plots, "timestamp": int(time.time()),
            "node_id": HARVESTER_ID, "lookup_time": self.lookup_us}})

    async def block(self) -> None:
        self.height += 1
        await self.push("chia_full_node", "block", {
            "height": self.height, "header_hash": f"0x{self.height:064x}",
            "transaction_block": True, "k_size": 32, "timestamp": int(time.time()),
            "validation_time": 0.02, "pre_validation_time": 0.01, "fork_height": self.height - 1,
            "block_cost": 0, "block_fees": 0, "rolled_back_records": 0,
            "receive_block_result": 1, "transaction_generator_ref_list": []},
            channels=("metrics",))
        await self.push("chia_full_node", "get_blockchain_state",
                        {"blockchain_state": self.blockchain_state()})

    async def harvester_update(self) -> None:
        await self.push("chia_farmer", "harvester_update", {
            "connection": {"host": "127.0.0.1", "node_id": HARVESTER_ID, "port": 46450},
            "plots": self.plots, "failed_to_open_filenames": 0, "no_key_filenames": 0,
            "duplicates": 0, "total_plot_size": self.plots * 108_000_000_000,
            "total_effective_plot_size": self.plots * 101_000_000_000, "syncing": None,
            "last_sync_time": time.time(), "harvesting_mode": 1})

    async def _tick_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self.sp_interval)
            if self._server is None:
                continue
            ticks += 1
            if not self.stalled:
                await self.signage_point()
            if self.node_running and ticks % self.block_every == 0 and not self.stalled:
                await self.block()
            if ticks % 10 == 1:
                await self.harvester_update()
            await self._notify()

    # ------------------------------------------------------------------ full node RPC
    async def _serve_rpc(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(h.split(":", 1)[1]) for h in lines[1:]
                           if h.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            path = lines[0].split(" ")[1]
            self.rpc_requests.append(path)
            await self._notify()
            reply = self._rpc_answer(path, body)
            if reply.hold:
                self._held.append(writer)
                await reader.read()         # until the client gives up
                return
            content = reply.body if isinstance(reply.body, bytes) else (
                reply.body.encode() if isinstance(reply.body, str) else orjson.dumps(reply.body))
            writer.write(f"HTTP/1.1 {reply.status} X\r\nContent-Type: {reply.content_type}\r\n"
                         f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
                         .encode() + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()

    def _rpc_answer(self, path: str, body: bytes) -> RpcReply:
        if self.rpc_script:
            return self.rpc_script.pop(0)
        if path != "/get_blockchain_state":
            return RpcReply(404, "404: Not Found", "text/plain; charset=utf-8")
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return RpcReply(500, "500 Internal Server Error", "text/plain; charset=utf-8")
        return RpcReply(200, {"blockchain_state": self.blockchain_state(), "success": True})


async def stall_and_recover(sim: ChiaSim, duration: float) -> None:
    """The demo scenario over `duration`: SPs flow 15 %, stall 50 %, flow again 35 %.

    Two signage points are skipped early on (the skip rule's case). With the demo's
    70 s the stall lasts 35 s — longer than the demo rule's `absent_for: 20s` — and the
    points resume with a quarter of the run left, so the alert fires and resolves.
    """
    await asyncio.sleep(duration * 0.08)
    sim.skip(3)
    await asyncio.sleep(duration * 0.07)
    sim.stalled = True
    log.info("chia sim: signage points stalled")
    await asyncio.sleep(duration * 0.5)
    sim.stalled = False
    log.info("chia sim: signage points resumed")
    await asyncio.sleep(duration * 0.35)


async def start() -> ChiaSim:
    """The SIMULATORS entry: a started simulator on 127.0.0.1, any free port."""
    sim = ChiaSim()
    await sim.start()
    return sim
