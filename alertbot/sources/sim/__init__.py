"""Local node simulators for `alertbot demo` and tests: the registry and the harness API.

Each source kind ships a simulator module here (a real server on 127.0.0.1, port 0)
and registers one line in `SIMULATORS`: kind → "module:function", where the function
is `async def start() -> Simulator` (started and listening when it returns). The demo
harness calls `start_all()`, builds the `sources:` block of its config from each
simulator's `source_config()`, runs every `script(duration)` (the scenario that makes
the example rules fire and resolve), and finally `close_all()`. Modules are imported
lazily so a demo of one kind never imports another kind's simulator.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class Simulator(Protocol):
    """A running local simulator of one node type."""

    @property
    def url(self) -> str:
        """The main WebSocket URL (ws://127.0.0.1:PORT...)."""
        ...

    @property
    def subscribers(self) -> int:
        """How many clients are currently connected and subscribed."""
        ...

    def source_config(self) -> dict[str, Any]:
        """The `sources:` block for alertbot.yaml pointing at this simulator (incl. kind,
        extra URLs such as an RPC endpoint, and demo-friendly intervals)."""
        ...

    async def script(self, duration: float) -> None:
        """Play the demo scenario over about `duration` seconds, then return."""
        ...

    async def close(self) -> None:
        """Stop serving and drop every client."""
        ...


StartFn = Callable[[], Awaitable[Simulator]]


class StateWatch:
    """For simulators: `wait_for(predicate)` (tests and scripts wait on the simulator's
    state, never on sleeps), re-checked whenever the simulator calls `_notify()`.
    The simulator sets `self._changed = asyncio.Condition()` in its `__init__`."""

    _changed: asyncio.Condition

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds (TimeoutError after `timeout` seconds)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

SIMULATORS: dict[str, str] = {
    # kind → "module:function"; each watcher adds its line, e.g.
    # "kraken": "alertbot.sources.sim.kraken:start",
    "kaspa": "alertbot.sources.sim.kaspa:start",
    "kraken": "alertbot.sources.sim.kraken:start",
    "kakitu": "alertbot.sources.sim.kakitu:start",
    "chia": "alertbot.sources.sim.chia:start",
}


def load_starter(spec: str) -> StartFn:
    """Import "module:function" lazily."""
    module, _, attr = spec.partition(":")
    fn: StartFn = getattr(importlib.import_module(module), attr)
    return fn


async def start_all(kinds: Iterable[str] | None = None, *,
                    registry: Mapping[str, str] | None = None) -> dict[str, Simulator]:
    """Start the simulators of `kinds` (default: every registered one) concurrently.

    Unknown kinds raise KeyError before anything starts; if one simulator fails to
    start, the others are closed again and the error propagates.
    """
    reg = SIMULATORS if registry is None else registry
    wanted = list(reg) if kinds is None else list(kinds)
    missing = [k for k in wanted if k not in reg]
    if missing:
        raise KeyError(f"no simulator registered for {', '.join(missing)}; "
                       f"available: {', '.join(sorted(reg)) or 'none'}")
    results = await asyncio.gather(*(load_starter(reg[k])() for k in wanted),
                                   return_exceptions=True)
    sims = {k: r for k, r in zip(wanted, results, strict=True) if not isinstance(r, BaseException)}
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await close_all(sims)
        raise errors[0]
    return sims


def demo_sources(sims: Mapping[str, Simulator]) -> dict[str, dict[str, Any]]:
    """The `sources:` section of the demo config: one source named after each kind."""
    return {kind: sim.source_config() for kind, sim in sims.items()}


async def run_scripts(sims: Mapping[str, Simulator], duration: float) -> None:
    """Run every simulator's scenario concurrently; a failing one is logged, not fatal."""
    results = await asyncio.gather(*(s.script(duration) for s in sims.values()),
                                   return_exceptions=True)
    for kind, result in zip(sims, results, strict=True):
        if isinstance(result, Exception):
            log.error("simulator %s scenario failed: %r", kind, result)


async def close_all(sims: Mapping[str, Simulator]) -> None:
    """Close every simulator, ignoring errors (best effort at shutdown)."""
    results = await asyncio.gather(*(s.close() for s in sims.values()),
                                   return_exceptions=True)
    for kind, result in zip(sims, results, strict=True):
        if isinstance(result, Exception):
            log.warning("simulator %s did not close cleanly: %r", kind, result)
