"""The Kakitu simulator behaves like the V25 node: wire style, acks, update, RPC shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from alertbot.sources.kakitu import PING, subscribe_message, update_message
from alertbot.sources.sim.kakitu import KakituSimulator, account_for

ALICE, BOB, CAROL = account_for("alice"), account_for("bob"), account_for("carol")


@pytest.fixture
async def sim() -> AsyncIterator[KakituSimulator]:
    node = KakituSimulator()
    await node.start()
    node.ledger.fund(ALICE, 10**33)
    yield node
    await node.stop()


async def _recv(ws: ClientConnection) -> tuple[str, Any]:
    raw = await ws.recv()
    assert isinstance(raw, str)
    return raw, json.loads(raw)


def _all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_strings(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return isinstance(value, str)


async def test_frames_are_pretty_printed_strings(sim: KakituSimulator) -> None:
    """Acks and topic frames are multi-line JSON with every scalar a string."""
    async with connect(sim.ws_url) as ws:
        await ws.send(json.dumps(subscribe_message("confirmation", {}, [BOB])))
        raw, ack = await _recv(ws)
        assert "\n" in raw and ack == {"ack": "subscribe", "time": ack["time"],
                                       "id": "confirmation"}
        await sim.pay(ALICE, BOB, 10**30)
        raw, frame = await _recv(ws)
        assert "\n" in raw and _all_strings(frame) and frame["topic"] == "confirmation"
        assert frame["message"]["block"]["link_as_account"] == BOB


async def test_empty_containers_are_empty_strings(sim: KakituSimulator) -> None:
    """Nothing receivable comes back as `"blocks": ""`, like the node."""
    async with httpx.AsyncClient() as client:
        reply = (await client.post(sim.rpc_url, json={
            "action": "receivable", "account": CAROL, "count": "5"})).json()
    assert reply["blocks"] == "" and reply["api_version"] == "1"


async def test_update_needs_options_and_malformed_json_stops_reading(
        sim: KakituSimulator) -> None:
    """update on a plain subscription gets no ack; after bad JSON pings go unanswered."""
    async with connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "topic": "confirmation"}))
        await ws.send(json.dumps(update_message([BOB], [])))
        await ws.send(json.dumps(PING))
        _, reply = await _recv(ws)
        assert reply["ack"] == "pong"   # the update produced nothing before the pong
        await ws.send("{not json")
        await ws.send(json.dumps(PING))
        await sim.publish("confirmation", {"hash": "X"})   # a marker frame still pushed
        _, frame = await _recv(ws)
        assert frame.get("topic") == "confirmation"


async def test_duplicates_and_update_filter(sim: KakituSimulator) -> None:
    """A filter updated to add an account delivers its blocks, duplicated on command."""
    sim.duplicates = 2
    async with connect(sim.ws_url) as ws:
        await ws.send(json.dumps(subscribe_message("confirmation", {}, [])))
        await _recv(ws)
        await ws.send(json.dumps(update_message([CAROL], [])))
        _, ack = await _recv(ws)
        assert ack["ack"] == "update"
        block = await sim.pay(ALICE, CAROL, 10**30)
        hashes = [(await _recv(ws))[1]["message"]["hash"] for _ in range(2)]
        assert hashes == [block.hash, block.hash]


async def test_history_pages_with_previous(sim: KakituSimulator) -> None:
    """account_history pages newest first; `previous` leads to the next page."""
    sends = [await sim.pay(ALICE, BOB, 10**30) for _ in range(3)]
    async with httpx.AsyncClient() as client:
        first = (await client.post(sim.rpc_url, json={
            "action": "account_history", "account": ALICE, "count": "2",
            "raw": True})).json()
        assert [e["hash"] for e in first["history"]] == [sends[2].hash, sends[1].hash]
        second = (await client.post(sim.rpc_url, json={
            "action": "account_history", "account": ALICE, "count": "2", "raw": True,
            "head": first["previous"]})).json()
    assert second["history"][0]["hash"] == sends[0].hash
    assert second["history"][0]["subtype"] == "send"
    assert second["history"][1]["subtype"] == "receive"   # the open block: no previous
    assert "previous" not in second


def _fixture_pairs(shared_dir: Path) -> dict[tuple[str, frozenset[str]], dict[str, Any]]:
    path = shared_dir / "fixtures" / "kakitu" / "nano_docs_rpc_pairs.jsonl"
    out = {}
    for line in path.read_text().splitlines():
        pair = json.loads(line)
        req = pair["request"]
        out[(req["action"], frozenset(req) - {"action", "account", "hash", "hashes"})] = \
            pair["response"]
    return out


def _shape(value: Any) -> Any:
    """Keys and nesting only; a map keyed by hashes compares by its first value."""
    if isinstance(value, dict):
        if value and all(len(k) == 64 for k in value):
            return {"<hash>": _shape(next(iter(value.values())))}
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "s"


async def test_rpc_replies_match_the_documented_shapes(
        sim: KakituSimulator, shared_dir: Path) -> None:
    """Each RPC the watcher uses replies with the keys and nesting of the docs sample."""
    send = await sim.pay(ALICE, BOB, 10**30)
    pairs = _fixture_pairs(shared_dir)
    extras: list[dict[str, Any]] = [{}, {"threshold": "1"}, {"source": "true"}]
    cases: list[tuple[dict[str, Any], tuple[str, frozenset[str]]]] = [
        ({"action": "account_info", "account": ALICE}, ("account_info", frozenset())),
        ({"action": "account_history", "account": ALICE, "count": "1"},
         ("account_history", frozenset({"count"}))),
        ({"action": "blocks_info", "json_block": "true", "hashes": [send.hash]},
         ("blocks_info", frozenset({"json_block"}))),
    ]
    cases += [({"action": "receivable", "account": BOB, "count": "1", **extra},
               ("receivable", frozenset({"count", *extra})))
              for extra in extras]
    async with httpx.AsyncClient() as client:
        for request, key in cases:
            reply = (await client.post(sim.rpc_url, json=request)).json()
            assert _all_strings(reply)
            reply.pop("api_version")
            doc = pairs[key]
            if key[0] == "blocks_info":   # keyed by hash: compare the inner shape
                reply, doc = [next(iter(r["blocks"].values())) for r in (reply, doc)]
            assert _shape(reply) == _shape(doc), key
