"""Optional, about a minute: the watcher on a REAL farmer + harvester (chia_real_peer.md §6).

Deselected by default (`minutes`); runs with `pytest -m minutes` when chia 2.7.5 is
installed and `unshare -n` is permitted (the simulator node and farmer open P2P ports on
every interface, so everything, the watcher included, runs in a private namespace).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.chia_daemon import REPO, find_chia_bin

CHIA = find_chia_bin()


def _unshare_ok() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.minutes
@pytest.mark.realpeer
@pytest.mark.skipif(CHIA is None, reason="no chia-blockchain 2.7.5 install (ALERTBOT_CHIA_BIN)")
@pytest.mark.skipif(not _unshare_ok(), reason="`unshare -n` is not permitted here")
def test_real_farmer_and_harvester_through_the_watcher(tmp_path: Path) -> None:
    """Real farmer SPs (4, 5 skipped → missing 2), farming info and plot sync reach us once each."""
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.fakes.chia_farm",
                           str(CHIA), str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    events: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines()]

    def of(etype: str) -> list[dict[str, Any]]:
        return [e["data"] for e in events if e["type"] == etype]

    sps = of("signage_point")
    assert [s["signage_point_index"] for s in sps] == [1, 2, 3, 6, 7, 8]
    assert [s["missing_signage_points"] for s in sps] == [0, 0, 0, 2, 0, 0]
    relayed = [f for f in of("farming_info") if f["origin"] == "chia_farmer"]
    assert len(relayed) == 6 and all(f["total_plots"] == 6 for f in relayed)
    assert all(0 < f["lookup_time"] < 5 for f in relayed)
    assert of("harvester")[-1]["plots"] == 6 and of("harvester")[-1]["syncing"] is False
    assert of("blockchain_state")[0]["synced"] is True
    assert of("source_error") == []
