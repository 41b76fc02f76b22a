"""The service end to end: a real Kraken simulator in, a real webhook receiver out."""

from __future__ import annotations

from pathlib import Path

import httpx

from alertbot.sources.sim.kraken import KrakenSim
from tests.app.service_kit import running, until, write_config
from tests.fakes.http_receiver import HttpReceiver

RULES = """\
rules:
  - id: btc-high
    source: kraken
    event: ticker
    where: {symbol: BTC/USD}
    when: {field: last, above: 100000}
    notify: [hook]
    message: "BTC at {{ last }}"
"""


def kraken_config(sim: KrakenSim, hook: HttpReceiver) -> dict[str, object]:
    return {"sources": {"kraken": {"kind": "kraken", "url": sim.url, "healthy_after": 0.05,
                                   "channels": {"ticker": {"symbols": ["ETH/USD"]}}}},
            "notifiers": {"hook": {"kind": "webhook", "url": hook.url + "/in"}}}


async def test_price_crossing_reaches_the_webhook_once(tmp_path: Path) -> None:
    """A rule's symbol is subscribed for it, fires once, resolves once, through run."""
    async with KrakenSim(walk=False) as sim, HttpReceiver() as hook:
        path = write_config(tmp_path, kraken_config(sim, hook), RULES)
        async with running(path) as service:
            await sim.wait_for(lambda: sim.subscribed("ticker", "BTC/USD"))
            await sim.set_price("BTC/USD", 101000)
            await sim.set_price("BTC/USD", 101500)
            await hook.wait_for(1)
            await sim.set_price("BTC/USD", 90000)
            await hook.wait_for(2)
            assert [r.json()["status"] for r in hook.requests] == ["firing",
                                                                            "resolved"]
            assert service.ready()[0]


async def test_ops_endpoints_while_a_source_is_down(tmp_path: Path) -> None:
    """/readyz is 503 while a source cannot connect; /healthz stays 200; /metrics parses."""
    from prometheus_client.parser import text_string_to_metric_families

    async with HttpReceiver() as hook, KrakenSim(walk=False) as sim:
        url = sim.url
        await sim.stop()                   # nothing listens there any more
        config = {"sources": {"kraken": {"kind": "kraken", "url": url, "open_timeout": 0.1,
                                         "healthy_after": 0.05,
                                         "reconnect": {"initial": 0.05, "max": 0.1}}},
                  "notifiers": {"hook": {"kind": "webhook", "url": hook.url}}}
        path = write_config(tmp_path, config, RULES)
        async with running(path) as service:
            assert service.ops is not None
            base = f"http://127.0.0.1:{service.ops.port}"
            service.watch.grace["kraken"] = 0.0
            await until(lambda: "kraken" in service.watch.states)
            async with httpx.AsyncClient() as client:
                ready = await client.get(base + "/readyz")
                alive = await client.get(base + "/healthz")
                metrics = await client.get(base + "/metrics")
    assert ready.status_code == 503 and "kraken" in ready.text
    assert alive.status_code == 200
    names = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert {"alertbot_source_connect_attempts", "alertbot_source_connected",
            "alertbot_alerts_firing", "alertbot_events"} <= names


async def test_the_state_database_is_checkpointed_off_the_event_loop(tmp_path: Path) -> None:
    """The service's own connection never checkpoints inside a commit; its checkpoint
    job copies the WAL into the database from a thread."""
    path = write_config(tmp_path, {"sources": {}, "notifiers": {}}, "rules: []\n")
    async with running(path, listen="") as service:
        db = service.store._db
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        for i in range(300):
            service.store.kv_put("ns", f"k{i}", {"i": i})
        state = tmp_path / "state" / "alertbot.db"
        before = state.stat().st_size
        await service.checkpoint()
        assert state.stat().st_size > before
