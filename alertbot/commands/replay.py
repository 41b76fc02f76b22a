"""`alertbot replay EVENTS.jsonl`: recorded events through the real engine and pipeline.

Time is virtual (each line's `time`; `{"time": ...}` lines only advance it and fire due
timers); a line that is malformed or goes back in time stops the replay with an error
naming the line (what was already printed stays printed), and nothing happens after the
last line. Without `--send` each notification that would be delivered is printed as one
JSON object per line (DESIGN §2.5) and neither the outbox nor the notify log is
written; with `--send` the configured notifiers deliver from the outbox (leftovers of an
earlier `--state-dir` run first) until all is delivered or dead, or `--max-wait` passed.
`replay_lines` is shared with `alertbot demo`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ReplayError

if TYPE_CHECKING:
    from ..loader import Loaded
    from ..metrics import Metrics
    from ..model import Notification
    from ..replay_clock import VirtualClock
    from ..runtime import Runtime
    from ..store import SQLiteStore, StateStore

log = logging.getLogger(__name__)



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", help="JSONL file of events and {\"time\": ...} lines "
                                       "('-' for stdin)")
    parser.add_argument("-c", "--config", help="config file (default: ./alertbot.yaml)")
    parser.add_argument("--send", action="store_true",
                        help="deliver through the configured notifiers instead of printing")
    parser.add_argument("--max-wait", type=float, default=60.0, metavar="SECONDS",
                        help="with --send: stop waiting for deliveries after this long")
    parser.add_argument("--state-dir", help="persist alert state, notify log and outbox "
                                            "here; a later replay continues from it")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ..errors import ConfigError
    from ..loader import load

    _setup_logging()
    try:
        loaded = load(args.config)
    except ConfigError as exc:
        for problem in sorted(exc.problems):
            print(problem, file=sys.stderr)
        return 1
    return asyncio.run(_replay(args, loaded))


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")


def open_store(state_dir: str | None, *, send: bool) -> SQLiteStore | None:
    """The state-dir store, an in-memory outbox for --send, or none for a dry run."""
    from ..store import DB_NAME, SQLiteStore

    if state_dir is not None:
        return SQLiteStore(Path(state_dir) / DB_NAME)
    return SQLiteStore(":memory:") if send else None


def print_json(batch: Sequence[Notification]) -> None:
    from ..model import dumps

    for n in batch:
        sys.stdout.write(dumps(n.to_json()) + "\n")
    sys.stdout.flush()


async def _replay(args: argparse.Namespace, loaded: Loaded) -> int:
    store = open_store(args.state_dir, send=args.send)
    deadline = time.monotonic() + args.max_wait
    worker = None if not args.send or store is None else _worker(loaded, store)
    code = 0
    try:
        if worker is not None and store is not None and store.outbox_due(
                float("inf"), limit=1):
            # What an earlier run left undelivered goes out before anything new.
            await worker.drain(max(0.0, deadline - time.monotonic()))
        hook: Callable[[Sequence[Notification]], None]
        hook = print_json if worker is None else (lambda _b: worker.wake())
        try:
            with _open_input(args.events) as lines:
                replay_lines(lines, loaded, store=store, persist=args.state_dir is not None,
                             dry_run=not args.send, on_notifications=hook)
        except ReplayError as exc:
            print(f"alertbot replay: {args.events}: {exc}", file=sys.stderr)
            code = 1
        except OSError as exc:
            print(f"alertbot replay: cannot read {args.events}: {exc.strerror or exc}",
                  file=sys.stderr)
            code = 1
        if worker is not None and not await worker.drain(
                max(0.0, deadline - time.monotonic())):
            print("alertbot replay: undelivered notifications remain after "
                  f"--max-wait {args.max_wait:g}s", file=sys.stderr)
            code = 1
    finally:
        if worker is not None:
            await worker.aclose()
        if store is not None:
            store.close()
    return code


def _open_input(path: str) -> Any:
    import contextlib

    if path == "-":
        return contextlib.nullcontext(sys.stdin)
    return open(path, encoding="utf-8")


def _worker(loaded: Loaded, store: StateStore) -> Any:
    from ..clock import SystemClock
    from ..notifiers import NOTIFIERS
    from ..notifiers.http import NotifierContext
    from ..pipeline.delivery import DeliveryWorker

    ctx = NotifierContext()
    notifiers = {name: NOTIFIERS[s.kind].build(name, s, ctx)
                 for name, s in loaded.config.notifiers.items()}
    # Rows carry virtual (event) times while retries run on the wall clock, so a row's
    # age means nothing here: --max-wait bounds a replay's delivery instead.
    return DeliveryWorker(store, notifiers, clock=SystemClock(), max_retry_age=math.inf)


class Replayer:
    """Feeds replay lines one at a time into a Runtime built at the first line's time.

    `persist` gives the engine the store (alert state survives); the pipeline always
    reads the store (silences, notify log) and writes it unless `dry_run`.
    """

    def __init__(self, loaded: Loaded, *, store: StateStore | None, persist: bool,
                 dry_run: bool, on_notifications: Callable[[Sequence[Notification]], None],
                 metrics: Metrics | None = None) -> None:
        self.loaded = loaded
        self.store = store
        self.persist = persist
        self.dry_run = dry_run
        self.hook = on_notifications
        self.metrics = metrics
        self.clock: VirtualClock | None = None
        self.runtime: Runtime | None = None

    def line(self, text: str, lineno: int) -> float | None:
        """Process one line; returns its time (None for a blank line)."""
        from ..model import Event
        from ..replay_clock import VirtualClock, parse_line

        item = parse_line(text, lineno, self.loaded.config.sources)
        if item is None:
            return None
        t = item.time if isinstance(item, Event) else item
        if self.clock is None or self.runtime is None:
            self.clock = VirtualClock(t)
            self.runtime = _runtime(self.loaded, self.clock,
                                    self.store if self.persist else None, self.store,
                                    self.dry_run, self.metrics, self.hook)
            self.runtime.start()
        elif t < self.clock.now():
            raise ReplayError(f"line {lineno}: time goes back from the previous line "
                              "(replay input must be in time order)")
        self.clock.set(t)
        if isinstance(item, Event):
            self.runtime.feed(item)
        else:
            self.runtime.advance(t)
        return t

    def close(self) -> None:
        """Persist the engine's state (with a store)."""
        if self.runtime is not None and self.persist:
            self.runtime.flush()


def replay_lines(lines: Iterable[str], loaded: Loaded, *, store: StateStore | None,
                 persist: bool, dry_run: bool,
                 on_notifications: Callable[[Sequence[Notification]], None],
                 metrics: Metrics | None = None) -> Runtime | None:
    """Drive a Runtime on a virtual clock through `lines`; ReplayError names a bad line."""
    replayer = Replayer(loaded, store=store, persist=persist, dry_run=dry_run,
                        on_notifications=on_notifications, metrics=metrics)
    try:
        for lineno, text in enumerate(lines, 1):
            replayer.line(text, lineno)
    finally:
        replayer.close()
    return replayer.runtime


def _runtime(loaded: Loaded, clock: Any, engine_store: StateStore | None,
             store: StateStore | None, dry_run: bool, metrics: Metrics | None,
             hook: Callable[[Sequence[Notification]], None]) -> Runtime:
    from ..engine import Engine
    from ..pipeline import build_pipeline
    from ..runtime import Runtime

    config = loaded.config
    engine = Engine(loaded.rules, clock=clock, defaults=config.defaults,
                    store=engine_store, metrics=metrics)
    pipeline = build_pipeline(config, loaded.rules, store=store, clock=clock,
                              metrics=metrics, dry_run=dry_run)
    return Runtime(engine, pipeline, clock=clock, on_notifications=hook)
