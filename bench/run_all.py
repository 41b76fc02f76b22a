"""Run the short benchmarks one after the other and print one README-ready table.

Each benchmark runs as its own process (so RSS and warm caches of one never flatter the
next) with `--json` and the figures are collected into a Markdown table: Kraken feed
end to end (kraken_feed.py), event → notifier latency at 10k events/s (latency.py),
RSS with 10,000 rules and `alertbot check` of 1,000 files (memory.py), engine rates
(engine.py, its own printout), and the soak when `--soak-minutes` is given (soak.py;
10 minutes is the published figure, so it is not run by default).

Usage: `python bench/run_all.py [--quick] [--soak-minutes N]`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _kit import table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(script: str, *args: str) -> dict[str, Any] | None:
    """Run bench/<script> with --json; its figures, or None if it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        cmd = [sys.executable, str(HERE / script), *args, "--json", str(out)]
        print("$ " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
        result = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.PIPE, text=True)
        print(result.stdout, file=sys.stderr)
        if not out.exists():
            return None
        figures: dict[str, Any] = json.loads(out.read_text())
        figures["_exit"] = result.returncode
        return figures


def rows(quick: bool, soak_minutes: float | None) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    frames = "50000" if quick else "200000"
    feed = run("kraken_feed.py", "--frames", frames, "--service-only")
    if feed:
        out.append(("Kraken feed → `alertbot run` (1,000 rules, 10 symbols)",
                    f"{feed['service']:,.0f} frames/s",
                    f"raw websockets+orjson {feed['raw']:,.0f}/s, ratio "
                    f"{feed['ratio']:.2f}", "ratio ≥ 0.6"))
    lat = run("latency.py", "--seconds", "5" if quick else "10")
    if lat:
        s, q = lat["service"], lat["queue"]
        out.append(("event → notifier call at 10k events/s",
                    f"p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms",
                    f"asyncio.Queue hop p99 {q['p99']:.3f} ms", "p99 ≤ 2 ms"))
    mem = run("memory.py", "both")
    if mem:
        rss, check = mem["rss"], mem["check"]
        out.append(("RSS, Service with 10,000 rules",
                    f"{rss['rules_10000']['rss_mb']:.0f} MB "
                    f"({rss['rules_10000_one_file']['rss_mb']:.0f} MB from one file)",
                    f"10 rules {rss['rules_10']['rss_mb']:.0f} MB", "≤ 150 MB"))
        out.append(("`alertbot check`, 1,000 rule files", f"{check['files_1000_s']:.2f} s",
                    f"1 file {check['files_1_s']:.2f} s", "≤ 2 s"))
    if soak_minutes:
        soak = run("soak.py", "--minutes", str(soak_minutes))
        if soak:
            out.append((f"soak {soak_minutes:g} min, 4 simulators, random drops",
                        f"{soak['received']} notifications, "
                        f"{'0 lost / 0 duplicated' if soak['ok'] else 'FAILED'}",
                        f"RSS {soak['rss_start']:.0f} → {soak['rss_end']:.0f} MB",
                        "exactly once, bounded RSS"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--soak-minutes", type=float, default=None)
    args = parser.parse_args(argv)
    print(table(rows(args.quick, args.soak_minutes),
                ("benchmark", "figure", "same-run baseline", "target")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
