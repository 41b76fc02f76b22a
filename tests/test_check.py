"""`alertbot check` end to end, as a subprocess: snapshot of broken files, the example
config, secrets never printed, and the time to check 1,000 rule files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("tests/data/check")


def _check(*args: str, env: dict[str, str] | None = None,
           cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "ALERTBOT_CONFIG"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "alertbot", "check", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=60)


def test_broken_rules_snapshot() -> None:
    """Every broken rule file yields its exact FILE:LINE:COL line, sorted; exit 1."""
    result = _check("-c", str(DATA / "broken" / "alertbot.yaml"))
    expected = (ROOT / DATA / "broken" / "expected.txt").read_text()
    assert result.stdout == expected
    assert result.returncode == 1
    files = {line.split(":")[0] for line in expected.splitlines() if ":" in line}
    assert len(files) >= 10


def test_example_config_and_rules_pass() -> None:
    """The example config with the seed rules in rules/ passes with a summary line."""
    result = _check("-c", "deploy/alertbot.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith("files OK") and " rules in " in last
    seeds = {"kraken", "kakitu", "chia", "kaspa", "alertbot"}
    listed = {p.stem for p in (ROOT / "rules").glob("*.yaml")}
    assert seeds <= listed


def test_config_from_environment_variable(tmp_path: Path) -> None:
    """Without -c, $ALERTBOT_CONFIG names the config file."""
    (tmp_path / "r").mkdir()
    (tmp_path / "c.yaml").write_text("rules: [r/]\n")
    (tmp_path / "r" / "a.yaml").write_text(
        "rules:\n  - {id: x, source: alertbot, event: dead_letter, mode: event}\n")
    result = _check(env={"ALERTBOT_CONFIG": str(tmp_path / "c.yaml")})
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "1 rules in 1 files OK"


def test_missing_env_variable_named_and_no_secret_printed(tmp_path: Path) -> None:
    """A missing ${VAR} is named at its line; other secret values never appear."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "slack.secret").write_text("file-secret-value-9\n")
    (tmp_path / "alertbot.yaml").write_text(
        "notifiers:\n"
        "  ops: {kind: telegram, token: \"${ALERTBOT_TEST_MISSING_TOKEN}\", chat_id: 1}\n"
        "  hook: {kind: webhook, url: \"http://127.0.0.1/x\", secret: \"${HOOK_SECRET}\"}\n"
        "  team: {kind: slack, webhook_url_file: slack.secret}\n"
        "  bad: {kind: webhook, url: 5, secret: \"${HOOK_SECRET}\", timeout: never}\n")
    result = _check("-c", str(tmp_path / "alertbot.yaml"),
                    env={"HOOK_SECRET": "env-secret-value-7"})
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert ":2:32: environment variable ${ALERTBOT_TEST_MISSING_TOKEN} is not set" in out
    assert "env-secret-value-7" not in out
    assert "file-secret-value-9" not in out


def test_thousand_rule_files_checked_quickly(tmp_path: Path) -> None:
    """1,000 rule files check as a subprocess well within the bound (time printed)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (tmp_path / "alertbot.yaml").write_text(
        "rules: [rules/]\nsources:\n  kraken:\n    kind: kraken\n"
        "    channels: {ticker: {symbols: [BTC/USD, ETH/USD]}}\n")
    for i in range(1000):
        symbol = "BTC/USD" if i % 2 else "ETH/USD"
        (rules / f"r{i:04d}.yaml").write_text(
            "rules:\n"
            f"  - id: rule-{i}\n    source: kraken\n    event: ticker\n"
            f"    where: {{symbol: {symbol}}}\n"
            f"    when: {{field: last, crosses_above: {1000 + i}}}\n"
            "    for: 30s\n"
            "    message: \"{{ symbol }} at {{ last }}\"\n")
    started = time.perf_counter()
    result = _check("-c", str(tmp_path / "alertbot.yaml"))
    elapsed = time.perf_counter() - started
    print(f"\nalertbot check of 1,000 rule files: {elapsed:.2f} s")
    assert result.returncode == 0, result.stdout[-2000:]
    assert result.stdout.strip() == "1000 rules in 1000 files OK"
    assert elapsed < 10


def test_c_and_pure_parsers_give_same_marks() -> None:
    """The C-accelerated and pure-Python YAML paths yield identical data and positions."""
    from alertbot import yamlio

    text = ("# comment\nrules:\n  - id: a  # trailing\n    when: {field: x, in: [1, 2.5, 'é']}\n"
            "    message: >\n      folded\n    dedup_key: \"{{ send_hash }}\"\n")
    marks = []
    for pure in (False, True):
        node, data = yamlio._compose(yamlio._yaml(pure=pure), text)
        table = yamlio.Marks("f")
        yamlio._record(node, (), table)
        marks.append((data, table.keys, table.values))
    assert marks[0] == marks[1]
    assert marks[0][1][("rules", 0, "dedup_key")] == (7, 5)
    assert marks[0][2][("rules", 0, "when", "in", 2)] == (4, 35)


def test_warnings_alone_exit_zero(tmp_path: Path) -> None:
    """A rule on an unsubscribed symbol is a printed warning, and check still exits 0."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "alertbot.yaml").write_text(
        "sources:\n  kraken: {kind: kraken, channels: {ticker: {symbols: [BTC/USD]}}}\n")
    (tmp_path / "rules" / "eth.yaml").write_text(
        "rules:\n  - id: eth\n    source: kraken\n    event: ticker\n"
        "    where: {symbol: ETH/USD}\n    when: {field: last, above: 5000}\n")
    result = _check("-c", str(tmp_path / "alertbot.yaml"))
    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert lines[0].endswith("eth.yaml:5:21: warning: source `kraken` is not subscribed to "
                             "`ETH/USD` in its config; it will subscribe to it at run time")
    assert lines[-1] == "1 rules in 1 files OK"
