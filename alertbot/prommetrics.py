"""The prometheus-client implementation of the Metrics seam (`/metrics`).

The only prometheus_client user. Metric objects are created on first use from the
name: `*_total` → Counter, names in HISTOGRAMS → Histogram, anything else set with
`set()` → Gauge. Label names are fixed by the first call (Prometheus requires one label
set per metric); a later call with other label names is counted as a mistake and
dropped rather than crashing a hot path. Every name is documented in the README.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

HISTOGRAMS: dict[str, tuple[float, ...]] = {
    "engine_evaluation_seconds": (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01,
                                  0.05, 0.1),
    "notification_delivery_seconds": (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
}

PREFIX = "alertbot_"


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._metrics: dict[str, tuple[Any, tuple[str, ...]]] = {}
        # (name, *label items) → labelled child: prometheus_client's labels() validates
        # and hashes on every call, which is most of the cost of counting an alert.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _get(self, name: str, kind: str, labels: dict[str, str]) -> Any | None:
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is not None:
            return child
        child = self._resolve(name, kind, labels)
        if child is not None and len(self._children) < 100_000:
            self._children[key] = child
        return child

    def _resolve(self, name: str, kind: str, labels: dict[str, str]) -> Any | None:
        entry = self._metrics.get(name)
        names = tuple(sorted(labels))
        if entry is None:
            full = name if name.startswith(PREFIX) else PREFIX + name
            doc = name.replace("_", " ")
            metric: Any
            if kind == "counter":
                metric = Counter(full.removesuffix("_total"), doc, names,
                                 registry=self.registry)
            elif kind == "histogram":
                metric = Histogram(full, doc, names, registry=self.registry,
                                   buckets=HISTOGRAMS.get(name, Histogram.DEFAULT_BUCKETS))
            else:
                metric = Gauge(full, doc, names, registry=self.registry)
            entry = self._metrics[name] = (metric, names)
        metric, expected = entry
        if expected != names:
            log.debug("metric %s called with labels %s, expected %s", name, names, expected)
            return None
        return metric.labels(**labels) if names else metric

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        m = self._get(name, "counter" if name.endswith("_total") else "gauge", labels)
        if m is not None:
            m.inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        m = self._get(name, "gauge", labels)
        if m is not None:
            m.set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        m = self._get(name, "histogram", labels)
        if m is not None:
            m.observe(value)

    def exposition(self) -> bytes:
        """The text exposition format served at /metrics."""
        data: bytes = generate_latest(self.registry)
        return data
