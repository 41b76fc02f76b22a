"""Kakitu RPC client retries and catch-up (history paging, receivable, emitted-set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alertbot.sources.kakitu_rpc import CatchupState, KakituRpc, RpcFailed, catch_up
from alertbot.sources.sim.kakitu import KakituSimulator, account_for

ALICE, BOB = account_for("alice"), account_for("bob")


@pytest.fixture
async def sim() -> AsyncIterator[KakituSimulator]:
    node = KakituSimulator()
    await node.start()
    node.ledger.fund(ALICE, 10**33)
    yield node
    await node.stop()


@pytest.fixture
async def rpc(sim: KakituSimulator) -> AsyncIterator[KakituRpc]:
    client = KakituRpc(sim.rpc_url, timeout=0.2, attempts=4, backoff=0.01)
    yield client
    await client.aclose()


async def test_retries_error_500_and_timeout(sim: KakituSimulator, rpc: KakituRpc) -> None:
    """An error reply, an HTTP 500 and a hang are retried until the call succeeds."""
    sim.rpc_failures += ["error", "500", "timeout"]
    reply = await rpc.call("account_info", account=ALICE)
    assert "frontier" in reply and sim.rpc_failures == []


async def test_gives_up_with_rpc_failed(sim: KakituSimulator, rpc: KakituRpc) -> None:
    """After every attempt fails the call raises RpcFailed naming the last problem."""
    sim.rpc_failures += ["500"] * 4
    with pytest.raises(RpcFailed, match="HTTP 500"):
        await rpc.call("account_info", account=ALICE)


async def test_refused_connection_is_rpc_failed() -> None:
    """A node that is down is a retried failure, not a crash."""
    client = KakituRpc("http://127.0.0.1:9", timeout=0.2, attempts=2, backoff=0.01)
    with pytest.raises(RpcFailed):
        await client.call("account_info", account=ALICE)
    await client.aclose()


async def test_not_found_is_an_answer(rpc: KakituRpc) -> None:
    """`Account not found` is returned at once, not retried."""
    reply = await rpc.call("account_info", account=account_for("nobody"))
    assert reply["error"] == "Account not found"


async def test_first_run_is_a_baseline(sim: KakituSimulator, rpc: KakituRpc) -> None:
    """Old history is not news: the first catch-up only records the frontier."""
    await sim.pay(ALICE, BOB, 10**30)
    state = CatchupState(None, "kakitu:test")
    events, frontier = await catch_up(rpc, state, ALICE, page=2)
    assert events == []
    assert frontier == sim.ledger.frontier(ALICE).hash  # type: ignore[union-attr]


async def _run(rpc: KakituRpc, state: CatchupState, account: str,
               page: int) -> list[dict[str, Any]]:
    """catch_up, then store the frontier as the source does after emitting."""
    events, frontier = await catch_up(rpc, state, account, page)
    if frontier:
        state.set_frontier(account, frontier)
    return events


async def test_history_longer_than_a_page_oldest_first(
        sim: KakituSimulator, rpc: KakituRpc) -> None:
    """Seven missed sends are found across four pages and returned oldest first."""
    state = CatchupState(None, "kakitu:test")
    await _run(rpc, state, ALICE, page=2)
    sends = [await sim.pay(ALICE, BOB, (i + 1) * 10**30) for i in range(7)]
    events = await _run(rpc, state, ALICE, page=2)
    assert [e["hash"] for e in events] == [b.hash for b in sends]
    assert all(e["catchup"] and e["to_account"] == BOB for e in events)
    pages = [c for c in sim.rpc_calls if c["action"] == "account_history"]
    assert len(pages) == 4


async def test_unconfirmed_blocks_wait(sim: KakituSimulator, rpc: KakituRpc) -> None:
    """An unconfirmed block is not reported until it is confirmed."""
    state = CatchupState(None, "kakitu:test")
    await _run(rpc, state, ALICE, page=5)
    block = sim.ledger.send(ALICE, BOB, 10**30, confirmed=False)
    assert await _run(rpc, state, ALICE, page=5) == []
    await sim.confirm(block)
    assert [e["hash"] for e in await _run(rpc, state, ALICE, page=5)] == [block.hash]


async def test_receivable_then_receive_is_one_payment(
        sim: KakituSimulator, rpc: KakituRpc) -> None:
    """A receivable send is reported; once marked, pocketing it reports nothing."""
    state = CatchupState(None, "kakitu:test")
    send = await sim.pay(ALICE, BOB, 3 * 10**30)
    events = await _run(rpc, state, BOB, page=5)
    assert [(e["send_hash"], e["from_account"], str(e["amount"])) for e in events] == [
        (send.hash, ALICE, "3")]
    state.mark(send.hash, [BOB])
    await sim.pocket(BOB, send.hash)
    assert await _run(rpc, state, BOB, page=5) == []


async def test_state_persists_through_the_store() -> None:
    """Frontier and emitted-set are written to the store and read back by a new state."""
    class Store:
        def __init__(self) -> None:
            self.kv: dict[tuple[str, str], object] = {}

        def kv_get(self, ns: str, key: str) -> object:
            return self.kv.get((ns, key))

        def kv_put(self, ns: str, key: str, value: object) -> None:
            self.kv[(ns, key)] = value

    store = Store()
    first = CatchupState(store, "kakitu:k", limit=600)
    first.set_frontier(BOB, "AB")
    for i in range(1000):
        first.mark(f"H{i}", [BOB])
    second = CatchupState(store, "kakitu:k", limit=600)
    assert second.frontier(BOB) == "AB"
    assert second.seen("H999", [BOB]) and second.seen("H500", [BOB])
    assert not second.seen("H0", [BOB])      # the oldest chunk was dropped
    assert all(len(v) <= 256 for v in store.kv.values() if isinstance(v, list))


def test_mock_transport_is_accepted() -> None:
    """The client takes an injected httpx transport (fakes need no socket)."""
    client = KakituRpc("http://node", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={})))
    assert client.url == "http://node"
