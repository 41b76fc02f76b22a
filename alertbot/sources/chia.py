"""Chia daemon source (WSS with the private CA, optional full-node RPC): declaration and watcher.

Settings and event declarations (DESIGN.md §2.4, extended by the Chia watcher issue),
and `ChiaSource`, the watcher on the shared reconnect runner. On every connection it
registers, with the daemon, the subscriber channels (`metrics`, `wallet_ui` by
default) plus a private origin name for its own requests, and waits for the acks;
pushes then flow in and `chia_protocol` maps them to typed events, collapsing the copy
each channel delivers. The daemon's `ping` keeps the link honest on a quiet farm, and a
poll asks the full node for its blockchain state every `poll_interval` — over HTTPS
when `full_node_url` is set, else relayed by the daemon — because pushes alone never
report a node that falls out of sync while no peak arrives. TLS lives in `chia_tls`,
the HTTPS RPC in `chia_rpc` (imported only when polled that way).
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from ..config_types import Duration
from ..errors import SourceError
from .base import (
    ConnectionSettings,
    EventSpec,
    Parsed,
    Poll,
    Session,
    SourceContext,
    SourceKind,
    WebSocketSource,
    coerce,
)
from .chia_protocol import (
    PUSHES,
    ChannelDedup,
    blockchain_state,
    decode,
    failure_text,
    map_push,
    ping_frame,
    register_frame,
    register_id,
    state_request,
)
from .chia_tls import client_context


class ChiaSettings(ConnectionSettings):
    daemon_url: str = "wss://localhost:55400"
    ssl_dir: str = "~/.chia/mainnet/config/ssl"
    full_node_url: str | None = None
    poll_interval: Duration = 30.0
    services: list[str] = Field(default_factory=lambda: ["metrics", "wallet_ui"])
    request_timeout: Duration = 10.0
    origin_name: str = Field("alertbot", description="private name registered with the "
                             "daemon so replies to our requests come back to us")
    poll_full_node: bool = Field(True, description="poll get_blockchain_state every "
                                 "poll_interval (off on a harvester-only machine)")
    # the daemon allows 50 MB frames; harvester plot lists grow with the farm
    max_size: int = Field(50_000_000, ge=1024, description="largest frame, bytes")

    @field_validator("services")
    @classmethod
    def _some_service(cls, value: list[str]) -> list[str]:
        if not value or not all(isinstance(v, str) and v for v in value):
            raise ValueError("register at least one channel, e.g. [metrics, wallet_ui]")
        return value

    @field_validator("daemon_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("wss://", "ws://")):
            raise ValueError("daemon_url must start with wss:// (the daemon speaks TLS)")
        return value

    @field_validator("full_node_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("full_node_url must start with https://, e.g. https://localhost:8555")
        return value


EVENTS = (
    EventSpec("signage_point", {"challenge_hash": "str", "signage_point_index": "int",
                                "difficulty": "int", "sub_slot_iters": "int",
                                "missing_signage_points": "int",
                                "challenge_chain_sp": "str", "reward_chain_sp": "str",
                                "proofs": "int", "origin": "str", "peak_height": "int"},
              "farmer new_signage_point (origin chia_farmer; missing_signage_points = the "
              "farmer's count of skipped SPs, 0 if none) or full node signage_point "
              "(origin chia_full_node, metrics only, never index 0)"),
    EventSpec("farming_info", {"passed_filter": "int", "proofs": "int",
                               "total_plots": "int", "timestamp": "int",
                               "lookup_time": "number", "node_id": "str",
                               "challenge_hash": "str", "signage_point": "str",
                               "origin": "str"},
              "a harvester answered an SP: farmer new_farming_info per harvester "
              "(origin chia_farmer, node_id = harvester) or the harvester's own "
              "farming_info (origin chia_harvester); lookup_time in seconds"),
    EventSpec("harvester", {"node_id": "str", "plots": "int", "failed_to_open": "int",
                            "no_key": "int", "duplicates": "int", "syncing": "bool",
                            "connected": "bool", "host": "str",
                            "plot_files_processed": "int", "plot_files_total": "int",
                            "total_plot_size": "int", "total_effective_plot_size": "int",
                            "last_sync_time": "number"},
              "farmer harvester_update (connected true, plot counts) or harvester_removed "
              "(connected false, node_id only)"),
    EventSpec("block", {"height": "int", "header_hash": "str", "weight": "int",
                        "transaction_block": "bool", "k_size": "int",
                        "block_time": "number", "timestamp": "int",
                        "pre_validation_time": "number", "fork_height": "int",
                        "block_cost": "int", "block_fees": "int"},
              "full node block (metrics only); block_time = validation seconds, "
              "timestamp only on transaction blocks, weight not sent by 2.7.5"),
    EventSpec("blockchain_state", {"synced": "bool", "sync_mode": "bool",
                                   "peak_height": "int", "difficulty": "int",
                                   "space": "number", "sub_slot_iters": "int",
                                   "sync_tip_height": "int",
                                   "sync_progress_height": "int",
                                   "mempool_size": "int", "node_id": "str",
                                   "peak_hash": "str", "weight": "int",
                                   "average_block_time": "number"},
              "full node get_blockchain_state: pushed on peak/sync changes and polled "
              "every poll_interval; peak fields null before the first peak"),
    EventSpec("proof", {"challenge_hash": "str", "signage_point_index": "int",
                        "proof_of_space": "object", "challenge_chain_sp": "str",
                        "passed_filter": "bool"},
              "farmer proof (metrics only): a harvester found a proof for an SP"),
    EventSpec("partial", {"status": "str", "launcher_id": "str", "pool_url": "str",
                          "error": "str", "points": "int", "difficulty": "int",
                          "p2_singleton_puzzle_hash": "str"},
              "pool partial: status submitted (launcher_id, pool_url, difficulty, points "
              "acknowledged since start) or failed (p2_singleton_puzzle_hash; wallet_ui only)"),
    EventSpec("connections", {"service": "str", "count": "int", "full_nodes": "int",
                              "harvesters": "int", "farmers": "int", "timelords": "int",
                              "wallets": "int"},
              "a service's get_connections push (farmer, full node): peers by type"),
)

KIND = SourceKind("chia", ChiaSettings, EVENTS, "Chia daemon WebSocket + full node RPC")


def typed(etype: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce `data` to the declared field types of `etype`; ValueError if impossible."""
    spec = KIND.event(etype)
    assert spec is not None, etype
    out: dict[str, Any] = {}
    for name, value in data.items():
        ftype = spec.fields[name]
        try:
            out[name] = coerce(ftype, value)
        except (OverflowError, ArithmeticError):   # e.g. 10**400 as a float
            raise ValueError(f"{etype}.{name}: {value!r:.40} is out of range") from None
    return out


class ChiaSource(WebSocketSource):
    """The Chia watcher on the shared runner (see the module docstring)."""

    kind = KIND
    settings: ChiaSettings

    def __init__(self, name: str, settings: ConnectionSettings, ctx: SourceContext, *,
                 rpc_transport: Any = None) -> None:
        assert isinstance(settings, ChiaSettings)
        super().__init__(name, settings, ctx)
        self.settings = settings
        self._rpc_transport = rpc_transport   # httpx transport for tests
        self._channels = frozenset(settings.services)
        self._dedup = ChannelDedup()

    # -- connection ----------------------------------------------------------------------
    async def endpoints(self) -> list[str]:
        return [self.settings.daemon_url]

    def ssl_context(self, url: str) -> ssl.SSLContext | None:
        return client_context(self.settings.ssl_dir, "daemon")

    def _names(self) -> list[str]:
        names = list(dict.fromkeys(self.settings.services))
        if self.settings.origin_name not in names:
            names.append(self.settings.origin_name)
        return names

    def subscribe(self) -> list[str]:
        return [register_frame(n, self.settings.origin_name) for n in self._names()]

    async def on_connect(self, session: Session) -> None:
        """Register every name at once (a silent daemon still sees them all), await acks."""
        self._dedup.clear()
        names = self._names()
        results = await asyncio.gather(
            *(session.request(frame, register_id(n), self.settings.request_timeout)
              for n, frame in zip(names, self.subscribe(), strict=True)),
            return_exceptions=True)
        for name, result in zip(names, results, strict=True):
            if isinstance(result, SourceError):
                raise SourceError(f"register_service {name}: {result}", kind=result.kind)
            if isinstance(result, BaseException):
                raise result
        self.ctx.log.info("registered with the Chia daemon as %s", ", ".join(names))

    def app_ping(self) -> str | None:
        return ping_frame(self.settings.origin_name)

    # -- frames --------------------------------------------------------------------------
    def parse(self, frame: str | bytes) -> Parsed:
        msg = decode(frame)
        out = Parsed()
        command: str = msg["command"]
        data: dict[str, Any] = msg.get("data") or {}
        if msg.get("ack") is True:
            out.pong = command == "ping"
            rid = msg.get("request_id")
            if isinstance(rid, str) and rid:
                if data.get("success") is False:
                    out.failures[rid] = failure_text(command, data)
                else:
                    out.replies[rid] = data
            return out
        channel, origin = msg.get("destination"), msg.get("origin")
        if not isinstance(channel, str) or channel not in self._channels:
            return out          # e.g. a request addressed to our private name
        if not isinstance(origin, str) or (origin, command) not in PUSHES:
            return out          # ignored on purpose: get_plots, wallet events, ...
        if self._dedup.duplicate(origin, command, data, channel):
            return out
        out.events.extend((etype, typed(etype, raw))
                          for etype, raw in map_push(origin, command, data))
        return out

    # -- sync poll -----------------------------------------------------------------------
    def polls(self) -> list[Poll]:
        if not self.settings.poll_full_node:
            return []
        return [Poll("blockchain_state", self.settings.poll_interval, self._poll_state)]

    async def _poll_state(self, session: Session) -> None:
        data = await self.fetch_state(session)
        try:
            events = [(t, typed(t, raw)) for t, raw in blockchain_state(data)]
        except ValueError as exc:
            raise SourceError(f"get_blockchain_state answer: {exc}", kind="protocol") from None
        for etype, fields in events:
            self.ctx.emit(etype, fields)

    async def fetch_state(self, session: Session) -> dict[str, Any]:
        """The full node's `get_blockchain_state` answer (HTTPS RPC or via the daemon)."""
        s = self.settings
        if s.full_node_url is not None:
            from . import chia_rpc
            return await chia_rpc.call(s.full_node_url, "get_blockchain_state",
                                       ssl_dir=s.ssl_dir, timeout=s.request_timeout,
                                       transport=self._rpc_transport)
        rid = uuid.uuid4().hex
        try:
            reply = await session.request(state_request(rid, s.origin_name), rid,
                                          s.request_timeout)
        except SourceError as exc:
            if exc.kind != "timeout":
                raise
            raise SourceError(f"the full node did not answer get_blockchain_state through "
                              f"the daemon within {s.request_timeout:g}s (is chia_full_node "
                              "running?)", kind="timeout") from None
        return reply if isinstance(reply, dict) else {}
