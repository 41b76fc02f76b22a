"""Tests of SQLiteStore: every StateStore method, atomic enqueue, restart, pruning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alertbot.errors import StoreError
from alertbot.model import Alert, Notification, Severity
from alertbot.settings import Retention
from alertbot.store import InstanceRecord, Silence, SQLiteStore

T0 = 1_700_000_000.0


def _note(fp: str = "fp1", episode: int = 1, notifier: str = "console",
          reason: str = "first", status: str = "firing") -> Notification:
    alert = Alert(rule="r", status=status, reason=reason,  # type: ignore[arg-type]
                  severity=Severity.warning, fingerprint=fp, episode=episode,
                  labels={"symbol": "BTC/USD"}, text="hi", starts_at=T0, ends_at=None,
                  event=None, notify=(notifier,))
    return Notification(Notification.make_id(alert, notifier), alert, notifier, T0)


def test_instances_roundtrip_and_delete() -> None:
    """Saved instances load back; deleted ones are gone."""
    s = SQLiteStore(":memory:")
    s.save_instances([InstanceRecord("r", "a", {"x": 1}), InstanceRecord("r", "b", {})])
    s.save_instances([InstanceRecord("r", "a", {"x": 2})], deleted=["b"])
    assert s.load_instances() == [InstanceRecord("r", "a", {"x": 2})]


def test_enqueue_writes_outbox_and_notify_log() -> None:
    """enqueue makes a pending due row and the dedup record for each notification."""
    s = SQLiteStore(":memory:")
    n = _note()
    s.enqueue([n], T0)
    entry = s.last_notified("fp1", 1, "console")
    assert entry is not None and entry.reason == "first" and entry.sent_at == T0
    assert s.last_notified("fp1", 2, "console") is None
    (row,) = s.outbox_due(T0)
    assert row.id == n.id and row.state == "pending" and row.attempts == 0
    assert row.notification.alert.labels == {"symbol": "BTC/USD"}
    assert row.notification.alert.notify == ("console",)


def test_enqueue_is_atomic() -> None:
    """A failing enqueue leaves neither outbox rows nor notify-log entries."""
    s = SQLiteStore(":memory:")
    bad = _note()
    broken = Notification(bad.id, bad.alert, bad.notifier, float("nan"))
    s._db.execute("CREATE TRIGGER boom BEFORE INSERT ON notify_log "
                  "BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(sqlite3.IntegrityError):
        s.enqueue([broken], T0)
    assert s.outbox_list() == [] and s.last_notified("fp1", 1, "console") is None


def test_outbox_lifecycle() -> None:
    """Reschedule delays a row, dead hides it, retry revives it, delivered removes it."""
    s = SQLiteStore(":memory:")
    a, b = _note(notifier="a"), _note(notifier="b")
    s.enqueue([a, b], T0)
    assert s.outbox_next_due() == T0
    s.outbox_reschedule(a.id, T0 + 30, "429")
    assert [r.id for r in s.outbox_due(T0 + 1)] == [b.id]
    assert [r.id for r in s.outbox_due(T0 + 30, notifier="a")] == [a.id]
    s.outbox_dead(b.id, "400 bad request", T0 + 2)
    (dead,) = s.outbox_list("dead")
    assert dead.last_error == "400 bad request" and dead.attempts == 1
    assert s.outbox_retry(None, T0 + 3) == 1
    assert {r.id for r in s.outbox_due(T0 + 30)} == {a.id, b.id}
    s.outbox_delivered(a.id, T0 + 31)
    assert [r.id for r in s.outbox_list()] == [b.id]
    assert s.outbox_retry([b.id], T0) == 0  # only dead rows are retried


def test_silences_add_list_remove() -> None:
    """Silences persist with matchers; `now` filters out ended ones."""
    s = SQLiteStore(":memory:")
    s.silence_add(Silence("s1", {"rule": "x"}, T0, T0 + 60, comment="maint"))
    s.silence_add(Silence("s2", {"symbol": "~BTC.*"}, T0, T0 + 10))
    assert [x.id for x in s.silences()] == ["s1", "s2"]
    assert [x.id for x in s.silences(now=T0 + 20)] == ["s1"]
    assert s.silences()[0].comment == "maint"
    assert s.silence_remove("s1") and not s.silence_remove("s1")


def test_kv_roundtrip() -> None:
    """kv values are JSON and overwrite by (namespace, key)."""
    s = SQLiteStore(":memory:")
    assert s.kv_get("kakitu", "frontier") is None
    s.kv_put("kakitu", "frontier", {"a": [1, 2]})
    s.kv_put("kakitu", "frontier", {"a": [3]})
    assert s.kv_get("kakitu", "frontier") == {"a": [3]}


def test_state_survives_reopen(tmp_path: Path) -> None:
    """A file store keeps everything across close/reopen, in WAL mode."""
    path = tmp_path / "state" / "alertbot.db"
    s = SQLiteStore(path)
    s.enqueue([_note()], T0)
    s.save_instances([InstanceRecord("r", "fp1", {"pending_since": T0})])
    s.close()
    s2 = SQLiteStore(path)
    assert s2._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(s2.outbox_list()) == 1
    assert s2.load_instances()[0].state == {"pending_since": T0}
    assert s2.last_notified("fp1", 1, "console") is not None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer alertbot raises StoreError instead of being clobbered."""
    path = tmp_path / "a.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="v99"):
        SQLiteStore(path)


def test_prune_honours_retention() -> None:
    """prune drops old log entries, dead rows, expired silences and resolved instances."""
    s = SQLiteStore(":memory:")
    s.enqueue([_note("old"), _note("dead")], T0)
    s.outbox_dead(_note("dead").id, "x", T0)
    s.enqueue([_note("new")], T0 + 100)
    s.silence_add(Silence("s", {"rule": "x"}, T0, T0 + 1))
    s.save_instances([InstanceRecord("r", "gone", {"resolved_at": T0}),
                      InstanceRecord("r", "live", {"pending_since": T0})])
    ret = Retention(notify_log=50, outbox_dead=50, silences_expired=50,
                    instances_resolved=50)
    removed = s.prune(T0 + 120, dict(ret))
    assert removed == 2 + 1 + 1 + 1
    assert s.last_notified("old", 1, "console") is None
    assert s.last_notified("new", 1, "console") is not None
    assert {r.notification.alert.fingerprint for r in s.outbox_list()} == {"old", "new"}
    assert s.silences() == []
    assert [i.fingerprint for i in s.load_instances()] == ["live"]


def test_a_batch_writes_its_rows_once_and_reads_inside_it_see_them() -> None:
    """Rows enqueued inside `batch()` are written at its end; a read inside sees them."""
    s = SQLiteStore(":memory:")
    a, b = _note("fp1"), _note("fp2")
    with s.batch():
        s.enqueue([a], T0)
        entry = s.last_notified("fp1", 1, "console")    # from the queue, no flush
        assert entry is not None and entry.status == "firing"
        assert s._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
        s.enqueue([b], T0 + 1)
        assert [r.id for r in s.outbox_due(T0 + 1)] == [a.id, b.id]   # a read flushes
    assert s.outbox_count("pending") == 2
    # Rows this process enqueued come back as the very objects it enqueued...
    assert s.outbox_due(T0 + 1)[0].notification is a


def test_a_rolled_back_batch_leaves_nothing_behind() -> None:
    s = SQLiteStore(":memory:")
    with pytest.raises(RuntimeError), s.batch():
        s.enqueue([_note()], T0)
        raise RuntimeError("crash mid-tick")
    assert s.outbox_list() == [] and s.last_notified("fp1", 1, "console") is None
    assert s.notify_log() == []


def test_outbox_bodies_round_trip_what_orjson_cannot_encode(tmp_path: Path) -> None:
    """Integers beyond 64 bits and Decimals survive the outbox (stdlib JSON fallback)."""
    from decimal import Decimal

    from alertbot.model import Event
    n = _note()
    event = Event("kakitu", "payment", T0, {"amount_raw": 2**100, "amount": Decimal("1.50")})
    alert = Alert(**{**{f: getattr(n.alert, f) for f in n.alert.__dataclass_fields__},
                     "event": event})
    note = Notification(n.id, alert, n.notifier, T0)
    s = SQLiteStore(tmp_path / "a.db")
    s.enqueue([note], T0)
    s.close()
    (row,) = SQLiteStore(tmp_path / "a.db").outbox_due(T0)  # ...others are decoded
    assert row.notification.alert.event is not None
    assert row.notification.alert.event.data == {"amount_raw": 2**100, "amount": "1.50"}


def test_without_auto_checkpoint_commits_leave_the_wal_to_checkpoint(tmp_path: Path) -> None:
    """The service's store never checkpoints inside a commit (SQLite would, every 1,000
    WAL pages: a few ms of the event loop); `checkpoint()` copies the WAL into the
    database on its own connection, and the data is all there."""
    path = tmp_path / "state.db"
    s = SQLiteStore(path, auto_checkpoint=False)
    empty = path.stat().st_size
    for i in range(1500):   # one commit each: well past SQLite's 1,000-page threshold
        s.kv_put("ns", f"k{i}", {"i": i})
    assert path.stat().st_size == empty   # everything still in the WAL only
    assert s.checkpoint() > 1000
    assert path.stat().st_size > empty
    assert s.kv_get("ns", "k1499") == {"i": 1499}
    s.close()
    assert SQLiteStore(path).kv_get("ns", "k0") == {"i": 0}


def test_by_default_sqlite_checkpoints_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    s = SQLiteStore(path)
    empty = path.stat().st_size
    for i in range(1500):
        s.kv_put("ns", f"k{i}", {"i": i})
    assert path.stat().st_size > empty
    assert SQLiteStore(":memory:").checkpoint() == 0
    s.close()


def test_a_wal_past_its_limit_is_truncated_by_the_checkpoint(tmp_path: Path) -> None:
    """Constant writes may never let the WAL start over; past WAL_LIMIT pages the
    checkpoint truncates it, so the file stays bounded."""
    path = tmp_path / "state.db"
    s = SQLiteStore(path, auto_checkpoint=False)
    s.WAL_LIMIT = 200
    wal = tmp_path / "state.db-wal"
    for i in range(40):   # ~2 WAL pages per commit
        s.kv_put("ns", f"k{i}", {"i": i})
    s.checkpoint()
    assert wal.stat().st_size > 0          # under the limit: the WAL file is kept
    for i in range(300):
        s.kv_put("ns", f"k{i}", {"i": i})
    s.checkpoint()
    assert wal.stat().st_size == 0         # past it: truncated
    assert s.kv_get("ns", "k299") == {"i": 299}
    s.close()
