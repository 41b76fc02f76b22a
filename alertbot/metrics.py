"""The metrics seam: counters, gauges and histograms by name, no-op by default.

Sources, engine, pipeline and notifiers call `metrics.inc(...)`/`observe(...)`/`set(...)`
with a metric name and labels; `app.py` plugs in the prometheus-client implementation
(`/metrics`), tests plug in `RecordingMetrics`. Names are documented in the README.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

LabelItems = tuple[tuple[str, str], ...]


class Metrics(Protocol):
    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...
    def set(self, name: str, value: float, **labels: str) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...


class NullMetrics:
    """Discards everything; the default so hot paths never branch on 'metrics enabled'."""

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        return None

    def set(self, name: str, value: float, **labels: str) -> None:
        return None

    def observe(self, name: str, value: float, **labels: str) -> None:
        return None


class RecordingMetrics:
    """Keeps every value in memory; for tests and `alertbot demo` summaries."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, LabelItems], float] = defaultdict(float)
        self.gauges: dict[tuple[str, LabelItems], float] = {}
        self.samples: dict[tuple[str, LabelItems], list[float]] = defaultdict(list)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.samples[(name, tuple(sorted(labels.items())))].append(value)

    def count(self, name: str, **labels: str) -> float:
        """Sum of a counter over every label set that includes `labels`."""
        want = set(labels.items())
        return sum(v for (n, items), v in self.counters.items()
                   if n == name and want <= set(items))
