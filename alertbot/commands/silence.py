"""`alertbot silence add|list|remove`: silences in the state store.

A silence is a set of matchers (`rule=cpu_high`, `symbol=~BTC/.*` for a regex) with a
window: from `--starts` (default now) for `--duration` or until `--ends`. The running
service (and `replay` with the same state dir) reads them from the store within a
second. The store is `state_dir` from the config, or `--state-dir`.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import TYPE_CHECKING

from .statedb import open_state_db

if TYPE_CHECKING:
    from ..store import SQLiteStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config",
                        help="config file (default: $ALERTBOT_CONFIG, else ./alertbot.yaml)")
    parser.add_argument("--state-dir", help="state directory (default: the config's)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a silence; prints its id")
    add.add_argument("matchers", nargs="+", metavar="LABEL=VALUE",
                     help="`rule=ID`, `label=value`, or `label=~regex`")
    add.add_argument("--duration", help="how long, e.g. 2h (default 1h)")
    add.add_argument("--starts", help="RFC 3339 start (default now)")
    add.add_argument("--ends", help="RFC 3339 end (instead of --duration)")
    add.add_argument("--comment", default="", help="why (shown by `silence list`)")
    add.add_argument("--author", default="cli", help="who added it")
    lst = sub.add_parser("list", help="list active and future silences")
    lst.add_argument("--all", action="store_true", help="include expired silences")
    rm = sub.add_parser("remove", help="remove silences by id")
    rm.add_argument("ids", nargs="+", metavar="ID")


def run(args: argparse.Namespace) -> int:
    try:
        store = open_state_db(args)
    except Exception as exc:  # config or database problem: say it, don't trace
        print(f"alertbot silence: {exc}", file=sys.stderr)
        return 1
    try:
        if args.action == "add":
            return _add(store, args)
        if args.action == "list":
            return _list(store, args.all)
        missing = [i for i in args.ids if not store.silence_remove(i)]
        for i in missing:
            print(f"alertbot silence: no silence {i!r}", file=sys.stderr)
        return 1 if missing else 0
    finally:
        store.close()


def parse_matchers(items: list[str]) -> dict[str, str]:
    """`name=value` pairs; ValueError names the bad one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value:
            raise ValueError(f"matcher {item!r} is not LABEL=VALUE or LABEL=~REGEX")
        out[name.strip()] = value
    return out


def _add(store: SQLiteStore, args: argparse.Namespace) -> int:
    import re

    from ..durations import parse_duration
    from ..model import format_time, parse_time
    from ..store import Silence

    try:
        matchers = parse_matchers(args.matchers)
        for value in matchers.values():
            if value.startswith("~"):
                re.compile(value[1:])
        starts = time.time() if args.starts is None else parse_time(args.starts)
        if args.ends is not None and args.duration is not None:
            raise ValueError("give --duration or --ends, not both")
        ends = (parse_time(args.ends) if args.ends is not None
                else starts + parse_duration(args.duration or "1h"))
        if ends <= starts:
            raise ValueError("the silence ends before it starts")
    except (ValueError, re.error) as exc:
        print(f"alertbot silence add: {exc}", file=sys.stderr)
        return 2
    sid = uuid.uuid4().hex[:12]
    store.silence_add(Silence(sid, matchers, starts, ends, created_by=args.author,
                              comment=args.comment))
    print(sid)
    print(f"silenced until {format_time(ends)}", file=sys.stderr)
    return 0


def _list(store: SQLiteStore, show_all: bool) -> int:
    from ..model import format_time

    for s in store.silences(None if show_all else time.time()):
        matchers = " ".join(f"{k}={v}" for k, v in sorted(s.matchers.items()))
        line = f"{s.id}  {format_time(s.starts_at)}  {format_time(s.ends_at)}  {matchers}"
        if s.comment:
            line += f"  # {s.comment}"
        print(line)
    return 0
