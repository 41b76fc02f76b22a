"""Soak: the real Service against every registered simulator, connections dropped at random.

Every simulator registered in `alertbot.sources.sim.SIMULATORS` (kraken, kakitu, kaspa,
chia when present) is started on 127.0.0.1 and the real `Service` of `alertbot run` is
pointed at them, with one webhook notifier posting to a local receiver that counts
deliveries by `webhook-id`. Rules that fire and resolve all the time: per source,
"connection is disconnected" (fires on every drop, resolves once the source is healthy
again), plus a price-level rule per Kraken ticker symbol at its start price (the
simulator's random walk crosses it every few seconds). A chaos task drops one random
simulator's connections every `--chaos` s on average (Kraken/Kakitu: abort the sockets;
Kaspa/Chia: the node goes down for 0.5–3 s and comes back).

Checks at the end (after the service drained and stopped):
* no lost or duplicated notification: every notification the pipeline wrote to the
  outbox (recorded from the runtime's batches) arrived exactly once by `webhook-id`, and
  nothing arrived that the pipeline did not produce;
* bounded memory: RSS sampled every 5 s; growth from the end of warm-up (25 % of the
  run, at least 20 s) to the maximum afterwards stays under `--max-growth` MB (20).
Exit 0 when both hold, 1 otherwise.

Usage: `python bench/soak.py [--minutes 10] [--chaos 5] [--json OUT]`
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _kit import WebhookReceiver, rss_mb, write_config

from alertbot.app import Options, Service
from alertbot.loader import load
from alertbot.model import Notification
from alertbot.sources.sim import SIMULATORS, Simulator, close_all, start_all
from alertbot.sources.sim.kraken import START_PRICES

SAMPLE = 5.0


def soak_rules(sims: dict[str, Simulator]) -> str:
    lines = ["rules:"]
    for kind in sims:
        lines.append(f"  - {{id: {kind}-down, source: {kind}, event: connection, "
                     f"when: {{field: state, equals: disconnected}}, notify: [hook], "
                     f"message: '{kind} {{{{ state }}}}: {{{{ reason }}}}'}}")
    if "kraken" in sims:
        symbols = sims["kraken"].source_config()["channels"]["ticker"]["symbols"]
        for symbol in symbols:
            slug = symbol.replace("/", "-").lower()
            lines.append(f"  - {{id: {slug}-above-start, source: kraken, event: ticker, "
                         f"where: {{symbol: {symbol}}}, when: {{field: last, above: "
                         f"{START_PRICES[symbol]!r}}}, notify: [hook], "
                         f"message: '{symbol} at {{{{ last }}}}'}}")
    return "\n".join(lines) + "\n"


async def drop(sim: Simulator, rng: random.Random) -> None:
    """One connection failure of `sim`, whatever kind of knob it has."""
    if hasattr(sim, "down") and hasattr(sim, "up"):
        await sim.down()
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        await sim.up()
        return
    result = sim.drop()  # type: ignore[attr-defined]
    if inspect.isawaitable(result):
        await result


async def chaos(sims: dict[str, Simulator], mean: float, rng: random.Random,
                drops: dict[str, int]) -> None:
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / mean))
        kind = rng.choice(sorted(sims))
        drops[kind] += 1
        try:
            await drop(sims[kind], rng)
        except Exception as exc:  # a simulator hiccup must not end the soak
            logging.getLogger("soak").warning("dropping %s failed: %r", kind, exc)


async def sample_rss(samples: list[tuple[float, float]], begin: float) -> None:
    while True:
        samples.append((time.monotonic() - begin, rss_mb()))
        await asyncio.sleep(SAMPLE)


async def soak(minutes: float, chaos_mean: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    sims = await start_all()
    hook = await WebhookReceiver().start()
    produced: dict[str, int] = {}
    drops = dict.fromkeys(sims, 0)
    samples: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sources = {kind: sim.source_config() for kind, sim in sims.items()}
            path = write_config(Path(tmp), sources, {"soak": soak_rules(sims)},
                                notifiers={"hook": {"kind": "webhook", "url": hook.url}})
            service = Service(load(path), Options(listen="", watch_files=False,
                                                  drain_timeout=30.0))
            record = service.runtime.on_notifications

            def on_notifications(batch: Sequence[Notification]) -> None:
                for n in batch:
                    produced[n.id] = produced.get(n.id, 0) + 1
                if record is not None:
                    record(batch)

            service.runtime.on_notifications = on_notifications
            begin = time.monotonic()
            await service.start()
            tasks = [asyncio.create_task(chaos(sims, chaos_mean, rng, drops)),
                     asyncio.create_task(sample_rss(samples, begin))]
            try:
                await asyncio.sleep(minutes * 60)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for sim in sims.values():   # every node back up before the final drain
                    if hasattr(sim, "up"):
                        await sim.up()
                await service.stop()
            samples.append((time.monotonic() - begin, rss_mb()))
    finally:
        await hook.close()
        await close_all(sims)
    return {"minutes": minutes, "sources": sorted(sims), "drops": drops,
            "produced": produced, "received": hook.counts, "statuses": hook.statuses,
            "samples": samples}


def verdict(result: dict[str, Any], max_growth: float) -> tuple[bool, list[str]]:
    produced, received = result["produced"], result["received"]
    lost = sorted(set(produced) - set(received))
    extra = sorted(set(received) - set(produced))
    twice = sorted(i for i, n in received.items() if n > 1)
    twice_made = sorted(i for i, n in produced.items() if n > 1)
    samples = result["samples"]
    duration = samples[-1][0]
    warm = max(20.0, 0.25 * duration)
    at_warm = next((rss for t, rss in samples if t >= warm), samples[-1][1])
    peak_after = max(rss for t, rss in samples if t >= warm) if any(
        t >= warm for t, _ in samples) else at_warm
    growth = peak_after - at_warm
    lines = [
        f"soak {result['minutes']:g} min, sources {', '.join(result['sources'])}; "
        f"drops {result['drops']}",
        f"notifications produced {len(produced)}, received {sum(received.values())} "
        f"({result['statuses']}); lost {len(lost)}, duplicated {len(twice)}, "
        f"unexpected {len(extra)}, produced twice {len(twice_made)}",
        f"RSS {samples[0][1]:.1f} MB at start, {at_warm:.1f} MB after {warm:.0f}s warm-up, "
        f"max {peak_after:.1f} MB afterwards, {samples[-1][1]:.1f} MB at the end: growth "
        f"{growth:+.1f} MB (bound {max_growth:g} MB)"]
    ok = not (lost or extra or twice or twice_made) and growth <= max_growth and bool(produced)
    lines.append("PASS" if ok else "FAIL")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chaos", type=float, default=5.0,
                        help="mean seconds between connection drops")
    parser.add_argument("--max-growth", type=float, default=20.0,
                        help="allowed RSS growth after warm-up, MB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(f"simulators registered: {', '.join(sorted(SIMULATORS))}", file=sys.stderr)
    result = asyncio.run(soak(args.minutes, args.chaos, args.seed))
    ok, lines = verdict(result, args.max_growth)
    print("\n".join(lines))
    if args.json:
        samples = result["samples"]
        args.json.write_text(json.dumps({
            "ok": ok, "minutes": args.minutes, "drops": result["drops"],
            "produced": len(result["produced"]),
            "received": sum(result["received"].values()),
            "statuses": result["statuses"], "rss_start": samples[0][1],
            "rss_end": samples[-1][1], "lines": lines}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
