"""Chia daemon source (WSS with the private CA, optional full-node RPC): declaration.

Settings and event declarations (DESIGN.md §2.4, extended by the Chia watcher issue).
The watcher (register_service, polls, TLS) is built on top of this declaration.
"""

from __future__ import annotations

from pydantic import Field

from ..config_types import Duration
from .base import ConnectionSettings, EventSpec, SourceKind


class ChiaSettings(ConnectionSettings):
    daemon_url: str = "wss://localhost:55400"
    ssl_dir: str = "~/.chia/mainnet/config/ssl"
    full_node_url: str | None = None
    poll_interval: Duration = 30.0
    services: list[str] = Field(default_factory=lambda: ["metrics", "wallet_ui"])
    request_timeout: Duration = 10.0


EVENTS = (
    EventSpec("signage_point", {"challenge_hash": "str", "signage_point_index": "int",
                                "difficulty": "int", "sub_slot_iters": "int",
                                "missing_signage_points": "int",
                                "challenge_chain_sp": "str", "reward_chain_sp": "str"}),
    EventSpec("farming_info", {"passed_filter": "int", "proofs": "int",
                               "total_plots": "int", "timestamp": "int",
                               "lookup_time": "number", "node_id": "str",
                               "challenge_hash": "str", "signage_point": "str"}),
    EventSpec("harvester", {"node_id": "str", "plots": "int", "failed_to_open": "int",
                            "no_key": "int", "duplicates": "int", "syncing": "bool",
                            "connected": "bool", "host": "str"}),
    EventSpec("block", {"height": "int", "header_hash": "str", "weight": "int",
                        "transaction_block": "bool", "k_size": "int",
                        "block_time": "number", "timestamp": "int"}),
    EventSpec("blockchain_state", {"synced": "bool", "sync_mode": "bool",
                                   "peak_height": "int", "difficulty": "int",
                                   "space": "number", "sub_slot_iters": "int",
                                   "sync_tip_height": "int",
                                   "sync_progress_height": "int",
                                   "mempool_size": "int", "node_id": "str"}),
    EventSpec("proof", {"challenge_hash": "str", "signage_point_index": "int",
                        "proof_of_space": "object"}),
    EventSpec("partial", {"status": "str", "launcher_id": "str", "pool_url": "str",
                          "error": "str", "points": "int"}),
)

KIND = SourceKind("chia", ChiaSettings, EVENTS, "Chia daemon WebSocket + full node RPC")
