"""The Kakitu source passes the source conformance kit (fixtures, garbage, resubscribe)."""

from __future__ import annotations

import json
from pathlib import Path

from alertbot.sources.kakitu import KakituSettings, KakituSource
from alertbot.sources.sim.kakitu import account_for, dumps_node
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import (
    RecordingContext,
    check_fields,
    check_garbage,
    check_resubscribe,
    check_subscribe_pure,
)

TOPICS = ["confirmation", "vote", "stopped_election", "started_election",
          "new_unconfirmed_block", "telemetry", "work", "bootstrap"]


def _settings(url: str = "ws://127.0.0.1:9") -> KakituSettings:
    return KakituSettings.model_validate({
        "kind": "kakitu", "url": url, "rpc_url": "http://127.0.0.1:9",
        "accounts": [account_for("bob")], "topics": TOPICS, "healthy_after": 0.05,
        "reconnect": {"initial": 0.05, "max": 0.1}, "ack_timeout": 0.5,
        "rpc_attempts": 1, "rpc_timeout": 0.2})


def _frames(shared_dir: Path) -> list[str]:
    folder = shared_dir / "fixtures" / "kakitu"
    frames = [dumps_node(json.loads(x)) for x in
              (folder / "nano_docs_ws_server_frames.jsonl").read_text().splitlines() if x]
    frames += [dumps_node({"topic": "work", "time": "1", "message": json.loads(x)})
               for x in (folder / "nano_docs_ws_work_inner_messages.jsonl")
               .read_text().splitlines() if x]
    return frames


def test_fixture_frames_match_the_declaration(shared_dir: Path) -> None:
    """Every event parsed from the fixtures (node wire style) has declared fields/types."""
    source = KakituSource("kakitu", _settings(), RecordingContext("kakitu"))
    events = check_fields(source, _frames(shared_dir), min_events=10)
    assert {e for e, _ in events} == {"confirmation", "vote", "stopped_election",
                                      "started_election", "telemetry", "work",
                                      "new_unconfirmed_block", "bootstrap"}


def test_garbage_never_crashes_parse(shared_dir: Path) -> None:
    """Mutated fixtures and junk make parse() return or raise ValueError only."""
    source = KakituSource("kakitu", _settings(), RecordingContext("kakitu"))
    assert check_garbage(source, _frames(shared_dir)) > 0


def test_subscribe_is_pure() -> None:
    """subscribe() is deterministic, offline, and asks for an ack on every topic."""
    frames = check_subscribe_pure(
        lambda: KakituSource("kakitu", _settings(), RecordingContext("kakitu")))
    assert [json.loads(f)["topic"] for f in frames] == TOPICS
    assert all(json.loads(f)["ack"] is True for f in frames)


def _node_acks(frame: str | bytes) -> list[str]:
    msg = json.loads(frame)
    if msg.get("action") == "ping":
        return [dumps_node({"ack": "pong", "time": 1})]
    if msg.get("ack"):
        return [dumps_node({"ack": msg["action"], "time": 1, "id": msg["id"]})]
    return []


async def test_resubscribes_after_a_drop() -> None:
    """After the connection drops, every topic is subscribed again."""
    async with WsServer(reply=_node_acks) as server:
        await check_resubscribe(
            lambda ctx: KakituSource("kakitu", _settings(server.url), ctx), server)
