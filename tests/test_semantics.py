"""Acceptance tests of DESIGN §2.6, one per clause, through the real engine and pipeline.

Cases live in tests/semantics_cases.py; each runs as a dry-run replay on the virtual
clock and must produce exactly the listed notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from alertbot.cli import main
from alertbot.commands.replay import replay_lines
from alertbot.loader import load
from alertbot.model import Notification, format_time, parse_time
from alertbot.store import DB_NAME, SQLiteStore
from tests.semantics_cases import CASES, Case, Line

T0 = parse_time("2026-01-01T00:00:00Z")

BASE_CONFIG = """\
rules: [rules.yaml]
defaults: {{notify: [console], repeat: 0s, inhibit_grace: 10s}}
sources:
  kraken: {{kind: kraken, channels: {{ticker: {{symbols: [BTC/USD, ETH/USD, XRP/USD,
           A/USD, B/USD, C/USD]}}, trade: {{symbols: [BTC/USD]}}}}}}
  kakitu: {{kind: kakitu}}
  chia: {{kind: chia}}
  kaspa: {{kind: kaspa, url: "ws://127.0.0.1:18110"}}
notifiers:
  console: {{kind: console}}
{extra}"""


def jsonl(lines: Sequence[Line]) -> list[str]:
    out = []
    for line in lines:
        if len(line) == 1:
            out.append(json.dumps({"time": format_time(T0 + line[0])}))
        else:
            t, source, etype, data = line
            out.append(json.dumps({"source": source, "type": etype,
                                   "time": format_time(T0 + t), "data": data}))
    return out


def write_case(tmp_path: Path, rules: str, extra: str = "") -> Path:
    (tmp_path / "rules.yaml").write_text("rules:" + rules, encoding="utf-8")
    config = tmp_path / "alertbot.yaml"
    config.write_text(BASE_CONFIG.format(extra=extra), encoding="utf-8")
    return config


def run_case(case: Case, tmp_path: Path) -> list[tuple[str, str, str, str, int, float]]:
    loaded = load(write_case(tmp_path, case.rules, case.config))
    for argv in case.silences:
        argv = [format_time(T0 + float(a[1:])) if a.startswith("+") else a for a in argv]
        assert main(["silence", "--state-dir", str(tmp_path), "add", *argv]) == 0
    store = SQLiteStore(tmp_path / DB_NAME) if case.silences else None
    got: list[Notification] = []
    replay_lines(jsonl(case.lines), loaded, store=store, persist=False, dry_run=True,
                 on_notifications=got.extend)
    # Event-mode episodes are the engine's business (only the dedup key matters): 0.
    return [(n.alert.rule, n.alert.status, n.alert.reason, n.notifier,
             0 if n.alert.reason == "event" else n.alert.episode, n.created_at - T0)
            for n in got]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_clause(case: Case, tmp_path: Path) -> None:
    """Each §2.6 clause yields exactly its notifications (rule, status, reason, times)."""
    assert run_case(case, tmp_path) == case.expect
