"""`alertbot outbox list|retry`: inspect and re-queue undelivered notifications.

`list` prints every outbox row (pending ones waiting for their next attempt, dead
letters with their last error), one per line, or as JSON lines with `--json`; `retry
ID...` or `retry --all` moves dead letters back to pending, due now, and the running
service's delivery worker picks them up within its poll interval. The store is
`state_dir` from the config, or `--state-dir`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from .statedb import open_state_db

if TYPE_CHECKING:
    from ..store import OutboxRow, SQLiteStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config",
                        help="config file (default: $ALERTBOT_CONFIG, else ./alertbot.yaml)")
    parser.add_argument("--state-dir", help="state directory (default: the config's)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = sub.add_parser("list", help="list pending and dead notifications")
    lst.add_argument("--state", choices=["pending", "dead"], help="only this state")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    retry = sub.add_parser("retry", help="move dead letters back to pending")
    retry.add_argument("ids", nargs="*", metavar="ID", help="outbox row ids")
    retry.add_argument("--all", action="store_true", help="every dead letter")


def run(args: argparse.Namespace) -> int:
    if args.action == "retry" and bool(args.ids) == bool(args.all):
        print("alertbot outbox retry: give row IDs or --all (not both)", file=sys.stderr)
        return 2
    try:
        store = open_state_db(args, must_exist=True)
    except Exception as exc:  # config or database problem: say it, don't trace
        print(f"alertbot outbox: {exc}", file=sys.stderr)
        return 1
    try:
        if args.action == "list":
            return _list(store, args.state, args.json)
        return _retry(store, None if args.all else list(args.ids))
    finally:
        store.close()


def _list(store: SQLiteStore, state: str | None, as_json: bool) -> int:
    from ..model import dumps, format_time

    rows = store.outbox_list(state)  # type: ignore[arg-type]
    for row in rows:
        if as_json:
            print(dumps(_row_json(row)))
            continue
        a = row.notification.alert
        when = ("next " + format_time(row.next_attempt_at) if row.state == "pending"
                else "dead")
        line = (f"{row.id}  {row.state:<7}  {row.notifier}  {a.rule} {a.status}/{a.reason}"
                f"  attempts={row.attempts}  {when}")
        if row.last_error:
            line += f"  error: {row.last_error}"
        print(line)
    if not rows and not as_json:
        print("outbox is empty", file=sys.stderr)
    return 0


def _row_json(row: OutboxRow) -> dict[str, object]:
    from ..model import format_time

    return {"id": row.id, "state": row.state, "notifier": row.notifier,
            "rule": row.notification.alert.rule, "status": row.notification.alert.status,
            "reason": row.notification.alert.reason, "attempts": row.attempts,
            "next_attempt_at": format_time(row.next_attempt_at),
            "created_at": format_time(row.created_at), "last_error": row.last_error}


def _retry(store: SQLiteStore, ids: list[str] | None) -> int:
    dead = {r.id for r in store.outbox_list("dead")}
    known = {r.id for r in store.outbox_list()}
    count = store.outbox_retry(ids, time.time())
    print(f"{count} notification(s) re-queued")
    if ids is not None and count < len(ids):
        for rid in ids:
            if rid not in known:
                print(f"alertbot outbox: no outbox row {rid!r}", file=sys.stderr)
            elif rid not in dead:
                print(f"alertbot outbox: {rid!r} is not a dead letter", file=sys.stderr)
        return 1
    return 0
