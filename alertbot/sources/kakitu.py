"""Kakitu node source (nano-node V25 fork, WebSocket + RPC catch-up): declaration.

Settings and event declarations (DESIGN.md §2.4). The watcher (topics, acks, catch-up)
is built on top of this declaration by the Kakitu watcher work.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..config_types import Duration
from .base import ConnectionSettings, EventSpec, SourceKind


class KakituSettings(ConnectionSettings):
    url: str = "ws://[::1]:44078"
    urls: list[str] = Field(default_factory=list)
    rpc_url: str = "http://[::1]:44076"
    accounts: list[str] = Field(default_factory=list)
    topics: list[str] | dict[str, dict[str, Any]] = Field(
        default_factory=lambda: ["confirmation"])
    catchup_interval: Duration = 300.0


def _subscribed(settings: Any) -> frozenset[str] | None:
    return frozenset(settings.accounts)


EVENTS = (
    EventSpec("confirmation", {
        "hash": "str", "account": "str", "to_account": "str", "from_account": "str",
        "send_hash": "str", "subtype": "str", "amount": "decimal", "amount_raw": "str",
        "balance": "decimal", "balance_raw": "str", "confirmation_type": "str",
        "representative": "str", "height": "int", "link": "str", "catchup": "bool"}),
    EventSpec("stopped_election", {"hash": "str"}),
    EventSpec("started_election", {"hash": "str"}),
    EventSpec("vote", {"account": "str", "signature": "str", "sequence": "str",
                       "timestamp": "str", "duration": "str", "type": "str",
                       "blocks": "list"}),
    EventSpec("new_unconfirmed_block", {"type": "str", "account": "str", "previous": "str",
                                        "representative": "str", "balance": "str",
                                        "link": "str", "link_as_account": "str",
                                        "subtype": "str", "hash": "str"}),
    EventSpec("telemetry", {"block_count": "int", "cemented_count": "int",
                            "unchecked_count": "int", "account_count": "int",
                            "bandwidth_cap": "int", "peer_count": "int",
                            "protocol_version": "int", "uptime": "int",
                            "major_version": "int", "minor_version": "int",
                            "address": "str", "port": "int", "node_id": "str"}),
    EventSpec("work", {"success": "bool", "reason": "str", "duration": "int",
                       "difficulty": "str", "multiplier": "number"}),
    EventSpec("bootstrap", {"reason": "str", "id": "str", "mode": "str"}),
)

KIND = SourceKind("kakitu", KakituSettings, EVENTS, "Kakitu node WebSocket + RPC",
                  interest_fields=("account", "to_account", "from_account"),
                  subscribed=_subscribed)
