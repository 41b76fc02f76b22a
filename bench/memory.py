"""RSS of the running Service with 10,000 rules, and `alertbot check` of 1,000 files.

Two figures of DESIGN.md §4, each with a same-run baseline:

* `rss`: the real Service (config file, 10,000 above/below price rules on `last` over
  10 Kraken symbols in `--files` rule files (100; also measured as one file), SQLite
  state, recording notifier) is started and fed `--events` ticker events (a ±0.2 %
  swing) through `Service._emit`, so every rule has evaluated and the crossed ones
  alerted through the outbox; then the process's RSS (and peak RSS) is read.
  Baseline: the same with 10 rules, in a separate process. Target ≤ 150 MB.
* `check`: `alertbot check -c alertbot.yaml` as a subprocess over 1,000 rule files (one
  `crosses_above` rule each); wall time, best of `--repeat`. Baseline: the same command
  over one rule file (interpreter and import start-up). Target ≤ 2 s.

Usage: `python bench/memory.py [rss|check|both] [--json OUT]`; `rss-child N` is the
internal per-process measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _kit import SYMBOLS, Recorder, price_rules_yaml, rss_mb, split_rules, write_config

ROOT = Path(__file__).resolve().parents[1]


async def _service_rss(rules: int, events: int, files: int) -> dict[str, float]:
    from alertbot.app import Options, Service
    from alertbot.loader import load
    from alertbot.model import Event
    from alertbot.sources.sim.kraken import START_PRICES

    with tempfile.TemporaryDirectory() as tmp:
        source = {"kind": "kraken", "url": "ws://127.0.0.1:9/none", "open_timeout": 0.5,
                  "reconnect": {"initial": 3600, "max": 3600}}
        path = write_config(Path(tmp), {"kraken": source},
                            split_rules(price_rules_yaml(rules, SYMBOLS), files))
        service = Service(load(path), Options(listen="", watch_files=False,
                                              notifiers={"rec": Recorder()}))
        await service.start()
        try:
            for i in range(events):
                symbol = SYMBOLS[i % len(SYMBOLS)]
                # A ±0.2 % swing: every rule evaluates, a few dozen levels are crossed
                # (alert state, outbox rows and notify log exist) as in a live feed.
                swing = 0.002 * (((i // len(SYMBOLS)) % 200) - 100) / 100
                last = START_PRICES[symbol] * (1 + swing)
                service._emit(Event("kraken", "ticker", time.time(),
                                    {"symbol": symbol, "last": last}))
                if i % 1000 == 999:
                    await service.pump.idle()
            await service.pump.idle()
            await service.worker.drain(60)
            current = rss_mb()
        finally:
            await service.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss_mb": current, "peak_mb": peak}


def _child(rules: int, events: int, files: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "rss-child", str(rules), str(events),
                          str(files)],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def measure_rss(events: int, files: int) -> dict[str, Any]:
    big = _child(10_000, events, files)
    one = _child(10_000, events, 1) if files != 1 else big
    small = _child(10, events, 1)
    return {"rules_10000": big, "rules_10000_one_file": one, "rules_10": small,
            "files": files, "ratio": big["rss_mb"] / small["rss_mb"]}


def _write_files(root: Path, files: int) -> Path:
    (root / "rules").mkdir()
    for i in range(files):
        (root / "rules" / f"r{i:04d}.yaml").write_text(
            "rules:\n"
            f"  - id: rule-{i}\n"
            "    source: kraken\n"
            "    event: ticker\n"
            "    where: {symbol: BTC/USD}\n"
            f"    when: {{field: last, crosses_above: {1000 + i}}}\n"
            "    notify: [console]\n")
    config = {"rules": ["rules/"], "notifiers": {"console": {"kind": "console"}},
              "sources": {"kraken": {"kind": "kraken",
                                     "channels": {"ticker": {"symbols": ["BTC/USD"]}}}}}
    path = root / "alertbot.yaml"
    path.write_text(json.dumps(config))
    return path


def _time_check(files: int, repeat: int) -> float:
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_files(Path(tmp), files)
        for _ in range(repeat):
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "alertbot", "check", "-c",
                                     str(path)], capture_output=True, text=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            elapsed = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"alertbot check failed: {result.stdout}{result.stderr}")
            best = min(best, elapsed)
    return best


def measure_check(repeat: int) -> dict[str, float]:
    big, small = _time_check(1000, repeat), _time_check(1, repeat)
    return {"files_1000_s": big, "files_1_s": small, "ratio": big / small}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rss-child"]:
        figures = asyncio.run(_service_rss(int(argv[1]), int(argv[2]), int(argv[3])))
        print(json.dumps(figures))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=("rss", "check", "both"), default="both")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=100,
                        help="rule files the 10,000 rules are spread over")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if args.what in ("rss", "both"):
        rss = figures["rss"] = measure_rss(args.events, args.files)
        big, small, one = rss["rules_10000"], rss["rules_10"], rss["rules_10000_one_file"]
        print(f"Service RSS with 10,000 rules in {args.files} files after {args.events} "
              f"events: {big['rss_mb']:.1f} MB (peak {big['peak_mb']:.1f} MB; "
              f"target ≤ 150 MB)")
        print(f"  the same 10,000 rules in one file: {one['rss_mb']:.1f} MB "
              f"(peak {one['peak_mb']:.1f} MB: the YAML load's heap stays fragmented)")
        print(f"  baseline, same with 10 rules: {small['rss_mb']:.1f} MB "
              f"(peak {small['peak_mb']:.1f} MB); ratio {rss['ratio']:.2f}")
    if args.what in ("check", "both"):
        check = figures["check"] = measure_check(args.repeat)
        print(f"alertbot check, 1,000 rule files: {check['files_1000_s']:.2f} s "
              f"(best of {args.repeat}; target ≤ 2 s)")
        print(f"  baseline, 1 rule file: {check['files_1_s']:.2f} s; "
              f"ratio {check['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
