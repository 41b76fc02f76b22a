"""The state store: interface and the SQLite implementation (WAL) in `state_dir`.

What must survive a restart lives here: alert instances (incl. pending `for` start
times and window samples), the notify log keyed by (fingerprint, episode, notifier),
the outbox (one row per notification × notifier, written before sending, cleared after
success), silences, and small per-source key/value state (Kakitu frontiers and emitted
sets). Every table has a retention setting pruned by a scheduled job.

The record types and the `StateStore` protocol below are the contract the engine,
pipeline, delivery worker, sources and CLI code against.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from .errors import StoreError
from .model import Notification, dumps, json_default, notification_from_json

OutboxState = Literal["pending", "dead"]


DB_NAME = "alertbot.db"   # the one state file in `state_dir`


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """Persisted state of one alert instance; `state` is engine-defined JSON."""

    rule_id: str
    fingerprint: str
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NotifyLogEntry:
    fingerprint: str
    episode: int
    notifier: str
    status: str            # firing | resolved
    reason: str            # first | repeat | resolved | event
    sent_at: float


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: str                # Notification.id (stable across retries: webhook-id)
    notifier: str
    notification: Notification
    state: OutboxState
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Matchers are label → value (equality; a value starting with `~` is a regex)."""

    id: str
    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float
    created_by: str = "cli"
    comment: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class StateStore(Protocol):
    # -- alert instances (engine) ------------------------------------------------------
    def load_instances(self) -> list[InstanceRecord]: ...
    def save_instances(self, changed: Iterable[InstanceRecord],
                       deleted: Iterable[str] = ()) -> None: ...

    # -- notify log + outbox (pipeline): one transaction per tick ----------------------
    def last_notified(self, fingerprint: str, episode: int,
                      notifier: str) -> NotifyLogEntry | None: ...
    def enqueue(self, notifications: Sequence[Notification], now: float) -> None:
        """Write outbox rows and notify-log entries atomically (the dedup record)."""
        ...

    # -- outbox (delivery worker, CLI) -------------------------------------------------
    def outbox_due(self, now: float, limit: int = 100,
                   notifier: str | None = None) -> list[OutboxRow]: ...
    def outbox_delivered(self, row_id: str, now: float) -> None: ...
    def outbox_delivered_many(self, row_ids: Sequence[str], now: float) -> None:
        """Delete delivered rows in one transaction."""
        ...
    def outbox_count(self, state: OutboxState) -> int: ...
    def outbox_reschedule(self, row_id: str, next_attempt_at: float,
                          error: str) -> None: ...
    def outbox_dead(self, row_id: str, error: str, now: float) -> None: ...
    def outbox_list(self, state: OutboxState | None = None) -> list[OutboxRow]: ...
    def outbox_retry(self, row_ids: Sequence[str] | None, now: float) -> int:
        """Move dead rows (all when None) back to pending, due now; returns count."""
        ...

    # -- silences ----------------------------------------------------------------------
    def silence_add(self, silence: Silence) -> None: ...
    def silence_remove(self, silence_id: str) -> bool: ...
    def silences(self, now: float | None = None) -> list[Silence]: ...

    # -- source key/value state --------------------------------------------------------
    def kv_get(self, namespace: str, key: str) -> Any | None: ...
    def kv_put(self, namespace: str, key: str, value: Any) -> None: ...

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float, retention: Mapping[str, float]) -> int: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------------------- SQLite

_MIGRATIONS: tuple[str, ...] = (
    # v1
    """
    CREATE TABLE instances (
        fingerprint TEXT PRIMARY KEY, rule_id TEXT NOT NULL, state TEXT NOT NULL);
    CREATE TABLE notify_log (
        fingerprint TEXT NOT NULL, episode INTEGER NOT NULL, notifier TEXT NOT NULL,
        status TEXT NOT NULL, reason TEXT NOT NULL, sent_at REAL NOT NULL,
        PRIMARY KEY (fingerprint, episode, notifier));
    CREATE INDEX notify_log_sent ON notify_log (sent_at);
    CREATE TABLE outbox (
        id TEXT NOT NULL, notifier TEXT NOT NULL, body TEXT NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL, created_at REAL NOT NULL, last_error TEXT,
        dead_at REAL, PRIMARY KEY (id));
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE TABLE silences (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL,
        ends_at REAL NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
        extra TEXT NOT NULL);
    CREATE TABLE kv (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        updated_at REAL NOT NULL, PRIMARY KEY (namespace, key));
    """,
)


class SQLiteStore:
    """`StateStore` on one SQLite file (WAL, synchronous=NORMAL); ":memory:" for tests.

    Pruning rules beyond the obvious: an instance row is forgotten once its engine state
    carries a numeric `resolved_at` older than `instances_resolved`; kv rows in a
    namespace whose name contains "emitted" are forgotten `emitted` seconds after their
    last write (wall-clock write time, since kv_put takes no clock).
    """

    def __init__(self, path: Path | str, *, auto_checkpoint: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions explicitly, one per batch.
        self._db = sqlite3.connect(self.path, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        if not auto_checkpoint:
            # SQLite checkpoints inside the COMMIT that fills the WAL past 1,000 pages:
            # a few ms of the event loop, the whole p99 of alert latency. The service
            # checkpoints from a thread instead (`checkpoint()`).
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer: sqlite3.Connection | None = None
        self._depth = 0
        # Outbox and notify-log rows enqueued inside `batch()`: written with one
        # executemany each when the batch commits (or before anything reads them).
        self._queued_outbox: list[tuple[Any, ...]] = []
        self._queued_log: dict[tuple[str, int, str], tuple[Any, ...]] = {}
        # Notifications this process enqueued, by outbox row id: the delivery worker
        # reads them back without decoding their JSON body (bounded; dropped on delete).
        self._fresh: dict[str, Notification] = {}
        self._migrate()

    # -- schema ------------------------------------------------------------------------
    def _migrate(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(_MIGRATIONS):
            raise StoreError(f"state database {self.path} has schema v{version}, newer "
                             f"than this alertbot (v{len(_MIGRATIONS)}); upgrade alertbot")
        for n in range(version, len(_MIGRATIONS)):
            with self._tx():
                for stmt in _MIGRATIONS[n].split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version VALUES (?)", (n + 1,))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._depth:
            # Inside `batch()`: part of the enclosing transaction.
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._db
            self._write_queued()
        except BaseException:
            self._queued_outbox.clear()
            self._queued_log.clear()
            self._fresh.clear()
            self._db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
        self._db.execute("COMMIT")

    def _write_queued(self) -> None:
        if self._queued_outbox:
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (id, notifier, body, state, attempts, "
                "next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
                self._queued_outbox)
            self._queued_outbox.clear()
        if self._queued_log:
            self._db.executemany("INSERT OR REPLACE INTO notify_log VALUES (?, ?, ?, ?, ?, ?)",
                                 list(self._queued_log.values()))
            self._queued_log.clear()

    def batch(self) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction around many writes (the event pump's tick: outbox rows,
        notify log and engine state commit together, atomically and once)."""
        return self._tx()

    # -- instances ---------------------------------------------------------------------
    def load_instances(self) -> list[InstanceRecord]:
        rows = self._db.execute("SELECT rule_id, fingerprint, state FROM instances")
        return [InstanceRecord(r, f, _loads(s)) for r, f, s in rows]

    def save_instances(self, changed: Iterable[InstanceRecord],
                       deleted: Iterable[str] = ()) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO instances VALUES (?, ?, ?)",
                           [(i.fingerprint, i.rule_id, _dumps(i.state)) for i in changed])
            db.executemany("DELETE FROM instances WHERE fingerprint = ?",
                           [(f,) for f in deleted])

    # -- notify log + outbox -----------------------------------------------------------
    def last_notified(self, fingerprint: str, episode: int,
                      notifier: str) -> NotifyLogEntry | None:
        queued = self._queued_log.get((fingerprint, episode, notifier))
        if queued is not None:   # written at the end of this batch; no flush to read it
            return NotifyLogEntry(*queued)
        row = self._db.execute(
            "SELECT status, reason, sent_at FROM notify_log WHERE fingerprint = ? AND "
            "episode = ? AND notifier = ?", (fingerprint, episode, notifier)).fetchone()
        if row is None:
            return None
        return NotifyLogEntry(fingerprint, episode, notifier, row[0], row[1], row[2])

    def enqueue(self, notifications: Sequence[Notification], now: float) -> None:
        if not notifications:
            return
        fresh = self._fresh
        with self._tx():
            for n in notifications:
                a = n.alert
                self._queued_outbox.append(
                    (n.id, n.notifier, _dumps(_notification_body(n)), now, n.created_at))
                self._queued_log[(a.fingerprint, a.episode, n.notifier)] = (
                    a.fingerprint, a.episode, n.notifier, a.status, a.reason, now)
                if len(fresh) < _FRESH_MAX:
                    fresh[n.id] = n

    def notify_log(self) -> list[NotifyLogEntry]:
        """Every notify-log entry (for tests and diagnostics)."""
        self._write_queued()
        rows = self._db.execute("SELECT * FROM notify_log ORDER BY sent_at, fingerprint")
        return [NotifyLogEntry(*r) for r in rows]

    # -- outbox ------------------------------------------------------------------------
    _OUTBOX_COLS = ("SELECT id, notifier, body, state, attempts, next_attempt_at, "
                    "created_at, last_error FROM outbox")

    def outbox_due(self, now: float, limit: int = 100,
                   notifier: str | None = None) -> list[OutboxRow]:
        sql = self._OUTBOX_COLS + " WHERE state = 'pending' AND next_attempt_at <= ?"
        args: list[Any] = [now]
        if notifier is not None:
            sql += " AND notifier = ?"
            args.append(notifier)
        sql += " ORDER BY next_attempt_at, created_at, id LIMIT ?"
        args.append(limit)
        self._write_queued()
        return [self._row(r) for r in self._db.execute(sql, args)]

    def outbox_delivered(self, row_id: str, now: float) -> None:
        self.outbox_delivered_many((row_id,), now)

    def outbox_delivered_many(self, row_ids: Sequence[str], now: float) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(r,) for r in row_ids])
        for rid in row_ids:
            self._fresh.pop(rid, None)

    def outbox_count(self, state: OutboxState) -> int:
        self._write_queued()
        row = self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = ?",
                               (state,)).fetchone()
        return int(row[0])

    def outbox_reschedule(self, row_id: str, next_attempt_at: float,
                          error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, "
                       "last_error = ? WHERE id = ?", (next_attempt_at, error, row_id))

    def outbox_dead(self, row_id: str, error: str, now: float) -> None:
        self._fresh.pop(row_id, None)
        with self._tx() as db:
            db.execute("UPDATE outbox SET state = 'dead', attempts = attempts + 1, "
                       "last_error = ?, dead_at = ? WHERE id = ?", (error, now, row_id))

    def outbox_list(self, state: OutboxState | None = None) -> list[OutboxRow]:
        sql, args = self._OUTBOX_COLS, tuple[Any, ...]()
        if state is not None:
            sql, args = sql + " WHERE state = ?", (state,)
        sql += " ORDER BY created_at, id"
        self._write_queued()
        return [self._row(r) for r in self._db.execute(sql, args)]

    def _row(self, r: tuple[Any, ...]) -> OutboxRow:
        fresh = self._fresh.get(r[0])
        if fresh is None:
            return _outbox_row(r)
        rid, notifier, _body, state, attempts, due, created, err = r
        return OutboxRow(rid, notifier, fresh, state, attempts, due, created, err)

    def outbox_next_due(self) -> float | None:
        """Earliest next_attempt_at of a pending row (the delivery worker's wake-up)."""
        self._write_queued()
        row = self._db.execute("SELECT MIN(next_attempt_at) FROM outbox "
                               "WHERE state = 'pending'").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def outbox_retry(self, row_ids: Sequence[str] | None, now: float) -> int:
        with self._tx() as db:
            if row_ids is None:
                cur = db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?,"
                                 " dead_at = NULL WHERE state = 'dead'", (now,))
                return cur.rowcount
            count = 0
            for rid in row_ids:
                cur = db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?,"
                                 " dead_at = NULL WHERE state = 'dead' AND id = ?",
                                 (now, rid))
                count += cur.rowcount
            return count

    # -- silences ----------------------------------------------------------------------
    def silence_add(self, silence: Silence) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (silence.id, dumps(dict(silence.matchers)), silence.starts_at,
                        silence.ends_at, silence.created_by, silence.comment,
                        dumps(dict(silence.extra))))

    def silence_remove(self, silence_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM silences WHERE id = ?",
                              (silence_id,)).rowcount > 0

    def silences(self, now: float | None = None) -> list[Silence]:
        """All silences, or with `now` only those not yet ended (active or future)."""
        sql, args = "SELECT * FROM silences", tuple[Any, ...]()
        if now is not None:
            sql, args = sql + " WHERE ends_at > ?", (now,)
        rows = self._db.execute(sql + " ORDER BY starts_at, id", args)
        return [Silence(i, json.loads(m), s, e, c, cm, json.loads(x))
                for i, m, s, e, c, cm, x in rows]

    # -- kv ----------------------------------------------------------------------------
    def kv_get(self, namespace: str, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM kv WHERE namespace = ? AND key = ?",
                               (namespace, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def kv_put(self, namespace: str, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)",
                       (namespace, key, dumps(value), time.time()))

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float, retention: Mapping[str, float]) -> int:
        """Delete rows older than their retention (keys as in `settings.Retention`)."""
        removed = 0
        with self._tx() as db:
            if "notify_log" in retention:
                removed += db.execute("DELETE FROM notify_log WHERE sent_at < ?",
                                      (now - retention["notify_log"],)).rowcount
            if "outbox_dead" in retention:
                removed += db.execute(
                    "DELETE FROM outbox WHERE state = 'dead' AND dead_at < ?",
                    (now - retention["outbox_dead"],)).rowcount
            if "silences_expired" in retention:
                removed += db.execute("DELETE FROM silences WHERE ends_at < ?",
                                      (now - retention["silences_expired"],)).rowcount
            if "instances_resolved" in retention:
                removed += db.execute(
                    "DELETE FROM instances WHERE json_extract(state, '$.resolved_at') < ?",
                    (now - retention["instances_resolved"],)).rowcount
            if "emitted" in retention:
                removed += db.execute(
                    "DELETE FROM kv WHERE instr(namespace, 'emitted') > 0 AND "
                    "updated_at < ?", (time.time() - retention["emitted"],)).rowcount
        return removed

    # WAL pages past which a checkpoint also truncates the WAL (64 MB of 4 KiB pages).
    WAL_LIMIT = 16_384

    def checkpoint(self) -> int:
        """Copy the WAL into the database on a connection of its own, without waiting
        for readers or writers (PASSIVE), so it may run in a thread while the event
        loop commits; returns the WAL pages copied. Not concurrently with itself.

        The WAL starts over once a checkpoint has copied all of it before the next
        write; under writes so constant that this never happens it would only grow, so
        past WAL_LIMIT pages the checkpoint truncates it (TRUNCATE: writers wait for it
        to finish, rare enough to be worth a bounded file)."""
        if self.path == ":memory:":
            return 0
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, isolation_level=None,
                                                 check_same_thread=False)
            self._checkpointer.execute("PRAGMA busy_timeout=5000")
        db = self._checkpointer
        _, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if log > self.WAL_LIMIT:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(0, int(copied))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._db.close()


def _notification_body(n: Notification) -> dict[str, Any]:
    body = n.to_json()
    # The routing fields are not part of the public JSON shape but must survive the
    # outbox so a rebuilt alert is identical.
    body["notify"] = list(n.alert.notify)
    return body


def _outbox_row(r: tuple[Any, ...]) -> OutboxRow:
    rid, notifier, body, state, attempts, due, created, err = r
    return OutboxRow(rid, notifier, notification_from_json(_loads(body), created),
                     state, attempts, due, created, err)


_FRESH_MAX = 10_000


def _dumps(obj: Any) -> str:
    """Stored JSON (outbox bodies, engine state): orjson, ~10x the stdlib encoder on
    the alert path; the stdlib `dumps` for what orjson refuses (integers beyond 64
    bits). The spelling may differ from `model.dumps`; only the decoded value counts."""
    try:
        return orjson.dumps(obj, default=json_default,
                            option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return dumps(obj)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
