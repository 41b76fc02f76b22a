"""The ops endpoint: /healthz, /readyz and /metrics over real HTTP on 127.0.0.1:0."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from alertbot.httpserver import OpsServer, Probe, parse_listen
from alertbot.prommetrics import PrometheusMetrics


async def test_endpoints_report_liveness_readiness_and_metrics() -> None:
    """/healthz 200 while /readyz 503 (a source down); /metrics parses with prometheus'."""
    metrics = PrometheusMetrics()
    metrics.inc("events_total", source="kraken", type="ticker")
    metrics.set("source_connected", 0, source="kraken")
    metrics.observe("engine_evaluation_seconds", 0.0002)
    server = OpsServer(Probe(alive=lambda: (True, "alive"),
                             ready=lambda: (False, "source kraken disconnected"),
                             metrics=metrics.exposition), "127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
            scraped = await client.get("/metrics")
            missing = await client.get("/nope")
    finally:
        await server.close()
    assert health.status_code == 200
    assert ready.status_code == 503 and "kraken" in ready.text
    assert missing.status_code == 404
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    events = families["alertbot_events"]
    assert events.samples[0].labels == {"source": "kraken", "type": "ticker"}
    assert events.samples[0].value == 1.0
    assert "alertbot_engine_evaluation_seconds" in families


def test_parse_listen_forms() -> None:
    """HOST:PORT, [v6]:PORT and :PORT are accepted; a missing port is an error."""
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9") == ("::1", 9)
    assert parse_listen(":9464") == ("127.0.0.1", 9464)
    try:
        parse_listen("localhost")
    except ValueError as exc:
        assert "HOST:PORT" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_metric_with_other_labels_is_dropped_not_raised() -> None:
    """A later call with different label names never crashes a hot path."""
    metrics = PrometheusMetrics()
    metrics.inc("x_total", a="1")
    metrics.inc("x_total", b="2")
    assert b'alertbot_x_total{a="1"} 1.0' in metrics.exposition()
