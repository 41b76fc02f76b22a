"""`alertbot demo`: the real service against local node simulators, offline.

Starts every registered simulator (Kraken, Kakitu, Chia, Kaspa) on 127.0.0.1, writes a
throw-away config pointing the real sources at them (state in a temporary folder),
runs the real `Service` — sources, engine, pipeline, outbox — with the bundled demo
rules and the console notifier, and plays each simulator's scripted scenario over
`--duration` seconds: notifications print on stdout as they happen. At the end (or on
Ctrl-C) it prints on stderr, per source, whether its simulator had a subscriber and
how many firing and resolved notifications it produced, and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Notification
    from ..sources.sim import Simulator

DEFAULT_DURATION = 70.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION,
                        metavar="SECONDS", help="how long the scenarios play "
                        f"(default {DEFAULT_DURATION:g}; under 60 some may not resolve)")
    parser.add_argument("--log-format", choices=("auto", "text", "json"), default="text")
    parser.add_argument("--verbose", action="store_true", help="log at INFO, not WARNING")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from .. import logs

    logs.setup(args.log_format, "INFO" if args.verbose else "WARNING")
    try:
        return asyncio.run(_demo(max(1.0, args.duration)))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 0


class Tally:
    """A console notifier that also counts what each source produced (the summary)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.counts: Counter[tuple[str, str]] = Counter()

    async def send(self, notification: Notification) -> None:
        alert = notification.alert
        self.counts[alert.labels.get("source", "?"), alert.status] += 1
        await self.inner.send(notification)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _demo(duration: float) -> int:
    import asyncio
    import signal
    import tempfile

    from ..sources.sim import close_all, run_scripts, start_all

    sims = await start_all()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    peak: Counter[str] = Counter()
    try:
        with tempfile.TemporaryDirectory(prefix="alertbot-demo-") as tmp:
            service, tally = _service(sims, tmp)
            print(f"alertbot demo: {len(sims)} simulators ({', '.join(sims)}) on 127.0.0.1; "
                  f"scenarios play for {duration:g} s (Ctrl-C ends early)", file=sys.stderr)
            await service.start()
            try:
                scripts = asyncio.create_task(run_scripts(sims, duration))
                watcher = asyncio.create_task(_watch(sims, peak))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait((scripts, stopper), return_when=asyncio.FIRST_COMPLETED)
                for task in (scripts, watcher, stopper):
                    task.cancel()
                await asyncio.gather(scripts, watcher, stopper, return_exceptions=True)
            finally:
                await service.stop()
            _summary(sims, peak, tally)
    finally:
        await close_all(sims)
    return 0


def _service(sims: dict[str, Simulator], tmp: str) -> tuple[Any, Tally]:
    import json
    from importlib import resources
    from pathlib import Path

    from ..app import Options, Service
    from ..loader import load
    from ..notifiers.console import ConsoleNotifier
    from ..notifiers.settings import ConsoleSettings
    from ..sources.sim import demo_sources

    folder = resources.files("alertbot") / "data" / "demo"
    rules = [str(folder / f"{kind}.yaml") for kind in sims
             if (folder / f"{kind}.yaml").is_file()]
    config = {"state_dir": str(Path(tmp) / "state"), "rules": rules,
              "defaults": {"notify": ["console"], "repeat": "0s", "inhibit_grace": "5s"},
              "sources": demo_sources(sims),
              "notifiers": {"console": {"kind": "console"}}}
    path = Path(tmp) / "alertbot.yaml"
    path.write_text(json.dumps(config, indent=2))
    tally = Tally(ConsoleNotifier("console", ConsoleSettings(kind="console")))
    loaded = load(path)
    return Service(loaded, Options(listen="", watch_files=False, drain_timeout=5.0,
                                   notifiers={"console": tally})), tally


async def _watch(sims: dict[str, Simulator], peak: Counter[str]) -> None:
    import asyncio

    while True:
        for kind, sim in sims.items():
            peak[kind] = max(peak[kind], sim.subscribers)
        await asyncio.sleep(0.2)


def _summary(sims: dict[str, Simulator], peak: Counter[str], tally: Tally) -> None:
    print("alertbot demo: summary", file=sys.stderr)
    for kind in sims:
        firing = tally.counts[kind, "firing"]
        resolved = tally.counts[kind, "resolved"]
        print(f"  {kind}: simulator subscribers={peak[kind]} firing={firing} "
              f"resolved={resolved}", file=sys.stderr)
