"""Shared kit of the service benchmarks: config writing, a recording notifier, RSS, tables.

The end-to-end benchmarks (kraken_feed, latency, memory, soak) all drive the real
`Service` of `alertbot run` from a config written to a temporary folder, with price
rules spread over ≤ 10 Kraken symbols (DESIGN.md §4 rule composition) and a notifier
that only records when `send()` was called, so what is measured is alertbot's own path
(source → pump → engine → pipeline → SQLite outbox → delivery worker → notifier call).
Not a test helper: imported by the scripts in this folder only.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from alertbot.model import Notification
from alertbot.sources.sim.kraken import START_PRICES

SYMBOLS = list(START_PRICES)


def price_rules_yaml(count: int, symbols: list[str], *, notify: str = "rec",
                     spread: float = 0.10) -> str:
    """`count` above/below rules on `last`, levels spread over ±spread/2 of each symbol's
    start price, round-robin over `symbols` (so no per-symbol loop can hide)."""
    per_symbol = max(1, count // len(symbols))
    lines = ["rules:"]
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        level = START_PRICES[symbol] * (1 - spread / 2 + spread * (i // len(symbols))
                                        / per_symbol)
        op = "above" if i % 2 else "below"
        lines.append(f"  - {{id: price-{i}, source: kraken, event: ticker, "
                     f"where: {{symbol: {json.dumps(symbol)}}}, "
                     f"when: {{field: last, {op}: {level!r}}}, notify: [{notify}], "
                     f"message: '{{{{ symbol }}}} at {{{{ last }}}}'}}")
    return "\n".join(lines) + "\n"


def split_rules(text: str, files: int) -> dict[str, str]:
    """The rules of one `price_rules_yaml` text spread over `files` rule files."""
    lines = text.splitlines()[1:]
    size = -(-len(lines) // files)
    return {f"part{k:03d}": "rules:\n" + "\n".join(lines[k * size:(k + 1) * size]) + "\n"
            for k in range(files) if lines[k * size:(k + 1) * size]}


def write_config(root: Path, sources: dict[str, Any], rules: dict[str, str], *,
                 notifiers: dict[str, Any] | None = None, **extra: Any) -> Path:
    """alertbot.yaml (JSON is YAML) + one rule file per `rules` entry; returns its path."""
    (root / "rules").mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        (root / "rules" / f"{name}.yaml").write_text(text)
    config = {"state_dir": "state", "rules": ["rules/"], "sources": sources,
              "notifiers": notifiers or {"rec": {"kind": "console"}},
              "defaults": {"repeat": 0}, **extra}
    path = root / "alertbot.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


class Recorder:
    """A notifier that records `(perf_counter at send(), notification)`; never fails."""

    def __init__(self, name: str = "rec") -> None:
        self.name = name
        self.calls: list[tuple[float, Notification]] = []

    async def send(self, notification: Notification) -> None:
        self.calls.append((time.perf_counter(), notification))

    async def aclose(self) -> None:
        return None


def rss_mb(pid: int | None = None) -> float:
    """Current resident set size in MB (Linux /proc), of this process by default."""
    with open(f"/proc/{pid or os.getpid()}/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max / mean of latencies given in seconds, returned in milliseconds."""
    ms = [v * 1000 for v in values]
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms),
            "mean": statistics.fmean(ms)}


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table (pastes into the README as it is)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *map(line, rows)])


class WebhookReceiver:
    """A minimal HTTP/1.1 keep-alive server on 127.0.0.1 answering 200 to every POST and
    counting deliveries by `webhook-id` (memory: one counter per id, no bodies kept)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self._server: asyncio.Server | None = None

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                headers = dict(line.split(": ", 1) for line in
                               head.decode("latin-1").split("\r\n")[1:] if ": " in line)
                lower = {k.lower(): v for k, v in headers.items()}
                body = await reader.readexactly(int(lower.get("content-length", "0")))
                msg_id = lower.get("webhook-id", "")
                self.counts[msg_id] = self.counts.get(msg_id, 0) + 1
                status = str(json.loads(body).get("status", "?")) if body else "?"
                self.statuses[status] = self.statuses.get(status, 0) + 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
