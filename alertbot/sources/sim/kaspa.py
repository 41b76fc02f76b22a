"""A local Kaspa node simulator: a real `websockets` server on 127.0.0.1 speaking JSON wRPC.

It answers the way rusty-kaspa's wRPC JSON server does (protocols/kaspa.md §3–5): replies
echo the request id with the result in `params` and every field the official SDK requires;
`subscribe`/`unsubscribe` take a Scope object, and notifications are wrapped in their
PascalCase event name. Like kaspad it closes the socket on an unknown method or a frame
that is not JSON, and answers a known op it does not serve with "RPC method not found".
Tests and `alertbot demo` steer it: stall the DAA score, report `isSynced: false`, change
the server version or peer count, never answer a method, and go down and come back on the
same port. Every request is recorded in `requests` (connection number, frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..kaspa import KNOWN_METHODS, NOTIFICATION_NAMES
from . import StateWatch

log = logging.getLogger(__name__)

HASH = "a1" * 32


@dataclass
class _Conn:
    ws: ServerConnection
    index: int
    subs: set[str] = field(default_factory=set)


class KaspaSim(StateWatch):
    """The simulator; `async with KaspaSim() as sim:` then connect to `sim.url`."""

    def __init__(self, *, network: str = "mainnet", tick: float = 0.1, daa_step: int = 10,
                 peers: int = 8, server_version: str = "1.0.1") -> None:
        self.network, self.tick, self.daa_step = network, tick, daa_step
        self.daa_score = 150_000_000
        self.blue_score = 110_000_000
        self.stalled = False
        self.synced = True
        self.peer_count = peers
        self.server_version = server_version
        self.silent_methods: set[str] = set()
        self.requests: list[tuple[int, dict[str, Any]]] = []
        self.connections = 0
        self.ticks = 0
        self.live: list[_Conn] = []
        self.port = 0
        self._host = "127.0.0.1"
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> KaspaSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        await self._listen(port)
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.down()

    async def down(self) -> None:
        """The node goes away: stop listening and drop every connection (port kept)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            await self._notify()

    async def up(self) -> None:
        """The node comes back on the same port."""
        if self._server is None:
            await self._listen(self.port)
            await self._notify()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}"

    # ------------------------------------------------------------------ demo harness API

    @property
    def subscribers(self) -> int:
        """Connected clients with at least one subscription."""
        return sum(1 for conn in self.live if conn.subs)

    def source_config(self) -> dict[str, Any]:
        """A `kind: kaspa` source block pointing here, with demo-friendly intervals."""
        return {"kind": "kaspa", "url": self.url, "network": self.network,
                "poll_interval": 2.0, "request_timeout": 2.0, "healthy_after": 1.0,
                "reconnect": {"initial": 0.5, "max": 2.0}}

    async def script(self, duration: float) -> None:
        """The demo scenario: the node goes down and comes back (see node_down_and_back)."""
        await node_down_and_back(self, duration)

    async def close(self) -> None:
        await self.stop()

    async def _listen(self, port: int) -> None:
        self._server = await serve(self._handle, self._host, port, ping_interval=None,
                                   compression=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    # ------------------------------------------------------------------ controls

    def never_answer(self, method: str) -> None:
        """Requests for `method` get no reply at all (a hung handler)."""
        self.silent_methods.add(method)

    def subscribed(self, name: str) -> bool:
        """Whether some live connection subscribes to notification `name`."""
        return any(name in conn.subs for conn in self.live)

    def requested(self, method: str, connection: int | None = None) -> int:
        """How many `method` requests arrived (on connection number `connection`)."""
        return sum(1 for index, msg in self.requests if msg.get("method") == method
                   and (connection is None or index == connection))



    # ------------------------------------------------------------------ protocol

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        conn = _Conn(ws, self.connections)
        self.live.append(conn)
        await self._notify()
        try:
            async for raw in ws:
                if not await self._request(conn, raw):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.live.remove(conn)
            await self._notify()

    async def _request(self, conn: _Conn, raw: str | bytes) -> bool:
        """Answer one frame; False when kaspad would drop the connection."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            msg = None
        method = msg.get("method") if isinstance(msg, dict) else None
        if not isinstance(msg, dict) or method not in KNOWN_METHODS:
            log.info("kaspa sim: closing connection %d on frame %.80r", conn.index, raw)
            await conn.ws.close(1011, "unknown method")
            return False
        self.requests.append((conn.index, msg))
        await self._notify()
        rid = msg.get("id")
        if rid is None or method in self.silent_methods:
            return True
        raw_params = msg.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        result = self._result(conn, method, params)
        reply: dict[str, Any] = {"id": rid, "method": method}
        if result is None:
            reply["error"] = {"code": 0, "message": "RPC method not found", "data": None}
        else:
            reply["params"] = result
        await self._send(conn, reply)
        return True

    def _result(self, conn: _Conn, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if method in ("subscribe", "unsubscribe"):
            names = set(params) & NOTIFICATION_NAMES
            if method == "subscribe":
                conn.subs |= names
                return {"id": conn.index}
            conn.subs -= names
            return {}
        table: dict[str, Callable[[], dict[str, Any]]] = {
            "getServerInfo": self.server_info, "getBlockDagInfo": self.dag_info,
            "getSyncStatus": lambda: {"isSynced": self.synced},
            "getConnectedPeerInfo": self.peer_info, "getInfo": self.info,
            "getSinkBlueScore": lambda: {"blueScore": self.blue_score},
            "getCurrentNetwork": lambda: {"network": self.network.split("-")[0]},
            "ping": dict,
        }
        make = table.get(method)
        return make() if make is not None else None

    def server_info(self) -> dict[str, Any]:
        return {"rpcApiVersion": 1, "rpcApiRevision": 0, "serverVersion": self.server_version,
                "networkId": self.network, "hasUtxoIndex": True, "isSynced": self.synced,
                "virtualDaaScore": self.daa_score}

    def dag_info(self) -> dict[str, Any]:
        return {"network": self.network, "blockCount": self.daa_score // 100,
                "headerCount": self.daa_score // 100, "tipHashes": [HASH, "a2" * 32],
                "difficulty": 1.23456e15, "pastMedianTime": 1_763_000_000_000,
                "virtualParentHashes": [HASH], "pruningPointHash": "b1" * 32,
                "virtualDaaScore": self.daa_score, "sink": "c3" * 32}

    def info(self) -> dict[str, Any]:
        return {"p2pId": "4a1a1b4e-6a8e-4f3a-9d5e-2f3b2f1e0c00", "mempoolSize": 3,
                "serverVersion": self.server_version, "isUtxoIndexed": True,
                "isSynced": self.synced, "hasNotifyCommand": True, "hasMessageId": True}

    def peer_info(self) -> dict[str, Any]:
        return {"peerInfo": [
            {"id": f"4a1a1b4e-6a8e-4f3a-9d5e-2f3b2f1e0c{i:02d}",
             "address": {"ip": f"10.0.0.{i + 1}", "port": 16111},
             "last_ping_duration": 42, "is_outbound": i % 2 == 0, "time_offset": -3,
             "user_agent": f"/kaspad:{self.server_version}/", "advertised_protocol_version": 7,
             "time_connected": 1_763_000_000_000, "is_ibd_peer": False}
            for i in range(self.peer_count)]}

    def block(self) -> dict[str, Any]:
        header = {"hash": f"{self.daa_score:064x}", "version": 1, "parentsByLevel": [[HASH]],
                  "hashMerkleRoot": "d4" * 32, "acceptedIdMerkleRoot": "d5" * 32,
                  "utxoCommitment": "d6" * 32, "timestamp": 1_763_000_000_000, "bits": 486722099,
                  "nonce": 7, "daaScore": self.daa_score, "blueWork": "0" * 47 + "1",
                  "blueScore": self.blue_score, "pruningPoint": "b1" * 32}
        return {"header": header, "transactions": [], "verboseData": None}

    async def _send(self, conn: _Conn, msg: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(orjson.dumps(msg).decode())

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self.ticks += 1
            if not self.stalled and self._server is not None:
                self.daa_score += self.daa_step
                self.blue_score += 1
                await self.push()
            await self._notify()

    async def push(self) -> None:
        """Send the current scores to every subscriber, wrapped as kaspad wraps them."""
        notes = {"VirtualDaaScoreChanged": ("virtualDaaScoreChangedNotification",
                                            {"virtualDaaScore": self.daa_score}),
                 "SinkBlueScoreChanged": ("sinkBlueScoreChangedNotification",
                                          {"sinkBlueScore": self.blue_score}),
                 "BlockAdded": ("blockAddedNotification", {"block": self.block()})}
        for conn in list(self.live):
            for name, (method, body) in notes.items():
                if name in conn.subs:
                    await self._send(conn, {"method": method, "params": {name: body}})


async def node_down_and_back(sim: KaspaSim, duration: float) -> None:
    """The demo scenario over `duration`: up for 10 %, down for 60 %, back for 30 %.

    With a one-minute demo the node is down for 36 s, longer than the example rule's
    `for: 30s`, and back long enough for the reconnect and the resolve.
    """
    await asyncio.sleep(duration * 0.1)
    await sim.down()
    log.info("kaspa sim: node down")
    await asyncio.sleep(duration * 0.6)
    await sim.up()
    log.info("kaspa sim: node back on %s", sim.url)
    await asyncio.sleep(duration * 0.3)


async def start() -> KaspaSim:
    """The SIMULATORS entry: a started simulator on 127.0.0.1, any free port."""
    sim = KaspaSim()
    await sim.start()
    return sim


async def demo(duration: float = 60.0, port: int = 0) -> None:
    """Run a simulated node that goes down for a while and comes back, standalone."""
    sim = KaspaSim()
    await sim.start(port=port)
    try:
        log.info("kaspa sim listening on %s", sim.url)
        await node_down_and_back(sim, duration)
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m alertbot.sources.sim.kaspa [--port N] [--duration S]`: the demo script."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(demo(args.duration, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
