"""The interim `alertbot demo`: every bundled scenario fires and resolves."""

from __future__ import annotations

import pytest

from alertbot.cli import main


def test_demo_fires_and_resolves_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """Kraken, Chia and Kaspa fire and resolve; the Kakitu payment notifies once."""
    assert main(["demo", "--duration", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    for rule in ("btc-crosses-100k", "chia-signage-stalled", "kaspa-node-down"):
        assert sum(f"[FIRING] critical {rule}" in x or f"[FIRING] warning {rule}" in x
                   for x in out) == 1, rule
        assert sum("RESOLVED" in x and rule in x for x in out) == 1, rule
    assert sum("[EVENT] info incoming-kshs" in x for x in out) == 1
