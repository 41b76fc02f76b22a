"""Kaspa wRPC client, pure half: settings, URLs, request frames, and the recorded frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alertbot.sources.kaspa import (
    KIND,
    KaspaSettings,
    KaspaSource,
    complete_url,
    parse_notification,
    request_frame,
    response_event,
)
from tests.sources.conformance import RecordingContext


def _source(**settings: Any) -> KaspaSource:
    settings.setdefault("url", "127.0.0.1")
    return KaspaSource("kaspa", KaspaSettings.model_validate({"kind": "kaspa", **settings}),
                       RecordingContext("kaspa"))


def _frames(shared: Path, name: str) -> list[dict[str, Any]]:
    path = shared / "fixtures" / "kaspa" / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("url", "network", "expected"), [
    ("127.0.0.1", "mainnet", "ws://127.0.0.1:18110"),
    ("node.lan", "testnet-10", "ws://node.lan:18210"),
    ("node.lan", "testnet-11", "ws://node.lan:18210"),
    ("node.lan", "simnet", "ws://node.lan:18510"),
    ("node.lan", "devnet", "ws://node.lan:18610"),
    ("127.0.0.1:18970", "mainnet", "ws://127.0.0.1:18970"),
    ("[::1]", "mainnet", "ws://[::1]:18110"),
    ("wss://node.example/kaspa", "mainnet", "wss://node.example/kaspa"),
])
def test_complete_url(url: str, network: str, expected: str) -> None:
    """A bare host or host:port gets ws:// and the network's JSON port, like the SDK."""
    assert complete_url(url, network) == expected


def test_complete_url_rejects_http() -> None:
    """Only ws:// and wss:// node URLs are accepted."""
    with pytest.raises(ValueError, match="ws:// or wss://"):
        complete_url("http://node:18110")


@pytest.mark.parametrize("settings", [
    {}, {"url": "a", "resolver": True}, {"url": "a", "urls": ["b"]},
    {"url": "a", "notifications": ["Nope"]}, {"url": "ftp://a"},
])
def test_settings_need_exactly_one_way_to_connect(settings: dict[str, Any]) -> None:
    """`url`, `urls` and `resolver` are exclusive; notification names and schemes are checked."""
    with pytest.raises(ValidationError):
        KaspaSettings.model_validate({"kind": "kaspa", **settings})


async def test_urls_failover_order_completed() -> None:
    """`urls` are tried in the configured order, each completed with the network's port."""
    source = _source(url=None, urls=["a", "b:1"], network="simnet")
    assert await source.endpoints() == ["ws://a:18510", "ws://b:1"]


def test_request_frame_refuses_unknown_methods() -> None:
    """kaspad drops the socket on an unknown method, so we never build such a frame."""
    with pytest.raises(ValueError, match="not a kaspad wRPC method"):
        request_frame(1, "getBlockDagInfoRequest")


def test_request_frames_match_the_sdk_byte_for_byte(shared_dir: Path) -> None:
    """Our request frames equal what the official SDK sent for the same id/method/params."""
    sent = [f for f in _frames(shared_dir, "sdk_frames.jsonl") if f["kind"] == "text"]
    assert len(sent) > 10
    for frame in sent:
        msg = json.loads(frame["raw"])
        assert request_frame(msg["id"], msg["method"], msg["params"]) == frame["raw"]


def test_subscribe_frames_use_scope_objects() -> None:
    """After connect we subscribe to the configured notifications with fixed small ids."""
    frames = [json.loads(f) for f in _source().subscribe()]
    assert frames == [
        {"id": 1, "method": "subscribe", "params": {"VirtualDaaScoreChanged": {}}},
        {"id": 2, "method": "subscribe", "params": {"SinkBlueScoreChanged": {}}}]
    block = _source(notifications=["BlockAdded"]).subscribe()
    assert [json.loads(f)["params"] for f in block] == [{"BlockAdded": {}}]


def test_replay_recorded_node_frames(shared_dir: Path) -> None:
    """Every recorded node frame parses to the reply, failure or event the SDK saw."""
    source = _source()
    replies: dict[int, dict[str, Any]] = {}
    failures: dict[int, str] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    garbage = 0
    for frame in _frames(shared_dir, "node_frames.jsonl"):
        if frame["kind"] != "text":
            continue
        try:
            out = source.parse(frame["raw"])
        except ValueError:
            garbage += 1
            continue
        replies.update(out.replies)  # type: ignore[arg-type]
        failures.update(out.failures)  # type: ignore[arg-type]
        events.extend(out.events)
    assert garbage == 1
    assert failures[16631666279698166223] == \
        "getBlockCount: fake node: getBlockCount not supported"
    assert failures[1388424576065380192] == "request: custom failure (code 7)"
    assert ("daa_score", {"virtual_daa_score": 150000001}) in events
    assert ("sink_blue_score", {"sink_blue_score": 110000002}) in events
    # the flat (unwrapped) notification is dropped, the wrapped one after it is kept
    assert ("sink_blue_score", {"sink_blue_score": 1}) not in events
    assert ("sink_blue_score", {"sink_blue_score": 2}) in events
    assert any(e[0] == "block_added" and e[1]["daa_score"] for e in events)
    etype, data = response_event("getBlockDagInfo", replies[7494974219938981681])
    assert etype == "dag_info"
    assert data["block_count"] == 1234567 and data["network"] == "mainnet"
    assert data["tip_count"] == 2
    etype, data = response_event("getServerInfo", replies[12575982321781756683])
    assert data == {"is_synced": True, "server_version": "1.0.1", "network_id": "mainnet",
                    "has_utxo_index": True, "virtual_daa_score": 150000000,
                    "rpc_api_version": 1}
    etype, data = response_event("getConnectedPeerInfo", replies[1552047478090360754])
    assert etype == "peers" and data["count"] >= 1
    assert data["count"] == data["inbound"] + data["outbound"]


def test_subscribe_error_reply_is_a_source_error() -> None:
    """An error reply to our subscribe becomes a clear source error, not a silent success."""
    out = _source().parse('{"id":1,"method":"subscribe","error":{"code":0,'
                          '"message":"nope","data":null}}')
    assert out.errors == [("rpc", "subscribe VirtualDaaScoreChanged: nope")]
    assert not out.failures and not out.replies


def test_events_use_declared_fields() -> None:
    """Every field the mapping emits is declared in KIND with a matching type."""
    note = parse_notification({"method": "virtualDaaScoreChangedNotification",
                               "params": {"VirtualDaaScoreChanged": {"virtualDaaScore": "7"}}})
    assert note is not None and note.data == {"virtual_daa_score": 7}
    cases: list[tuple[str, dict[str, Any]]] = [("getSyncStatus", {"isSynced": False}),
                                               ("getConnectedPeerInfo", {"peerInfo": []})]
    for method, params in cases:
        etype, data = response_event(method, params)
        spec = KIND.event(etype)
        assert spec is not None and set(data) <= set(spec.fields)


def test_wrong_typed_reply_is_rejected() -> None:
    """A reply field of the wrong type raises ValueError instead of emitting junk."""
    with pytest.raises(ValueError):
        response_event("getSyncStatus", {"isSynced": "maybe"})
