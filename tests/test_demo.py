"""`alertbot demo` as a user runs it: the real service against the four simulators."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.minutes
def test_demo_90s_every_source_fires_and_resolves() -> None:
    """Every simulator had a subscriber; every source produced firing and resolved."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "alertbot", "demo", "--duration", "90"],
                          capture_output=True, text=True, timeout=150, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    summary = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in re.findall(
        r"^\s+(\w+): simulator subscribers=(\d+) firing=(\d+) resolved=(\d+)$",
        done.stderr, re.M)}
    assert set(summary) >= {"kraken", "kakitu", "kaspa"}
    for kind, (subscribers, firing, resolved) in summary.items():
        assert subscribers >= 1 and firing >= 1 and resolved >= 1, (kind, done.stdout)
    out = done.stdout
    assert "[FIRING] warning btc-crosses-100k" in out
    assert out.count("incoming-kshs: Received 120 KSHS") == 1    # caught up, once
    assert "[RESOLVED" in out and "kaspa-node-down" in out


def test_demo_ctrl_c_exits_zero() -> None:
    """SIGINT during the demo ends it cleanly with exit 0 and a summary."""
    import signal
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "alertbot", "demo", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    first = proc.stderr.readline()                 # printed once the service started
    assert "simulators" in first
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "summary" in err
