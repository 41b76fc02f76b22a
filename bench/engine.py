"""Engine throughput and memory benchmark (DESIGN §4); a script that prints figures.

Rule composition: N threshold rules (above / below / crosses_above / crosses_below on the
ticker field `last`, no `for`), spread over 10 symbols with thresholds spread over ±50 %
of each symbol's base price. Events are Kraken-like ticker Events whose `last` takes a
small random walk (±0.01 % steps, typical tick-to-tick moves), fed through
`Engine.process` (the API replay uses).
Run: `python bench/engine.py` (rates) or `python bench/engine.py --rss` (RSS, 10k rules).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time

from alertbot.engine import Engine
from alertbot.engine.rules import Rule
from alertbot.model import Event

SYMBOLS = [f"SYM{i}/USD" for i in range(10)]
BASE = {s: 100.0 * (i + 1) for i, s in enumerate(SYMBOLS)}
OPS = ("above", "below", "crosses_above", "crosses_below")


class _Clock:
    def now(self) -> float:
        return 1_700_000_000.0

    async def sleep_until(self, deadline: float) -> None:
        return None


def make_rules(n: int, seed: int = 1, general: bool = False) -> list[Rule]:
    """`general` wraps each condition in `all:`, which bypasses the sorted arrays."""
    rnd = random.Random(seed)
    rules = []
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        level = round(BASE[sym] * rnd.uniform(0.5, 1.5), 2)
        op = OPS[i % len(OPS)]
        cond: dict[str, object] = {"field": "last", op: level}
        rules.append(Rule.model_validate({
            "id": f"r{i}", "source": "kraken", "event": "ticker",
            "where": {"symbol": sym}, "when": {"all": [cond]} if general else cond,
            "notify": ["console"], "repeat": 0}))
    return rules


def make_events(n: int, seed: int = 2) -> list[Event]:
    rnd = random.Random(seed)
    price = dict(BASE)
    out = []
    t = 1_700_000_000.0
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        price[sym] *= 1.0 + rnd.uniform(-0.0001, 0.0001)
        t += 0.001
        out.append(Event("kraken", "ticker", t, {"symbol": sym, "last": price[sym],
                                                 "bid": price[sym], "ask": price[sym]}))
    return out


def rate(nrules: int, events: list[Event], general: bool = False) -> tuple[float, int]:
    engine = Engine(make_rules(nrules, general=general), clock=_Clock())
    engine.start()
    gc.collect()
    gc.freeze()  # long-lived rule objects out of the cyclic GC's way (app.py should too)
    process = engine.process
    alerts = 0
    for ev in events[:1000]:  # warm-up: first samples evaluate every bucket once
        alerts += len(process(ev))
    t0 = time.perf_counter()
    for ev in events[1000:]:
        alerts += len(process(ev))
    dt = time.perf_counter() - t0
    gc.unfreeze()
    return (len(events) - 1000) / dt, alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rss", action="store_true", help="print RSS with 10,000 rules")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.rss:
        rules = make_rules(10_000)
        engine = Engine(rules, clock=_Clock())
        engine.start()
        for ev in make_events(20_000):
            engine.process(ev)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"max RSS with 10,000 rules: {rss:.1f} MB")
        return
    events = make_events(args.events)
    best = {n: 0.0 for n in (10, 1_000, 10_000)}
    alerts = dict.fromkeys(best, 0)
    for _ in range(args.repeat):  # interleaved, best of N: the machine is shared
        for n in best:
            r, alerts[n] = rate(n, events)
            best[n] = max(best[n], r)
    for n, r in best.items():
        print(f"{n:>6} rules: {r:>10,.0f} events/s  ({alerts[n]} alerts "
              f"from {len(events) - 1000} timed events)")
    print(f"ratio 10,000 : 10 = {best[10_000] / best[10]:.2f}")
    general, _ = rate(1_000, events[:21_000], general=True)
    print(f"for comparison, 1000 rules on the general (non-indexed) path: "
          f"{general:,.0f} events/s")

if __name__ == "__main__":
    main()
