"""Tests of the `alertbot replay` command line: output shape, errors, clock lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertbot.cli import main
from tests.test_semantics import jsonl, write_case

RULES = """
  - id: r
    source: kraken
    event: ticker
    when: {field: last, above: 10}
    for: 30s
"""


def _run(tmp_path: Path, lines: list[str], capsys: pytest.CaptureFixture[str]
         ) -> tuple[int, list[dict[str, object]], str]:
    config = write_case(tmp_path, RULES)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["replay", str(events), "-c", str(config)])
    out, err = capsys.readouterr()
    return code, [json.loads(x) for x in out.splitlines()], err


def test_prints_design_shape_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each notification is one JSON object with the §2.5 keys; logs stay off stdout."""
    code, notes, _ = _run(tmp_path, jsonl([(0, "kraken", "ticker",
                                            {"symbol": "BTC/USD", "last": "11"}), (30,)]),
                          capsys)
    assert code == 0
    (n,) = notes
    assert {"rule", "status", "reason", "severity", "fingerprint", "labels", "text",
            "starts_at", "ends_at", "notifier", "event", "id"} <= set(n)
    assert (n["rule"], n["status"], n["reason"], n["notifier"]) == ("r", "firing", "first",
                                                                    "console")
    assert n["starts_at"] == "2026-01-01T00:00:30.000Z" and n["ends_at"] is None
    assert n["event"]["data"]["last"] == 11.0  # type: ignore[index]


def test_no_implicit_advance_at_end(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A pending `for` does not fire when the input ends before its deadline."""
    code, notes, _ = _run(tmp_path, jsonl([(0, "kraken", "ticker",
                                            {"symbol": "BTC/USD", "last": 11}), (29,)]),
                          capsys)
    assert code == 0 and notes == []


@pytest.mark.parametrize(("bad", "lineno", "words"), [
    ("{not json", 2, "not JSON"),
    ('{"source": "kraken", "type": "ticker"}', 2, "time"),
    ('{"time": "yesterday"}', 2, "RFC 3339"),
    ('{"time": "2025-12-31T23:59:59Z"}', 2, "goes back"),
    ('{"source": "kraken", "type": "ticker", "time": "2026-01-01T00:00:01Z",'
     ' "data": {"last": "abc"}}', 2, "last"),
])
def test_bad_line_names_its_number(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   bad: str, lineno: int, words: str) -> None:
    """A malformed or backwards line stops the replay with exit 1 naming the line."""
    good = jsonl([(0, "kraken", "ticker", {"symbol": "BTC/USD", "last": 11})])
    code, notes, err = _run(tmp_path, [*good, bad, *jsonl([(60,)])], capsys)
    assert code == 1
    assert f"line {lineno}:" in err and words in err
    assert notes == []  # the later advance line was never reached


def test_output_before_an_error_stays(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Notifications printed before a bad line are not hidden by the error."""
    lines = jsonl([(0, "kraken", "ticker", {"symbol": "BTC/USD", "last": 11}), (40,)])
    code, notes, err = _run(tmp_path, [*lines, "oops"], capsys)
    assert code == 1 and len(notes) == 1 and "line 3:" in err


def test_config_error_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid config is reported as FILE:LINE:COL problems with exit 1."""
    config = tmp_path / "alertbot.yaml"
    config.write_text("rules: []\ndefualts: {}\n", encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text("", encoding="utf-8")
    assert main(["replay", str(events), "-c", str(config)]) == 1
    assert "alertbot.yaml:2:1:" in capsys.readouterr().err


def test_clock_line_fires_due_timers(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A {"time": ...} line alone fires what is due, stamped at the timer's deadline."""
    _, notes, _ = _run(tmp_path, jsonl([(0, "kraken", "ticker",
                                         {"symbol": "BTC/USD", "last": 11}), (500,)]),
                       capsys)
    assert [n["starts_at"] for n in notes] == ["2026-01-01T00:00:30.000Z"]
