"""`alertbot demo` (interim): a recorded scenario replayed through the real bot.

Until the node simulators land, the demo replays the bundled `data/demo_events.jsonl`
(a Kraken price crossing, a Kakitu payment reported twice, a Chia signage-point stall
and recovery, a Kaspa disconnect and reconnect) through the bundled config and rules
(`data/demo.yaml`) on a virtual clock, and delivers the resulting notifications through
the console notifier via the outbox, as `run` would. The recording's span is paced to
`--duration` real seconds (0 = as fast as possible).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..loader import Loaded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=10.0, metavar="SECONDS",
                        help="real seconds the recorded scenario is paced to (default 10; "
                             "0 = instant)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ..errors import ConfigError
    from ..loader import load
    from .replay import _setup_logging

    _setup_logging()
    data = resources.files("alertbot") / "data"
    try:
        loaded = load(Path(str(data / "demo.yaml")))
    except ConfigError as exc:  # a packaging bug, but say what it is
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    lines = (data / "demo_events.jsonl").read_text(encoding="utf-8").splitlines()
    return asyncio.run(_demo(loaded, lines, max(0.0, args.duration)))


async def _demo(loaded: Loaded, lines: list[str], duration: float) -> int:
    import asyncio
    import time

    from ..metrics import RecordingMetrics
    from .replay import Replayer, _worker, open_store

    store = open_store(None, send=True)
    assert store is not None
    metrics = RecordingMetrics()
    worker = _worker(loaded, store)
    replayer = Replayer(loaded, store=store, persist=False, dry_run=False,
                        on_notifications=lambda _b: worker.wake(), metrics=metrics)
    times = [t for t in (_peek_time(x) for x in lines) if t is not None]
    span = (times[-1] - times[0]) if times else 0.0
    scale = duration / span if span > 0 else 0.0
    print(f"alertbot demo: replaying {len(lines)} recorded events "
          f"({span:.0f} s of node activity) in {duration:g} s", file=sys.stderr)
    runner = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        for lineno, text in enumerate(lines, 1):
            t = _peek_time(text)
            if t is not None and times:
                await asyncio.sleep(max(0.0, started + (t - times[0]) * scale
                                        - time.monotonic()))
            replayer.line(text, lineno)
        done = await worker.drain(30.0)
    finally:
        runner.cancel()
        await worker.aclose()
        store.close()
    sent = metrics.count("alertbot_notifications_total")
    print(f"alertbot demo: {sent:g} notifications", file=sys.stderr)
    return 0 if done else 1


def _peek_time(text: str) -> float | None:
    from ..replay_clock import parse_line

    item = parse_line(text, 0, {})
    if item is None:
        return None
    return item if isinstance(item, float) else item.time
