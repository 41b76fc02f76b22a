"""SourceManager: builds every configured source and runs each under its own runner.

Runtime classes are found through `SOURCE_CLASSES` (kind → "module:Class"), imported
lazily so `check` and other light commands never import websockets or a watcher. A
class takes `(name, settings, ctx)` and is a `WebSocketSource` driven by `SourceRunner`.
All runners share one APScheduler for their polls. A configured kind without a runtime
class is reported loudly (log + `source_error` event), never silently ignored; a runner
that crashes on a bug is logged and restarted after the reconnect cap.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
from collections.abc import Callable
from datetime import UTC
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..clock import Clock
from ..metrics import Metrics
from ..model import Event
from ..settings import Config
from ..store import StateStore
from .base import ConnectionSettings, ConnectionState, WebSocketSource
from .runner import EventContext, SourceRunner

log = logging.getLogger(__name__)

SOURCE_CLASSES: dict[str, str] = {
    "kraken": "alertbot.sources.kraken:KrakenSource",
    "kakitu": "alertbot.sources.kakitu:KakituSource",
    "chia": "alertbot.sources.chia:ChiaSource",
    "kaspa": "alertbot.sources.kaspa:KaspaSource",
}

# Kinds fed from inside the process (the built-in `alertbot` source), not by a runner.
INTERNAL_KINDS = frozenset({"alertbot"})

SourceFactory = Callable[[str, Any, EventContext], WebSocketSource]


def load_class(spec: str) -> SourceFactory:
    """Import "module:attr" and return the attribute (a source class or factory)."""
    module, _, attr = spec.partition(":")
    factory: SourceFactory = getattr(importlib.import_module(module), attr)
    return factory


class SourceManager:
    def __init__(self, config: Config, *, clock: Clock, metrics: Metrics,
                 store: StateStore | None, emit: Callable[[Event], None],
                 classes: dict[str, str] | None = None,
                 rng: random.Random | None = None) -> None:
        self.clock = clock
        self.metrics = metrics
        self.store = store
        self._emit = emit
        self._classes = SOURCE_CLASSES if classes is None else classes
        self._rng = rng or random.Random()
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.runners: dict[str, SourceRunner] = {}
        self._stopped = asyncio.Event()
        self.missing: dict[str, str] = {}       # name → why it cannot run
        for name, settings in config.sources.items():
            self._build(name, settings)

    def _context(self, name: str) -> EventContext:
        return EventContext(name, clock=self.clock, metrics=self.metrics, store=self.store,
                            emit=self._emit)

    def _build(self, name: str, settings: ConnectionSettings) -> None:
        if settings.kind in INTERNAL_KINDS:
            return
        ctx = self._context(name)
        spec = self._classes.get(settings.kind)
        try:
            if spec is None:
                raise LookupError(f"no runtime registered for kind {settings.kind!r}")
            source = load_class(spec)(name, settings, ctx)
        except Exception as exc:  # an import or construction bug must not stop the others
            log.error("source %s (%s) cannot run: %s", name, settings.kind, exc,
                      exc_info=not isinstance(exc, LookupError))
            self.missing[name] = str(exc)
            return
        self.runners[name] = SourceRunner(source, rng=random.Random(self._rng.random()))

    async def replace(self, name: str, settings: ConnectionSettings | None,
                      prepare: Callable[[WebSocketSource], None] | None = None) -> None:
        """Hot reload: stop source `name` if it runs; with `settings`, build and start it
        afresh (`prepare` sees the new source before it connects)."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.runners.pop(name, None)
        self.missing.pop(name, None)
        if settings is None:
            return
        self._build(name, settings)
        runner = self.runners.get(name)
        if runner is None:
            if name in self.missing:
                self._context(name).error("config",
                                          "source cannot run: " + self.missing[name])
            return
        if prepare is not None:
            prepare(runner.source)
        if self._scheduler is not None and not self._stopped.is_set():
            runner.attach_scheduler(self._scheduler)
            self._tasks[name] = asyncio.create_task(self._keep(runner), name=f"source:{name}")

    def states(self) -> dict[str, ConnectionState]:
        """Announced connection state of every configured runnable source."""
        out: dict[str, ConnectionState] = {n: r.state for n, r in self.runners.items()}
        out.update({n: "disconnected" for n in self.missing})
        return out

    async def run(self) -> None:
        """Run every source until `stop()` (or cancellation)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        for runner in self.runners.values():
            runner.attach_scheduler(self._scheduler)
        for name, why in self.missing.items():
            self._context(name).error("config", f"source cannot run: {why}")
        self._tasks = {n: asyncio.create_task(self._keep(r), name=f"source:{n}")
                       for n, r in self.runners.items()}
        try:
            # Runners only end when stopped; with none configured, wait for stop() too.
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            await self._stopped.wait()
        finally:
            await self.stop()

    async def _keep(self, runner: SourceRunner) -> None:
        while True:
            try:
                await runner.run()
                return
            except Exception as exc:
                runner.ctx.log.exception("source runner crashed; restarting")
                runner.ctx.error("internal", f"runner crashed: {exc!r}")
                delay = runner.settings.reconnect.max
                await self.clock.sleep_until(self.clock.now() + delay)

    async def stop(self) -> None:
        """Cancel every runner (closing its connection) and stop the poll scheduler."""
        self._stopped.set()
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
