"""Finding and opening the service's state database for the offline commands.

`alertbot silence` and `alertbot outbox` work on the same SQLite file a running service
uses (`state_dir/alertbot.db`, WAL mode, so both may have it open at once): from
`--state-dir`, else from the config's `state_dir` relative to the config file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store import SQLiteStore


def open_state_db(args: argparse.Namespace, *, must_exist: bool = False) -> SQLiteStore:
    """The store named by `args.state_dir` or `args.config`; FileNotFoundError when
    `must_exist` and there is none yet (a command that only reads must not create it)."""
    from ..store import DB_NAME, SQLiteStore

    state_dir = args.state_dir
    if state_dir is None:
        from ..loader import load

        loaded = load(args.config)
        state_dir = loaded.base_dir / loaded.config.state_dir
    path = Path(state_dir) / DB_NAME
    if must_exist and not path.exists():
        raise FileNotFoundError(f"no state database at {path}")
    return SQLiteStore(path)
