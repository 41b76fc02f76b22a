"""Restart tests across real `alertbot replay --state-dir` subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.test_semantics import jsonl

CONFIG = """\
state_dir: ./state
rules: [rules.yaml]
defaults: {{notify: [{notifier}], repeat: 0s}}
sources:
  kraken: {{kind: kraken, channels: {{ticker: {{symbols: [BTC/USD]}}}}}}
notifiers:
  out: {{kind: console, format: json}}
  hook: {{kind: webhook, url: "http://127.0.0.1:{port}/alerts"}}
"""

RULES = """\
rules:
  - id: now
    source: kraken
    event: ticker
    when: {field: last, above: 10}
  - id: held
    source: kraken
    event: ticker
    when: {field: bid, above: 10}
    for: 30s
"""


def setup(tmp_path: Path, notifier: str = "out", port: int = 9) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "alertbot.yaml"
    config.write_text(CONFIG.format(notifier=notifier, port=port), encoding="utf-8")
    return config


def replay(tmp_path: Path, config: Path, lines: list[Any], *extra: str
           ) -> subprocess.CompletedProcess[str]:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(jsonl(lines)) + "\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "alertbot", "replay", str(events), "-c", str(config),
         "--state-dir", str(tmp_path / "state"), *extra],
        capture_output=True, text=True, timeout=60, check=False)


def tick(t: float, last: float, bid: float) -> tuple[float, str, str, dict[str, Any]]:
    return (t, "kraken", "ticker", {"symbol": "BTC/USD", "last": last, "bid": bid})


def test_second_replay_continues_without_duplicates(tmp_path: Path) -> None:
    """Across two replays: one first, one resolved; pending `for` keeps its start."""
    config = setup(tmp_path)
    one = replay(tmp_path, config, [tick(0, 11, 11), tick(10, 12, 12)], "--send")
    assert one.returncode == 0, one.stderr
    first = [json.loads(x) for x in one.stdout.splitlines()]
    assert [(n["rule"], n["reason"]) for n in first] == [("now", "first")]
    two = replay(tmp_path, config, [tick(35, 12, 12), tick(40, 5, 5)], "--send")
    assert two.returncode == 0, two.stderr
    second = [json.loads(x) for x in two.stdout.splitlines()]
    assert [(n["rule"], n["reason"]) for n in second] == [
        ("held", "first"), ("now", "resolved"), ("held", "resolved")]
    held = second[0]
    assert held["pending_since"] == "2026-01-01T00:00:00.000Z"
    assert held["starts_at"] == "2026-01-01T00:00:35.000Z"


def test_dry_run_leaves_no_notify_log(tmp_path: Path) -> None:
    """Without --send, a second replay of the same state notifies again (nothing logged)."""
    config = setup(tmp_path)
    one = replay(tmp_path, config, [tick(0, 11, 0)])
    two = replay(tmp_path, config, [tick(10, 12, 0)])
    assert [json.loads(x)["reason"] for x in one.stdout.splitlines()] == ["first"]
    assert [json.loads(x)["reason"] for x in two.stdout.splitlines()] == ["first"]


class _Hook(BaseHTTPRequestHandler):
    status = 503
    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(self.headers.get("webhook-id", "") + f" {self.status}")
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def hook_server() -> Iterator[ThreadingHTTPServer]:
    _Hook.status, _Hook.received = 503, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_second_replay_first_delivers_leftovers(tmp_path: Path,
                                               hook_server: ThreadingHTTPServer) -> None:
    """What the first --send run could not deliver goes out first in the next run."""
    config = setup(tmp_path, "hook", hook_server.server_address[1])
    one = replay(tmp_path, config, [tick(0, 11, 0)], "--send", "--max-wait", "2")
    assert one.returncode == 1 and "undelivered" in one.stderr
    assert _Hook.received and all(r.endswith(" 503") for r in _Hook.received)
    msg_id = _Hook.received[0].split()[0]
    _Hook.status = 200
    two = replay(tmp_path, config, [], "--send", "--max-wait", "20")
    assert two.returncode == 0, two.stderr
    assert _Hook.received[-1] == f"{msg_id} 200"
    assert sum(r.endswith(" 200") for r in _Hook.received) == 1
