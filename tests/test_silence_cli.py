"""Tests of `alertbot silence add|list|remove` against a state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertbot.cli import main
from alertbot.model import parse_time
from alertbot.store import DB_NAME, SQLiteStore


def test_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """add prints an id that list shows and remove deletes."""
    d = str(tmp_path)
    assert main(["silence", "--state-dir", d, "add", "rule=price", "symbol=~BTC/.*",
                 "--duration", "2h", "--comment", "maintenance"]) == 0
    sid = capsys.readouterr().out.strip()
    assert main(["silence", "--state-dir", d, "list"]) == 0
    listed = capsys.readouterr().out
    assert sid in listed and "rule=price" in listed and "maintenance" in listed
    (s,) = SQLiteStore(tmp_path / DB_NAME).silences()
    assert s.ends_at - s.starts_at == 7200 and s.matchers["symbol"] == "~BTC/.*"
    assert main(["silence", "--state-dir", d, "remove", sid]) == 0
    assert main(["silence", "--state-dir", d, "remove", sid]) == 1


def test_add_with_explicit_window(tmp_path: Path) -> None:
    """--starts/--ends set the exact window."""
    assert main(["silence", "--state-dir", str(tmp_path), "add", "rule=x",
                 "--starts", "2026-01-01T00:00:00Z", "--ends", "2026-01-01T01:00:00Z"]) == 0
    (s,) = SQLiteStore(tmp_path / DB_NAME).silences()
    assert s.starts_at == parse_time("2026-01-01T00:00:00Z")
    assert s.ends_at == parse_time("2026-01-01T01:00:00Z")


@pytest.mark.parametrize("argv", [["noequals"], ["a=~("], ["rule=x", "--duration", "1h",
                                                             "--ends", "2030-01-01T00:00:00Z"]])
def test_add_rejects_bad_input(tmp_path: Path, argv: list[str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed matchers, bad regexes and conflicting windows exit 2 with a message."""
    assert main(["silence", "--state-dir", str(tmp_path), "add", *argv]) == 2
    assert "alertbot silence add:" in capsys.readouterr().err
