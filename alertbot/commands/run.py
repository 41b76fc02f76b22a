"""`alertbot run`: the service, until SIGTERM or SIGINT (exit 0 after draining).

SIGHUP re-reads config and rules (as a file change does). Logs go to stderr only:
text on a terminal, JSON otherwise or with `--log-format json`. An invalid config at
start is printed as `FILE:LINE:COL: message` lines and exits 1 — at start there is no
old config to keep running on.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="config file (default: $ALERTBOT_CONFIG "
                                               "or ./alertbot.yaml)")
    parser.add_argument("--log-format", choices=("auto", "text", "json"), default="auto",
                        help="stderr log format (auto: text on a terminal, else JSON)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--no-watch", action="store_true",
                        help="do not reload on file changes (SIGHUP still reloads)")
    parser.add_argument("--drain-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="on shutdown, how long the outbox may keep delivering")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from .. import logs
    from ..errors import ConfigError
    from ..loader import load

    logs.setup(args.log_format, args.log_level)
    try:
        loaded = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    return asyncio.run(serve(loaded, args))


async def serve(loaded: object, args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from ..app import Options, Service
    from ..loader import Loaded

    assert isinstance(loaded, Loaded)
    log = logging.getLogger("alertbot.run")
    service = Service(loaded, Options(watch_files=not args.no_watch,
                                      drain_timeout=args.drain_timeout))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def on_stop(sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        stop.set()

    def on_hup() -> None:
        log.info("SIGHUP received: reloading")
        task = asyncio.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        return await service.run_until(stop)
    except OSError as exc:  # e.g. the ops port is taken
        log.error("cannot start: %s", exc)
        return 1

