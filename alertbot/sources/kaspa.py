"""Kaspa node source (JSON wRPC over WebSocket, optional resolver): declaration.

Settings and event declarations (DESIGN.md §2.4). The watcher (requests, notifications,
resolver, polls) is built on top of this declaration by the Kaspa watcher work.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config_types import Duration
from .base import ConnectionSettings, EventSpec, SourceKind


class KaspaSettings(ConnectionSettings):
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    network: Literal["mainnet", "testnet-10", "testnet-11", "testnet", "simnet",
                     "devnet"] = "mainnet"
    resolver: bool = False
    resolvers: list[str] = Field(default_factory=list)
    poll_interval: Duration = 10.0
    request_timeout: Duration = 10.0
    notifications: list[str] = Field(
        default_factory=lambda: ["VirtualDaaScoreChanged", "SinkBlueScoreChanged"])


EVENTS = (
    EventSpec("dag_info", {"network": "str", "block_count": "int", "header_count": "int",
                           "difficulty": "number", "virtual_daa_score": "int",
                           "tip_count": "int", "past_median_time": "int",
                           "pruning_point_hash": "str", "sink": "str"}),
    EventSpec("server_info", {"is_synced": "bool", "server_version": "str",
                              "network_id": "str", "has_utxo_index": "bool",
                              "virtual_daa_score": "int", "rpc_api_version": "int"}),
    EventSpec("daa_score", {"virtual_daa_score": "int"}),
    EventSpec("sink_blue_score", {"sink_blue_score": "int"}),
    EventSpec("sync_status", {"is_synced": "bool"}),
    EventSpec("peers", {"count": "int", "outbound": "int", "inbound": "int"}),
    EventSpec("block_added", {"hash": "str", "daa_score": "int", "blue_score": "int"}),
)

KIND = SourceKind("kaspa", KaspaSettings, EVENTS, "Kaspa node JSON wRPC")
