"""The source conformance kit over the Chia watcher and the recorded real frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alertbot.sources.chia import ChiaSettings, ChiaSource
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import (
    RecordingContext,
    check_fields,
    check_garbage,
    check_resubscribe,
    check_subscribe_pure,
)

FAST: dict[str, Any] = {"healthy_after": 0.02, "request_timeout": 0.2,
                        "reconnect": {"initial": 0.01, "max": 0.05, "jitter": 0}}
FILES = ("daemon_pushes_farmer_harvester.jsonl", "daemon_pushes_full_node_sim.jsonl")


def make(url: str = "wss://127.0.0.1:1", ctx: RecordingContext | None = None) -> ChiaSource:
    cfg = ChiaSettings.model_validate({"kind": "chia", "daemon_url": url, **FAST})
    return ChiaSource("chia", cfg, ctx or RecordingContext("chia"))


def all_frames(shared: Path) -> list[str]:
    out = []
    for name in FILES:
        for line in (shared / "fixtures" / "chia" / name).read_text().splitlines():
            if line.strip():
                out.append(json.dumps({k: v for k, v in json.loads(line).items() if k != "t"}))
    return out


def test_chia_fields_match_declaration(shared_dir: Path) -> None:
    """Every event from the recorded pushes has a declared type, names and value types."""
    events = check_fields(make(), all_frames(shared_dir), min_events=20)
    assert {t for t, _ in events} == {"signage_point", "farming_info", "harvester",
                                      "blockchain_state", "block", "connections"}


def test_chia_survives_garbage(shared_dir: Path) -> None:
    """Hostile variants of the recorded frames raise nothing but ValueError."""
    assert check_garbage(make(), all_frames(shared_dir)) > 50


def test_chia_subscribe_is_pure() -> None:
    """subscribe() is deterministic and offline: one register_service per name."""
    assert len(check_subscribe_pure(make)) == 3


async def test_chia_registers_again_after_reconnect() -> None:
    """After the link drops (or acks never come), every register frame is sent again."""
    async with WsServer() as server:
        await check_resubscribe(lambda ctx: make(server.url, ctx), server)
