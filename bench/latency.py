"""Event → notifier-call latency through the real Service at a steady rate (DESIGN.md §4).

The Service of `alertbot run` is built from a config file (1,000 above/below price rules
on `last` over 10 Kraken symbols, one notifier) with a recording notifier that stamps
each `send()` call. A feeder task hands ticker events to `Service._emit` (exactly where
a source's events enter: self-watch, then the EventPump) at a steady `--rate` (default
10,000/s, paced against the loop clock in 1 ms steps); each event carries its own
`perf_counter()` send time in `data.sent`. Prices follow a slow triangle so that one
event in ~`--every` crosses a rule level and fires or resolves an alert; the latency
of those is notifier-call time − send time, so it covers the pump, engine, pipeline,
the SQLite outbox write and the delivery worker's read-back. The first second (every
`below` rule firing on the first sample) is warm-up and not counted.

Baseline, same run: the same events at the same rate through a bare asyncio.Queue
hop (producer put → consumer get), latency taken for the same event indices.

Usage: `python bench/latency.py [--rate 10000] [--seconds 10] [--json OUT]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _kit import SYMBOLS, Recorder, price_rules_yaml, summary, write_config

from alertbot.app import Options, Service
from alertbot.loader import load
from alertbot.model import Event
from alertbot.sources.sim.kraken import START_PRICES

WARMUP = 1.0
STEP = 0.001


def prices(n: int, period: int) -> list[tuple[str, float]]:
    """(symbol, last) for event i: each symbol walks a 0.4 % triangle of `period` steps,
    the symbols out of phase (in phase, all ten would cross their levels together)."""
    out = []
    for i in range(n):
        k = i % len(SYMBOLS)
        symbol = SYMBOLS[k]
        phase = (i // len(SYMBOLS) + k * period // len(SYMBOLS)) % period
        tri = phase if phase < period // 2 else period - phase
        out.append((symbol, START_PRICES[symbol] * (1 + 0.004 * tri / period)))
    return out


async def paced(n: int, rate: float, emit: Callable[[int, float], None]) -> None:
    """Call emit(i, sent) for i < n at `rate`/s, in 1 ms steps against perf_counter."""
    begin = time.perf_counter()
    i = 0
    while i < n:
        due = min(n, int((time.perf_counter() - begin) * rate) + 1)
        while i < due:
            emit(i, time.perf_counter())
            i += 1
        await asyncio.sleep(STEP)


async def through_service(feed: list[tuple[str, float]], rate: float,
                          rules: int) -> dict[int, float]:
    """Latency (s) per event index whose alert reached the notifier."""
    with tempfile.TemporaryDirectory() as tmp:
        # An endpoint nothing answers: the source retries rarely; events come from _emit.
        source = {"kind": "kraken", "url": "ws://127.0.0.1:9/none", "open_timeout": 0.5,
                  "reconnect": {"initial": 3600, "max": 3600}}
        path = write_config(Path(tmp), {"kraken": source},
                            {"prices": price_rules_yaml(rules, SYMBOLS)})
        recorder = Recorder()
        service = Service(load(path), Options(listen="", watch_files=False,
                                              notifiers={"rec": recorder}))
        await service.start()
        try:
            def emit(i: int, sent: float) -> None:
                symbol, last = feed[i]
                service._emit(Event("kraken", "ticker", time.time(), {
                    "symbol": symbol, "last": last, "bid": last, "ask": last,
                    "i": i, "sent": sent}))

            await paced(len(feed), rate, emit)
            await service.pump.idle()
            await service.worker.drain(30)
        finally:
            await service.stop()
    out: dict[int, float] = {}
    for called, n in recorder.calls:
        event = n.alert.event
        if event is not None and "sent" in event.data:
            out.setdefault(int(event.data["i"]), called - float(event.data["sent"]))
    return out


async def through_queue(n: int, rate: float) -> dict[int, float]:
    """The baseline: the same pacing through one asyncio.Queue hop."""
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    out: dict[int, float] = {}

    async def consume() -> None:
        while (item := await queue.get()) is not None:
            out[item[0]] = time.perf_counter() - item[1]

    consumer = asyncio.create_task(consume())
    await paced(n, rate, lambda i, sent: queue.put_nowait((i, sent)))
    queue.put_nowait(None)
    await consumer
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--period", type=int, default=400,
                        help="ticks per price triangle (fewer: more alerts)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    n = int(args.rate * args.seconds)
    feed = prices(n, args.period)
    service = asyncio.run(through_service(feed, args.rate, args.rules))
    base = asyncio.run(through_queue(n, args.rate))
    skip = int(WARMUP * args.rate)
    counted = sorted(i for i in service if i >= skip)
    if not counted:
        print("no alert reached the notifier after warm-up", file=sys.stderr)
        return 1
    svc = summary([service[i] for i in counted])
    queue = summary([base[i] for i in counted])
    print(f"{n} ticker events at {args.rate:,.0f}/s over {args.seconds:g}s, {args.rules} "
          f"rules; {len(counted)} alerting events timed after {WARMUP:g}s warm-up "
          f"({len(service) - len(counted)} in warm-up)")
    print(f"Service event → notifier.send(): p50 {svc['p50']:.2f} ms, p99 "
          f"{svc['p99']:.2f} ms, max {svc['max']:.2f} ms (target p99 ≤ 2 ms)")
    print(f"bare asyncio.Queue hop, same events: p50 {queue['p50']:.3f} ms, p99 "
          f"{queue['p99']:.3f} ms")
    print(f"ratio p99 service/queue: {svc['p99'] / queue['p99']:.1f}")
    if args.json:
        figures: dict[str, Any] = {"service": svc, "queue": queue, "rate": args.rate,
                                   "alerting_events": len(counted)}
        args.json.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
