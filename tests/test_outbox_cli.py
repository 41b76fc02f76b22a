"""Tests of `alertbot outbox list|retry` on a real state directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertbot.cli import main
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import WebhookSettings
from alertbot.notifiers.webhook import build
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import DB_NAME, SQLiteStore
from tests.fakes.clock import FakeClock
from tests.fakes.http_receiver import HttpReceiver, Reply
from tests.notifiers.samples import make_notification


async def dead_letter_via_400(state_dir: Path, clock: FakeClock) -> tuple[str, str]:
    """Deliver one notification that gets a 400 and one that stays pending."""
    store = SQLiteStore(state_dir / DB_NAME)
    settings = WebhookSettings.model_validate({"kind": "webhook", "url": "http://x"})
    async with HttpReceiver([Reply(400, "schema mismatch")]) as rx:
        settings = settings.model_copy(update={"url": rx.url})
        worker = DeliveryWorker(store, {"hook": build("hook", settings, NotifierContext())},
                                clock=clock)
        dead = make_notification("hook")
        store.enqueue([dead], clock.now())
        assert await worker.drain(5.0)
        await worker.aclose()
    later = make_notification("other", rule="later")
    store.enqueue([later], clock.now() + 3600)
    store.outbox_reschedule(later.id, clock.now() + 3600, "HTTP 503: busy")
    store.close()
    return dead.id, later.id


async def test_list_shows_dead_with_last_error(tmp_path: Path, clock: FakeClock,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A 400 dead letter is listed with its error; the pending row with its next try."""
    dead_id, pending_id = await dead_letter_via_400(tmp_path, clock)
    assert main(["outbox", "--state-dir", str(tmp_path), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    dead_line = next(x for x in lines if x.startswith(dead_id))
    assert " dead " in dead_line and "HTTP 400: schema mismatch" in dead_line
    assert "attempts=1" in dead_line
    pending_line = next(x for x in lines if x.startswith(pending_id))
    assert "pending" in pending_line and "HTTP 503: busy" in pending_line


async def test_list_json_filtered(tmp_path: Path, clock: FakeClock,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`list --state dead --json` prints only dead rows as JSON lines."""
    dead_id, _ = await dead_letter_via_400(tmp_path, clock)
    assert main(["outbox", "--state-dir", str(tmp_path), "list", "--state", "dead",
                 "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["state"], r["notifier"]) for r in rows] == [(dead_id, "dead",
                                                                      "hook")]


async def test_retry_by_id_and_all(tmp_path: Path, clock: FakeClock,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """retry ID re-queues that dead letter; an unknown id fails; --all needs no ids."""
    dead_id, _ = await dead_letter_via_400(tmp_path, clock)
    assert main(["outbox", "--state-dir", str(tmp_path), "retry", dead_id]) == 0
    store = SQLiteStore(tmp_path / DB_NAME)
    assert [r.id for r in store.outbox_list("dead")] == []
    assert dead_id in {r.id for r in store.outbox_list("pending")}
    store.close()
    assert main(["outbox", "--state-dir", str(tmp_path), "retry", "nope"]) == 1
    assert "no outbox row 'nope'" in capsys.readouterr().err
    assert main(["outbox", "--state-dir", str(tmp_path), "retry", "--all"]) == 0
    assert main(["outbox", "--state-dir", str(tmp_path), "retry"]) == 2


def test_missing_state_dir_is_an_error(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A state dir without a database is reported, not created."""
    assert main(["outbox", "--state-dir", str(tmp_path / "none"), "list"]) == 1
    assert "no state database" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
