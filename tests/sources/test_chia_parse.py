"""Chia watcher parsing over the recorded real frames: events, channel dedup, replies."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from alertbot.sources.chia import ChiaSettings, ChiaSource, typed
from alertbot.sources.chia_protocol import blockchain_state, register_frame
from tests.sources.conformance import RecordingContext


def make(**extra: Any) -> ChiaSource:
    cfg = ChiaSettings.model_validate({"kind": "chia", **extra})
    return ChiaSource("chia", cfg, RecordingContext("chia"))


def frames(shared: Path, name: str) -> list[dict[str, Any]]:
    path = shared / "fixtures" / "chia" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wire(frame: dict[str, Any]) -> str:
    """The frame as the daemon sent it (the recorder added a `t` field)."""
    return json.dumps({k: v for k, v in frame.items() if k != "t"})


def parse_all(source: ChiaSource, raw: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in raw:
        events.extend(source.parse(wire(frame)).events)
    return events


def test_farmer_fixture_collapses_both_channels(shared_dir: Path) -> None:
    """Each farmer push, delivered to wallet_ui and metrics, becomes exactly one event."""
    raw = frames(shared_dir, "daemon_pushes_farmer_harvester.jsonl")
    events = parse_all(make(), raw)
    counts = Counter(t for t, _ in events)
    assert counts["signage_point"] == 6          # 12 frames, indexes 1,2,3,6,7,8
    assert counts["farming_info"] == 12          # farmer relay + harvester's own, per SP
    assert counts["blockchain_state"] == 1
    assert counts["harvester"] == 6
    sps = [d for t, d in events if t == "signage_point"]
    assert [d["signage_point_index"] for d in sps] == [1, 2, 3, 6, 7, 8]
    assert [d["missing_signage_points"] for d in sps] == [0, 0, 0, 2, 0, 0]


def test_one_channel_keeps_every_occurrence(shared_dir: Path) -> None:
    """Registered on metrics only, wallet_ui copies are ignored, none lost."""
    raw = frames(shared_dir, "daemon_pushes_farmer_harvester.jsonl")
    events = parse_all(make(services=["metrics"]), raw)
    assert Counter(t for t, _ in events)["signage_point"] == 6


def test_repeated_identical_push_on_one_channel_is_kept() -> None:
    """Two identical harvester_update occurrences on one channel are two events."""
    frame = {"command": "harvester_update", "ack": False, "destination": "metrics",
             "origin": "chia_farmer", "request_id": "a",
             "data": {"connection": {"node_id": "0x01", "host": "h", "port": 1}, "plots": 3}}
    source = make()
    assert len(source.parse(json.dumps(frame)).events) == 1
    assert len(source.parse(json.dumps({**frame, "destination": "wallet_ui"})).events) == 0
    assert len(source.parse(json.dumps({**frame, "request_id": "b"})).events) == 1


def test_farming_info_fields(shared_dir: Path) -> None:
    """new_farming_info: lookup_time µs → seconds; the harvester's own hash gains 0x."""
    raw = frames(shared_dir, "daemon_pushes_farmer_harvester.jsonl")
    infos = [d for t, d in parse_all(make(), raw) if t == "farming_info"]
    farmer = next(d for d in infos if d["origin"] == "chia_farmer")
    assert farmer["lookup_time"] == pytest.approx(300e-6)
    assert farmer["total_plots"] == 6 and farmer["node_id"].startswith("0xed51")
    own = next(d for d in infos if d["origin"] == "chia_harvester")
    assert own["challenge_hash"].startswith("0x") and own["lookup_time"] < 0.01


def test_harvester_sync_then_counts(shared_dir: Path) -> None:
    """harvester_update progresses from syncing to final plot counts."""
    raw = frames(shared_dir, "daemon_pushes_farmer_harvester.jsonl")
    hs = [d for t, d in parse_all(make(), raw) if t == "harvester"]
    assert hs[0]["syncing"] is True and hs[0]["plot_files_total"] == 12
    assert hs[-1]["syncing"] is False and hs[-1]["plots"] == 6
    assert all(d["connected"] is True for d in hs)


def test_full_node_fixture(shared_dir: Path) -> None:
    """Simulator node pushes: blocks, and one blockchain_state per change (two runs)."""
    raw = frames(shared_dir, "daemon_pushes_full_node_sim.jsonl")
    events = parse_all(make(), raw)
    blocks = [d for t, d in events if t == "block"]
    assert [b["height"] for b in blocks] == [2, 3, 4]
    assert blocks[0]["transaction_block"] is True and blocks[0]["k_size"] == 19
    states = [d for t, d in events if t == "blockchain_state"]
    # first run: both channels (pairs collapsed); second run: wallet_ui only
    assert [s["peak_height"] for s in states] == [2, 3, 4, 4, 5, 6]
    assert all(s["synced"] is True for s in states)


def test_ignored_on_purpose() -> None:
    """Pushes the watcher does not use produce nothing and raise nothing."""
    source = make()
    for command, origin in (("get_plots", "chia_harvester"), ("state_changed", "chia_wallet"),
                            ("add_connection", "chia_farmer"),
                            ("keyring_status_changed", "daemon")):
        frame = {"command": command, "ack": False, "data": {"success": True},
                 "destination": "wallet_ui", "origin": origin, "request_id": "x"}
        assert source.parse(json.dumps(frame)).events == []


def test_other_pushes_map() -> None:
    """harvester_removed, partials, proof and get_connections have their events."""
    source = make()

    def one(command: str, data: dict[str, Any], dest: str = "metrics") -> dict[str, Any]:
        frame = {"command": command, "ack": False, "data": data, "destination": dest,
                 "origin": "chia_farmer", "request_id": command}
        (_t, fields), = source.parse(json.dumps(frame)).events
        return fields

    assert one("harvester_removed", {"node_id": "0xab"}) == {"node_id": "0xab",
                                                             "connected": False}
    assert one("failed_partial", {"p2_singleton_puzzle_hash": "cd"}, "wallet_ui") == {
        "status": "failed", "p2_singleton_puzzle_hash": "0xcd"}
    sub = one("submitted_partial", {"launcher_id": "ab", "pool_url": "https://pool",
                                    "current_difficulty": 7,
                                    "points_acknowledged_since_start": 21,
                                    "points_acknowledged_24h": []})
    assert sub["status"] == "submitted" and sub["points"] == 21
    pf = one("proof", {"proof": {"challenge_hash": "0x1", "signage_point_index": 5,
                                 "proof_of_space": {"size": 32}}, "passed_filter": True})
    assert pf["signage_point_index"] == 5 and pf["proof_of_space"] == {"size": 32}
    conns = one("get_connections", {"connections": [{"type": 1}, {"type": 2}, {"type": 2}]})
    assert conns == {"service": "chia_farmer", "count": 3, "full_nodes": 1, "harvesters": 2,
                     "farmers": 0, "timelords": 0, "wallets": 0}


def test_replies_and_failures(shared_dir: Path) -> None:
    """ack frames resolve requests by id; success:false fails them; ping is a pong."""
    source = make()
    replies = frames(shared_dir, "daemon_replies.jsonl")
    ping = next(r["messages"] for r in replies if r["step"] == "ping")
    parsed = source.parse(json.dumps(ping))
    assert parsed.pong and parsed.replies[ping["request_id"]]["value"] == "pong"
    bad = next(r["messages"] for r in replies if r["step"] == "bogus_command")
    parsed = source.parse(json.dumps(bad))
    assert "unknown_command bogus_command" in parsed.failures[bad["request_id"]]
    relayed = next(r["messages"][0] for r in replies if r["step"] == "3) alertbot got reply")
    parsed = source.parse(json.dumps(relayed))
    assert parsed.replies[relayed["request_id"]]["blockchain_state"]["peak"]["height"] == 123
    assert parsed.events == []


def test_daemon_error_frames_do_not_raise(shared_dir: Path) -> None:
    """The daemon's answers to malformed input (missing destination, non-JSON) are replies."""
    replies = frames(shared_dir, "daemon_replies.jsonl")
    for step in ("4) missing destination", "5) non-JSON"):
        msg = next(r["messages"][0] for r in replies if r["step"] == step)
        parsed = make().parse(json.dumps(msg))
        assert parsed.events == []


def test_rpc_fixture_states(shared_dir: Path) -> None:
    """RPC answers: synced simulator and the offline node with no peak."""
    rpc = [r for r in frames(shared_dir, "rpc_responses.jsonl")
           if r["path"] == "/get_blockchain_state" and r["http_status"] == 200]
    states = [typed(t, d) for r in rpc for t, d in blockchain_state(r["body"])]
    synced = next(s for s in states if s["synced"])
    assert synced["peak_height"] > 0 and synced["difficulty"] == 1024
    offline = next(s for s in states if not s["synced"])
    assert offline["peak_height"] is None and offline["space"] == 0


def test_register_frames_are_the_daemon_envelope() -> None:
    """register_service goes to the daemon with the service in data and a fixed id."""
    frame = json.loads(register_frame("metrics", "alertbot"))
    assert frame == {"command": "register_service", "ack": False,
                     "data": {"service": "metrics"}, "request_id": "alertbot-register-metrics",
                     "destination": "daemon", "origin": "alertbot"}
    names = [json.loads(f)["data"]["service"] for f in make().subscribe()]
    assert names == ["metrics", "wallet_ui", "alertbot"]


def test_settings_defaults_and_validation() -> None:
    """Defaults follow the issue; a plain-HTTP daemon URL or no channels are errors."""
    cfg = ChiaSettings.model_validate({"kind": "chia"})
    assert cfg.daemon_url == "wss://localhost:55400" and cfg.max_size == 50_000_000
    assert cfg.services == ["metrics", "wallet_ui"]
    with pytest.raises(ValueError, match="wss://"):
        ChiaSettings.model_validate({"kind": "chia", "daemon_url": "http://x"})
    with pytest.raises(ValueError, match="at least one"):
        ChiaSettings.model_validate({"kind": "chia", "services": []})
