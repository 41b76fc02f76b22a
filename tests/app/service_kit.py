"""Shared kit for service tests: a temp config dir, a running Service, waiting helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alertbot.app import Options, Service
from alertbot.loader import load


def write_config(root: Path, config: dict[str, Any], rules: str) -> Path:
    """Write alertbot.yaml (JSON is YAML) and rules/main.yaml; return the config path."""
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "main.yaml").write_text(rules)
    config = {"state_dir": "state", "rules": ["rules/"], "http": {"listen": "127.0.0.1:0"},
              **config}
    path = root / "alertbot.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


@asynccontextmanager
async def running(path: Path, **options: Any) -> AsyncIterator[Service]:
    service = Service(load(path), Options(**options))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def until(predicate: Callable[[], bool], timeout: float = 5.0,
                step: asyncio.Event | None = None) -> None:
    """Poll `predicate` on every loop turn (no fixed sleeps) until true or timeout."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
