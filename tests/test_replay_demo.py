"""The recorded example in examples/replay: every scenario fires and resolves on replay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alertbot.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "replay"


def test_replay_example_fires_and_resolves_every_scenario(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Kraken and Kaspa fire and resolve, the Chia stall too; the payment notifies once."""
    monkeypatch.chdir(EXAMPLE)
    assert main(["replay", "events.jsonl", "-c", "alertbot.yaml"]) == 0
    import json
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    for rule in ("btc-crosses-100k", "chia-signage-stalled", "kaspa-node-down"):
        statuses = [n["status"] for n in out if n["rule"] == rule]
        assert statuses == ["firing", "resolved"], rule
    assert [n["reason"] for n in out if n["rule"] == "incoming-kshs"] == ["event"]
    assert os.path.isdir(EXAMPLE)
