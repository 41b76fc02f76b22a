"""The service behind `alertbot run`: every part wired together, started and stopped.

`Service` owns the state store, the engine and pipeline (through `Runtime`), the event
pump, the delivery worker and its notifiers, the source manager, the self-watch (the
built-in `alertbot` source, readiness, heartbeat), the ops HTTP endpoint, housekeeping
and hot reload (`reload.py`). Start-up order makes sure nothing is lost: state is
restored before any source connects; shutdown stops the sources first, evaluates what
is queued, then gives the outbox a bounded time to drain — whatever is left stays in
SQLite for the next start. Nothing here evaluates or delivers itself: it only wires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .clock import Clock, SystemClock
from .digest import Digest, next_run
from .engine import Engine
from .httpserver import OpsServer, Probe
from .loader import Loaded
from .metrics import Metrics
from .model import Alert
from .notifiers import NOTIFIERS
from .notifiers.base import Notifier
from .notifiers.http import NotifierContext
from .pipeline import build_pipeline, dedup_windows
from .pipeline.delivery import DeliveryWorker
from .prommetrics import PrometheusMetrics
from .pump import EventPump
from .runtime import Runtime
from .sources.base import ConnectionSettings, WebSocketSource
from .sources.interest import Interest, apply_interest, rule_interest
from .sources.manager import SourceManager
from .store import DB_NAME, SQLiteStore
from .watchdog import (
    ALIVE_WITHIN,
    BACKLOG_INTERVAL,
    SELF_KIND,
    WATCHED_TYPES,
    SelfWatch,
    every,
)

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 3600.0
CHECKPOINT_INTERVAL = 2.0   # WAL → database, off the event loop (SQLiteStore.checkpoint)


@dataclass
class Options:
    """Knobs for tests, the demo and benchmarks; defaults are what `run` uses."""

    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics | None = None
    transport: httpx.AsyncBaseTransport | None = None   # notifiers' and heartbeat's HTTP
    listen: str | None = None            # overrides http.listen ("" = no ops endpoint)
    state_dir: Path | None = None        # overrides config state_dir
    drain_timeout: float = 10.0          # shutdown: how long the outbox may drain
    watch_files: bool = True             # hot reload on file change
    source_classes: dict[str, str] | None = None
    notifiers: Mapping[str, Notifier] | None = None     # prebuilt (tests)


class Service:
    def __init__(self, loaded: Loaded, options: Options | None = None) -> None:
        self.loaded = loaded
        self.options = opts = options or Options()
        self.clock = opts.clock
        self.metrics: Metrics = opts.metrics or PrometheusMetrics()
        config = loaded.config
        state_dir = opts.state_dir or (loaded.base_dir / config.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = SQLiteStore(state_dir / DB_NAME, auto_checkpoint=False)
        self_name = next((n for n, s in config.sources.items() if s.kind == SELF_KIND), None)
        self.watch = SelfWatch(name=self_name, clock=self.clock, put=self._put,
                               self_rules=self._self_rules(loaded))
        self.engine = Engine(loaded.rules, clock=self.clock, defaults=config.defaults,
                             store=self.store, metrics=self.metrics)
        self.pipeline = build_pipeline(config, loaded.rules, store=self.store,
                                       clock=self.clock, metrics=self.metrics)
        self.runtime = Runtime(self.engine, self.pipeline, clock=self.clock,
                               on_notifications=self._on_notifications)
        self.pump = EventPump(self.runtime, clock=self.clock, metrics=self.metrics,
                              transaction=self.store.batch)
        self.worker = self._worker(loaded)
        self.sources = SourceManager(config, clock=self.clock, metrics=self.metrics,
                                     store=self.store, emit=self._emit,
                                     classes=opts.source_classes)
        self.digest = (Digest(config.digest, clock=self.clock)
                       if config.digest is not None else None)
        self.interest: dict[str, Interest] = {}
        for name, runner in self.sources.runners.items():
            self._prepare(name, runner.source)
        listen = config.http.listen if opts.listen is None else opts.listen
        self.ops = OpsServer(Probe(self.alive, self.ready, self._exposition),
                             listen) if listen else None
        self.http = httpx.AsyncClient(transport=opts.transport, timeout=10.0)
        self.started = asyncio.Event()
        self._chat_stop = asyncio.Event()
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._worker_task: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Future[int] | None = None
        self._reloader: Any = None

    # -- wiring helpers ----------------------------------------------------------------
    @staticmethod
    def _self_rules(loaded: Loaded) -> set[str]:
        """Rules alerting on dead letters: their own dead letters must not feed them."""
        names = {n for n, s in loaded.config.sources.items() if s.kind == SELF_KIND}
        return {r.id for r in loaded.rules if r.source in names and r.event == "dead_letter"}

    def _worker(self, loaded: Loaded) -> DeliveryWorker:
        config = loaded.config
        if self.options.notifiers is not None:
            notifiers = dict(self.options.notifiers)
        else:
            ctx = NotifierContext(clock=self.clock, metrics=self.metrics,
                                  transport=self.options.transport)
            notifiers = {name: NOTIFIERS[s.kind].build(name, s, ctx)
                         for name, s in config.notifiers.items()}
        return DeliveryWorker(self.store, notifiers, clock=self.clock, metrics=self.metrics,
                              max_retry_age=config.max_retry_age,
                              on_dead_letter=self.watch.on_dead_letter)

    def _prepare(self, name: str, source: WebSocketSource) -> None:
        interest = rule_interest(self.loaded.rules, name, source.kind.interest_fields)
        self.interest[name] = interest
        apply_interest(source, interest)
        s = source.settings
        self.watch.grace[name] = (s.open_timeout + s.healthy_after
                                  + s.reconnect.initial + 1.0)

    def _emit(self, event: Any) -> None:
        # Every source event passes here: one set lookup decides whether anything
        # beyond queueing is needed.
        if event.type in WATCHED_TYPES:
            self.watch.on_source_event(event)
            if self.digest is not None and event.type == "connection":
                self.digest.on_connection(event.source,
                                          event.data.get("state") == "connected")
        self.pump.put(event)

    def _put(self, event: Any) -> None:
        self.pump.put(event)

    def _on_notifications(self, batch: Any) -> None:
        if self.digest is not None:
            self.digest.on_notifications(batch)
        self.worker.wake()

    def _exposition(self) -> bytes:
        exposition = getattr(self.metrics, "exposition", None)
        self.metrics.set("alerts_firing", len(self.pipeline.firing()))
        for name in self.sources.missing:
            # Runners keep their own gauge; a source that cannot run has no runner.
            self.metrics.set("source_connected", 0.0, source=name)
        return exposition() if exposition is not None else b""

    # -- probes --------------------------------------------------------------------------
    def alive(self) -> tuple[bool, str]:
        idle = time.monotonic() - self.pump.beat
        if idle > ALIVE_WITHIN:
            return False, f"event loop stalled for {idle:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if not self.started.is_set() or self.stopping:
            return False, "starting" if not self.stopping else "stopping"
        return self.watch.ready(list(self.sources.runners) + list(self.sources.missing))

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Restore state, then start delivery, the pump, the sources and the jobs."""
        self.runtime.start()
        self.runtime.flush()
        release_memory()
        if self.ops is not None:
            await self.ops.start()
        self._worker_task = asyncio.create_task(self.worker.run(), name="delivery")
        self._tasks = [asyncio.create_task(self.pump.run(), name="pump"),
                       asyncio.create_task(self.sources.run(), name="sources")]
        self._start_jobs()
        self._start_chat()
        if self.options.watch_files and self.loaded.config_path is not None:
            from .reload import Reloader
            self._reloader = Reloader(self)
            self._tasks.append(asyncio.create_task(self._reloader.watch(), name="reload"))
        self.started.set()
        log.info("alertbot running: %d rules, %d sources, %d notifiers",
                 len(self.loaded.rules), len(self.sources.runners),
                 len(self.loaded.config.notifiers))

    def control(self) -> Any:
        """The ServiceControl the Telegram chat commands act through."""
        from .control import LocalControl, rule_infos
        return LocalControl(
            store=self.store, clock=self.clock,
            # Lambdas, not bound methods: a reload may replace the pipeline.
            firing=lambda: self.pipeline.firing(), ack=lambda fp: self.pipeline.ack(fp),
            states=self.sources.states, rules=lambda: rule_infos(self.loaded.rules),
            on_silences_changed=lambda: self.pipeline.stages.silence.reload(
                self.clock.now()))

    def _start_chat(self) -> None:
        notifiers = self.loaded.config.notifiers
        if not any(getattr(s, "commands", False) for s in notifiers.values()):
            return
        from .chat import run_all_commands  # python-telegram-bot only when asked for
        self._tasks.append(asyncio.create_task(
            run_all_commands(notifiers, self.control(), stop=self._chat_stop),
            name="telegram-commands"))

    def _start_jobs(self) -> None:
        config = self.loaded.config
        jobs = [self._job(PRUNE_INTERVAL, self.prune, "prune"),
                self._job(CHECKPOINT_INTERVAL, self.checkpoint, "checkpoint")]
        if self.watch.name is not None:
            jobs.append(self._job(BACKLOG_INTERVAL, self.backlog, "backlog"))
        if config.heartbeat_url:
            jobs.append(self._job(config.heartbeat_interval, self.heartbeat, "heartbeat"))
        if self.digest is not None:
            jobs.append(asyncio.create_task(self._daily_digest(), name="digest"))
        self._tasks += jobs

    async def _daily_digest(self) -> None:
        assert self.digest is not None
        held = Counter(self.pipeline.suppressed)
        while True:
            await self.clock.sleep_until(next_run(self.clock.now(), self.digest.settings))
            now_held = Counter(self.pipeline.suppressed)
            self.digest.send(self.store, now_held - held)
            held = now_held
            self.worker.wake()

    def _job(self, interval: float, fn: Any, name: str) -> asyncio.Task[None]:
        # The first due time is fixed now, not when the task first runs.
        due = self.clock.now() + interval
        return asyncio.create_task(every(self.clock, interval, fn, due), name=name)

    async def prune(self) -> None:
        retention = self.loaded.config.retention
        # Attribute values, not model_dump(): Duration serialises back to "7d" text.
        removed = self.store.prune(self.clock.now(), {
            name: float(getattr(retention, name)) for name in type(retention).model_fields})
        if removed:
            log.info("retention: pruned %d old rows", removed)

    async def checkpoint(self) -> None:
        # Shielded and remembered: stop() cancels the job but waits for a checkpoint
        # already running in its thread before it closes the store under it.
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self.store.checkpoint))
        await asyncio.shield(self._checkpointing)

    async def backlog(self) -> None:
        await self.watch.check_backlog(self.store, self.loaded.config.notifiers)

    async def heartbeat(self) -> None:
        url = self.loaded.config.heartbeat_url
        if url:
            await self.watch.heartbeat(self.http, url, lambda: self.alive()[0])

    async def reload(self) -> bool:
        """Re-read config and rules now (SIGHUP); False when rejected."""
        from .reload import Reloader
        if self._reloader is None:
            self._reloader = Reloader(self)
        ok: bool = await self._reloader.reload()
        return ok

    async def stop(self) -> None:
        """Stop sources, evaluate what is queued, drain the outbox (bounded), close."""
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping: sources first, then the queue, then the outbox")
        self._chat_stop.set()
        await self.sources.stop()
        self.pump.stop()
        await cancel_all(self._tasks)
        self.pump.drain()
        self.runtime.flush()
        delivered = await self.worker.drain(self.options.drain_timeout)
        if not delivered:
            log.warning("outbox not empty after %gs; the rest goes out on the next start",
                        self.options.drain_timeout)
        if self._worker_task is not None:
            await cancel_all([self._worker_task])
        await self.worker.aclose()
        await self.http.aclose()
        if self.ops is not None:
            await self.ops.close()
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        self.store.close()

    async def run_until(self, stop: asyncio.Event) -> int:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
        return 0

    # -- used by reload and chat commands --------------------------------------------------
    def firing(self) -> list[Alert]:
        return self.pipeline.firing()

    def swap_rules(self, loaded: Loaded) -> None:
        self.engine.swap(loaded.rules)
        self.pipeline.swap_rules(loaded.rules, dedup_windows(loaded.rules))
        self.watch.self_rules = frozenset(self._self_rules(loaded))

    async def replace_source(self, name: str, settings: ConnectionSettings | None) -> None:
        self.watch.states.pop(name, None)
        await self.sources.replace(name, settings,
                                   lambda source: self._prepare(name, source))


async def cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has finished unwinding."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def release_memory() -> None:
    """Hand the heap the YAML parse left behind back to the OS (glibc only).

    Loading 10,000 rules through ruamel and pydantic leaves tens of MB of freed but
    fragmented heap; `malloc_trim` returns what it can, so RSS reflects what is live.
    """
    import contextlib
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    # Not glibc (musl, macOS): nothing to trim.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)

