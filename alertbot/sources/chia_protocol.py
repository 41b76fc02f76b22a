"""Chia daemon WebSocket protocol, pure: envelopes, push → event mapping, channel dedup.

The daemon speaks one JSON envelope (`command, ack, data, request_id, destination,
origin`; protocols/chia.md §2). This module builds our frames (register_service, ping,
`get_blockchain_state` routed to `chia_full_node` under our private origin name),
splits incoming frames into replies (`ack: true`, matched by request id, `success:
false` → failure) and pushes, and maps the pushes a watcher cares about to raw event
fields (`PUSHES`); every other push (`get_plots`, wallet chatter, add/close_connection,
keyring status) is ignored on purpose. Services push most events to both subscriber
channels, `wallet_ui` and `metrics`, with identical data: `ChannelDedup` collapses
those copies into one. Values are not coerced here; `chia.py` types them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

SUBSCRIBER_CHANNELS = frozenset({"wallet_ui", "metrics"})


def envelope(command: str, data: Mapping[str, Any], *, request_id: str, destination: str,
             origin: str) -> str:
    """One request frame (text, `ack: false`) in the daemon's envelope."""
    return orjson.dumps({"command": command, "ack": False, "data": dict(data),
                         "request_id": request_id, "destination": destination,
                         "origin": origin}).decode()


def register_id(service: str) -> str:
    """The fixed request id of our `register_service` for `service` (same every connect)."""
    return f"alertbot-register-{service}"


def register_frame(service: str, origin: str) -> str:
    return envelope("register_service", {"service": service}, request_id=register_id(service),
                    destination="daemon", origin=origin)


PING_ID = "alertbot-ping"


def ping_frame(origin: str) -> str:
    return envelope("ping", {}, request_id=PING_ID, destination="daemon", origin=origin)


def state_request(request_id: str, origin: str) -> str:
    """`get_blockchain_state` for the full node, relayed by the daemon back to `origin`."""
    return envelope("get_blockchain_state", {}, request_id=request_id,
                    destination="chia_full_node", origin=origin)


def decode(frame: str | bytes) -> dict[str, Any]:
    """One frame as an envelope dict; ValueError if it is not a JSON object with a command."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise ValueError("frame is not JSON") from None
    if not isinstance(msg, dict):
        raise ValueError("frame is not a JSON object")
    if not isinstance(msg.get("command"), str):
        raise ValueError("frame has no command")
    if not isinstance(msg.get("data", {}), dict):
        raise ValueError("frame data is not an object")
    return msg


def failure_text(command: str, data: Mapping[str, Any]) -> str:
    """The message of a `success: false` reply, with the structured error code if any."""
    text = str(data.get("error") or "success: false")
    structured = data.get("structuredError")
    code = structured.get("code") if isinstance(structured, dict) else None
    return f"{command}: {text}" + (f" ({code})" if isinstance(code, str) else "")


@dataclass(slots=True)
class ChannelDedup:
    """Drops the second copy of a push that arrives once per subscriber channel.

    A service sends each state change to `wallet_ui` and then to `metrics` with the same
    data (only the request id differs). Per (origin, command, data) we remember which
    channels delivered the latest occurrence: a copy on a channel not yet seen is the
    other half of that occurrence (dropped); a copy on a channel already seen is a new
    occurrence (kept). So a push sent to one channel only is never lost, however often
    it repeats, and no clock is involved. Bounded to `limit` remembered occurrences.
    """

    limit: int = 512
    _seen: OrderedDict[bytes, set[str]] = field(default_factory=OrderedDict)

    def duplicate(self, origin: Any, command: str, data: Mapping[str, Any],
                  channel: str) -> bool:
        try:
            key = orjson.dumps([origin, command, data], option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:   # e.g. an integer beyond 64 bits
            key = repr((origin, command, sorted(data.items(), key=repr))).encode()
        channels = self._seen.get(key)
        if channels is not None and channel not in channels:
            channels.add(channel)
            return True
        self._seen[key] = {channel}
        self._seen.move_to_end(key)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return False

    def clear(self) -> None:
        self._seen.clear()


# -- push payloads → (event type, raw fields) ---------------------------------------------

Mapped = list[tuple[str, dict[str, Any]]]


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _hex(value: Any) -> Any:
    """Hashes as `0x…` everywhere (the harvester's own events omit the prefix)."""
    if isinstance(value, str) and value and not value.startswith("0x"):
        return "0x" + value
    return value


def _sp_fields(sp: Mapping[str, Any]) -> dict[str, Any]:
    return {"challenge_hash": sp.get("challenge_hash"),
            "signage_point_index": sp.get("signage_point_index"),
            "difficulty": sp.get("difficulty"), "sub_slot_iters": sp.get("sub_slot_iters"),
            "challenge_chain_sp": sp.get("challenge_chain_sp"),
            "reward_chain_sp": sp.get("reward_chain_sp")}


def new_signage_point(data: Mapping[str, Any]) -> Mapped:
    """Farmer `new_signage_point`; `missing_signage_points` [ts, n] | null → n | 0."""
    sp = _obj(data.get("signage_point"), "signage_point")
    missing = data.get("missing_signage_points")
    count = missing[1] if isinstance(missing, list) and len(missing) == 2 else 0
    proofs = data.get("proofs")
    return [("signage_point", {**_sp_fields(sp), "missing_signage_points": count,
                               "proofs": len(proofs) if isinstance(proofs, list) else 0,
                               "origin": "chia_farmer"})]


def node_signage_point(data: Mapping[str, Any]) -> Mapped:
    """Full node `signage_point` (metrics only, indexes 1..63; no skip count)."""
    sp = _obj(data.get("broadcast_farmer"), "broadcast_farmer")
    return [("signage_point", {**_sp_fields(sp), "peak_height": sp.get("peak_height"),
                               "origin": "chia_full_node"})]


def new_farming_info(data: Mapping[str, Any]) -> Mapped:
    """Farmer `new_farming_info`, one per harvester per SP; lookup_time µs → seconds."""
    info = _obj(data.get("farming_info"), "farming_info")
    lookup = info.get("lookup_time")
    seconds = lookup / 1e6 if isinstance(lookup, (int, float)) and not isinstance(
        lookup, bool) else lookup
    return [("farming_info", {
        "passed_filter": info.get("passed_filter"), "proofs": info.get("proofs"),
        "total_plots": info.get("total_plots"), "timestamp": info.get("timestamp"),
        "lookup_time": seconds, "node_id": info.get("node_id"),
        "challenge_hash": info.get("challenge_hash"),
        "signage_point": info.get("signage_point"), "origin": "chia_farmer"})]


def harvester_farming_info(data: Mapping[str, Any]) -> Mapped:
    """The harvester's own `farming_info` (seen on a harvester-only machine too)."""
    return [("farming_info", {
        "passed_filter": data.get("eligible_plots"), "proofs": data.get("found_proofs"),
        "total_plots": data.get("total_plots"), "lookup_time": data.get("time"),
        "challenge_hash": _hex(data.get("challenge_hash")), "origin": "chia_harvester"})]


def harvester_update(data: Mapping[str, Any]) -> Mapped:
    """Farmer `harvester_update` (counts form): one harvester's plot sync state."""
    conn = data.get("connection")
    conn = conn if isinstance(conn, dict) else {}
    syncing = data.get("syncing")
    return [("harvester", {
        "node_id": conn.get("node_id"), "host": conn.get("host"), "connected": True,
        "plots": data.get("plots"), "failed_to_open": data.get("failed_to_open_filenames"),
        "no_key": data.get("no_key_filenames"), "duplicates": data.get("duplicates"),
        "syncing": syncing is not None,
        "plot_files_processed": syncing.get("plot_files_processed")
        if isinstance(syncing, dict) else None,
        "plot_files_total": syncing.get("plot_files_total")
        if isinstance(syncing, dict) else None,
        "total_plot_size": data.get("total_plot_size"),
        "total_effective_plot_size": data.get("total_effective_plot_size"),
        "last_sync_time": data.get("last_sync_time")})]


def harvester_removed(data: Mapping[str, Any]) -> Mapped:
    return [("harvester", {"node_id": _hex(data.get("node_id")), "connected": False})]


def block(data: Mapping[str, Any]) -> Mapped:
    """Full node `block` (metrics only): a block was added to the chain."""
    return [("block", {
        "height": data.get("height"), "header_hash": data.get("header_hash"),
        "transaction_block": data.get("transaction_block"), "k_size": data.get("k_size"),
        "timestamp": data.get("timestamp"), "block_time": data.get("validation_time"),
        "pre_validation_time": data.get("pre_validation_time"),
        "fork_height": data.get("fork_height"), "block_cost": data.get("block_cost"),
        "block_fees": data.get("block_fees")})]


def blockchain_state(data: Mapping[str, Any]) -> Mapped:
    """`get_blockchain_state` (push, daemon reply or HTTPS RPC answer) → one event."""
    state = _obj(data.get("blockchain_state"), "blockchain_state")
    peak = state.get("peak")
    peak = peak if isinstance(peak, dict) else {}
    sync = state.get("sync")
    sync = sync if isinstance(sync, dict) else {}
    return [("blockchain_state", {
        "synced": sync.get("synced"), "sync_mode": sync.get("sync_mode"),
        "sync_tip_height": sync.get("sync_tip_height"),
        "sync_progress_height": sync.get("sync_progress_height"),
        "peak_height": peak.get("height"), "peak_hash": peak.get("header_hash"),
        "weight": peak.get("weight"), "difficulty": state.get("difficulty"),
        "space": state.get("space"), "sub_slot_iters": state.get("sub_slot_iters"),
        "mempool_size": state.get("mempool_size"),
        "average_block_time": state.get("average_block_time"),
        "node_id": state.get("node_id")})]


def proof(data: Mapping[str, Any]) -> Mapped:
    """Farmer `proof` (metrics only): a harvester found a proof of space for an SP."""
    declared = _obj(data.get("proof"), "proof")
    pos = declared.get("proof_of_space")
    return [("proof", {"challenge_hash": declared.get("challenge_hash"),
                       "signage_point_index": declared.get("signage_point_index"),
                       "challenge_chain_sp": declared.get("challenge_chain_sp"),
                       "proof_of_space": pos if isinstance(pos, dict) else None,
                       "passed_filter": data.get("passed_filter")})]


def submitted_partial(data: Mapping[str, Any]) -> Mapped:
    return [("partial", {"status": "submitted", "launcher_id": _hex(data.get("launcher_id")),
                         "pool_url": data.get("pool_url"),
                         "difficulty": data.get("current_difficulty"),
                         "points": data.get("points_acknowledged_since_start")})]


def failed_partial(data: Mapping[str, Any]) -> Mapped:
    return [("partial", {"status": "failed", "p2_singleton_puzzle_hash":
                         _hex(data.get("p2_singleton_puzzle_hash"))})]


_NODE_TYPES = {1: "full_nodes", 2: "harvesters", 3: "farmers", 4: "timelords", 6: "wallets"}


def connections(origin: str) -> Callable[[Mapping[str, Any]], Mapped]:
    """`get_connections` push: how many peers of each type one service has."""
    def mapped(data: Mapping[str, Any]) -> Mapped:
        conns = data.get("connections")
        if not isinstance(conns, list):
            raise ValueError("connections is not a list")
        counts = dict.fromkeys(_NODE_TYPES.values(), 0)
        for conn in conns:
            ntype = conn.get("type") if isinstance(conn, dict) else None
            kind = _NODE_TYPES.get(ntype) if isinstance(ntype, int) else None
            if kind is not None:
                counts[kind] += 1
        return [("connections", {"service": origin, "count": len(conns), **counts})]
    return mapped


PushFn = Callable[[Mapping[str, Any]], Mapped]

# (origin, command) → mapping; any other push is ignored on purpose (see module doc).
PUSHES: dict[tuple[str, str], PushFn] = {
    ("chia_farmer", "new_signage_point"): new_signage_point,
    ("chia_farmer", "new_farming_info"): new_farming_info,
    ("chia_farmer", "harvester_update"): harvester_update,
    ("chia_farmer", "harvester_removed"): harvester_removed,
    ("chia_farmer", "proof"): proof,
    ("chia_farmer", "submitted_partial"): submitted_partial,
    ("chia_farmer", "failed_partial"): failed_partial,
    ("chia_farmer", "get_connections"): connections("chia_farmer"),
    ("chia_harvester", "farming_info"): harvester_farming_info,
    ("chia_full_node", "get_blockchain_state"): blockchain_state,
    ("chia_full_node", "block"): block,
    ("chia_full_node", "signage_point"): node_signage_point,
    ("chia_full_node", "get_connections"): connections("chia_full_node"),
}


def map_push(origin: Any, command: str, data: Mapping[str, Any]) -> Mapped:
    """Raw events for one push; [] for pushes ignored on purpose."""
    fn = PUSHES.get((origin, command)) if isinstance(origin, str) else None
    return fn(data) if fn is not None else []
