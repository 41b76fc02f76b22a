"""The Kakitu watcher against the simulator, through the runner and the Engine.

Durations are scaled down (pings every 0.1 s, backoff ≤ 0.2 s). Waits are on events
(a later "marker" payment proves earlier frames were processed), never on sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.model import Alert
from alertbot.sources.kakitu import KakituSettings, KakituSource
from alertbot.sources.runner import SourceRunner
from alertbot.sources.sim.kakitu import KakituSimulator, account_for
from alertbot.store import SQLiteStore
from tests.sources.conformance import RecordingContext

ALICE, BOB, CAROL = account_for("alice"), account_for("bob"), account_for("carol")
KSHS = 10**30


@pytest.fixture
async def sim() -> AsyncIterator[KakituSimulator]:
    node = KakituSimulator()
    await node.start()
    node.ledger.fund(ALICE, 1000 * KSHS)
    yield node
    await node.stop()


def settings(sim: KakituSimulator, **extra: Any) -> KakituSettings:
    base: dict[str, Any] = {
        "kind": "kakitu", "url": sim.ws_url, "rpc_url": sim.rpc_url, "accounts": [BOB],
        "topics": ["confirmation", "stopped_election"], "ping_interval": 0.1,
        "pong_timeout": 0.3, "heartbeat_timeout": 2, "healthy_after": 0.05,
        "open_timeout": 1, "reconnect": {"initial": 0.05, "max": 0.2},
        "catchup_interval": 3600, "ack_timeout": 0.3, "rpc_timeout": 0.3,
        "rpc_attempts": 3, "rpc_backoff": 0.05, "history_page": 2}
    return KakituSettings.model_validate(base | extra)


class Watch:
    """A running source + engine with the payment rule of DESIGN.md §2.3."""

    def __init__(self, sim: KakituSimulator, store: Any = None, **extra: Any) -> None:
        self.ctx = RecordingContext("kakitu", store=store)
        self.source = KakituSource("kakitu", settings(sim, **extra), self.ctx)
        rule = Rule.model_validate({
            "id": "incoming-kshs", "source": "kakitu", "event": "confirmation",
            "mode": "event", "where": {"to_account": BOB}, "when": "amount >= 1",
            "dedup_key": "{{ send_hash }}"})
        self.engine = Engine([rule], clock=self.ctx.clock)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self.task = asyncio.create_task(
            SourceRunner(self.source, rng=random.Random(0)).run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def confirmations(self) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.ctx.of_type("confirmation")]

    def alerts(self) -> list[Alert]:
        return [a for e in self.ctx.events for a in self.engine.process(e)]

    async def until(self, predicate: Callable[[], bool]) -> None:
        await self.ctx.wait_for(predicate, timeout=5.0)

    async def seen(self, block_hash: str) -> None:
        await self.until(lambda: any(c["hash"] == block_hash for c in self.confirmations()))

    async def connected(self, times: int = 1) -> None:
        await self.until(lambda: self.ctx.states().count("connected") >= times)


async def test_duplicate_frame_alerts_once(sim: KakituSimulator) -> None:
    """Every frame sent twice: one confirmation event and one alert per payment."""
    sim.duplicates = 2
    async with Watch(sim) as w:
        await w.connected()
        first = await sim.pay(ALICE, BOB, 5 * KSHS)
        marker = await sim.pay(ALICE, BOB, 2 * KSHS)
        await w.seen(marker.hash)
    assert [c["hash"] for c in w.confirmations()] == [first.hash, marker.hash]
    assert [a.event.data["send_hash"] for a in w.alerts()  # type: ignore[union-attr]
            ] == [first.hash, marker.hash]
    assert w.confirmations()[0]["amount_raw"] == str(5 * KSHS)


async def test_pocketing_an_alerted_payment_alerts_nothing(sim: KakituSimulator) -> None:
    """The receive that pockets an emitted send is not emitted, live or by catch-up."""
    async with Watch(sim) as w:
        await w.connected()
        send = await sim.pay(ALICE, BOB, 5 * KSHS)
        await w.seen(send.hash)
        await sim.pocket(BOB, send.hash)
        marker = await sim.pay(ALICE, BOB, 3 * KSHS)
        await w.seen(marker.hash)
        assert await w.source.catch_up([BOB]) == 0
    assert [c["subtype"] for c in w.confirmations()] == ["send", "send"]
    assert len(w.alerts()) == 2


async def test_payment_during_outage_alerts_once_after_reconnect(
        sim: KakituSimulator) -> None:
    """WebSocket and RPC down while a payment confirms: one alert after they return."""
    async with Watch(sim) as w:
        await w.connected()
        await sim.stop()
        await w.until(lambda: "disconnected" in w.ctx.states())
        missed = await sim.pay(ALICE, BOB, 7 * KSHS)
        sim.rpc_failures += ["500", "timeout"]      # the RPC is slow to come back too
        await sim.start()
        await w.seen(missed.hash)
        await w.connected(2)
        marker = await sim.pay(ALICE, BOB, 1 * KSHS)
        await w.seen(marker.hash)
    missed_events = [c for c in w.confirmations() if c["send_hash"] == missed.hash]
    assert len(missed_events) == 1 and missed_events[0]["catchup"] is True
    assert missed_events[0]["from_account"] == ALICE
    assert len([a for a in w.alerts()]) == 2


async def test_restart_catches_up_once_and_never_again(
        sim: KakituSimulator, tmp_path: Path) -> None:
    """Sent and pocketed while stopped: one alert after restart, none after the next."""
    store = SQLiteStore(tmp_path / "state.db")
    try:
        async with Watch(sim, store) as w:
            await w.connected()
            assert await w.source.catch_up([BOB]) == 0   # waits for the first catch-up
            assert store.kv_get("kakitu:kakitu", f"frontier:{BOB}") is not None
        sends = [await sim.pay(ALICE, BOB, (i + 1) * KSHS) for i in range(5)]
        for s in sends:
            await sim.pocket(BOB, s.hash)
        async with Watch(sim, store) as w2:
            await w2.until(lambda: len(w2.confirmations()) == 5)
            await w2.connected()
        got = w2.confirmations()
        # history of 5 receives at 2 per page: more than one page was followed
        assert [c["send_hash"] for c in got] == [s.hash for s in sends]
        assert {c["subtype"] for c in got} == {"receive"} and got[0]["from_account"] == ALICE
        assert len(w2.alerts()) == 5
        pages = [c for c in sim.rpc_calls if c["action"] == "account_history"]
        assert len(pages) >= 3
        async with Watch(sim, store) as w3:
            await w3.connected()
            marker = await sim.pay(ALICE, BOB, KSHS)
            await w3.seen(marker.hash)
        assert [c["hash"] for c in w3.confirmations()] == [marker.hash]
    finally:
        store.close()


async def test_missing_ack_resubscribes(sim: KakituSimulator) -> None:
    """A subscribe without ack is sent again (reported), and the watcher gets going."""
    sim.ignore_acks = {"subscribe"}
    async with Watch(sim) as w:
        await w.until(lambda: any(e.data.get("kind") == "ack"
                                  for e in w.ctx.of_type("source_error")))
        sim.ignore_acks = set()
        await w.connected()
    subs = [m for m in sim.received if m.get("action") == "subscribe"
            and m.get("topic") == "confirmation"]
    assert len(subs) >= 2 and all(m["ack"] is True for m in subs)


async def test_silent_node_is_dead_and_reconnected(sim: KakituSimulator) -> None:
    """A node that stops answering pings is dropped and reconnected."""
    async with Watch(sim) as w:
        await w.connected()
        sim.silent = True
        await w.until(lambda: "disconnected" in w.ctx.states())
        sim.silent = False
        await w.connected(2)
        marker = await sim.pay(ALICE, BOB, KSHS)
        await w.seen(marker.hash)
    assert w.ctx.states() == ["connected", "disconnected", "connected"]


async def test_update_accounts_live(sim: KakituSimulator) -> None:
    """update_accounts adds a watched account on the live subscription (acked update)."""
    async with Watch(sim) as w:
        await w.connected()
        await w.source.update_accounts([CAROL], [BOB])
        send = await sim.pay(ALICE, CAROL, KSHS)
        await w.seen(send.hash)
        ignored = await sim.pay(ALICE, BOB, KSHS)
        marker = await sim.pay(ALICE, CAROL, 2 * KSHS)
        await w.seen(marker.hash)
    assert ignored.hash not in [c["hash"] for c in w.confirmations()]
    assert any(m.get("action") == "update" for m in sim.received)
    assert w.source.watched == {CAROL}


async def test_rule_accounts_are_watched(sim: KakituSimulator) -> None:
    """Accounts passed by the rules are subscribed besides the configured ones."""
    ctx = RecordingContext("kakitu")
    source = KakituSource("kakitu", settings(sim), ctx, accounts=[CAROL])
    frame = source.subscribe()[0]
    assert BOB in frame and CAROL in frame


async def test_stopped_election_duplicates_dropped(sim: KakituSimulator) -> None:
    """stopped_election frames are typed events; a duplicate frame is dropped."""
    sim.duplicates = 2
    async with Watch(sim) as w:
        await w.connected()
        await sim.publish("stopped_election", {"hash": "AA" * 32})
        marker = await sim.pay(ALICE, BOB, KSHS)
        await w.seen(marker.hash)
    stopped = w.ctx.of_type("stopped_election")
    assert len(stopped) == 1 and stopped[0].data["hash"] == "AA" * 32
    assert isinstance(stopped[0].data["node_time"], int)


async def test_demo_script_alerts_each_payment_once() -> None:
    """The demo scenario (scaled to 2 s): each payment alerts once, the node goes down."""
    from alertbot.sources.sim import Simulator
    from alertbot.sources.sim.kakitu import DEMO_ACCOUNTS, start
    node = await start()
    assert isinstance(node, Simulator)
    treasury = DEMO_ACCOUNTS["treasury"]
    try:
        w = Watch(node, accounts=[treasury])
        w.engine = Engine([Rule.model_validate({
            "id": "treasury-paid", "source": "kakitu", "event": "confirmation",
            "mode": "event", "where": {"to_account": treasury},
            "dedup_key": "{{ send_hash }}"})], clock=w.ctx.clock)
        async with w:
            await w.connected()
            await node.script(2.0)
            await w.connected(3)
            await w.until(lambda: len(w.confirmations()) == 3)
    finally:
        await node.close()
    assert len(w.ctx.of_type("stopped_election")) == 25
    assert [str(a.event.data["amount"]) for a in w.alerts()  # type: ignore[union-attr]
            ] == ["250", "120"]
    assert [c["subtype"] for c in w.confirmations()] == ["send", "send", "send"]
    assert w.ctx.states().count("disconnected") == 2


async def test_periodic_catchup_finds_a_frame_the_node_never_sent(
        sim: KakituSimulator) -> None:
    """A confirmation the WebSocket never delivered is found by the next interval poll."""
    async with Watch(sim, catchup_interval=0.3) as w:
        await w.connected()
        silent = sim.ledger.send(ALICE, BOB, 4 * KSHS)   # confirmed, never pushed
        await w.seen(silent.hash)
        assert w.ctx.states() == ["connected"]           # no reconnect was involved
    (event,) = w.confirmations()
    assert event["catchup"] is True and event["amount_raw"] == str(4 * KSHS)


async def test_payment_between_two_watched_accounts_is_one_event(
        sim: KakituSimulator, tmp_path: Path) -> None:
    """Send and receive both in catch-up (both accounts watched): one event per payment."""
    store = SQLiteStore(tmp_path / "state.db")
    try:
        async with Watch(sim, store, accounts=[ALICE, BOB]) as w:
            await w.connected()
            assert await w.source.catch_up([ALICE, BOB]) == 0
        send = sim.ledger.send(ALICE, BOB, 9 * KSHS)
        sim.ledger.receive(BOB, send.hash)
        async with Watch(sim, store, accounts=[ALICE, BOB]) as w2:
            await w2.until(lambda: len(w2.confirmations()) == 1)
            assert await w2.source.catch_up([ALICE, BOB]) == 0
    finally:
        store.close()
    (event,) = w2.confirmations()
    assert event["send_hash"] == send.hash and len(w2.alerts()) == 1
