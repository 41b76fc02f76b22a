"""Hot reload: rule files and config re-read on change (watchfiles) or on SIGHUP.

A reload is all or nothing: the new config and every rule file are checked first; with
any error the old rules keep running, every problem is logged as `FILE:LINE:COL:
message` and becomes a `reload_failed` event of the `alertbot` source. A valid reload
swaps the rules in place (`Engine.swap`: a rule whose id, source, event and group_by are
unchanged keeps its state — a pending `for` fires at its original time, a half-full
`count` window stays half full — and firing alerts are not notified again), updates
what each source subscribes to (Kakitu accounts in place; Kraken symbols by
reconnecting), restarts only the sources whose block changed, and rebuilds the
pipeline and notifiers only when their parts of the config changed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Problem
from .loader import Loaded, check, rule_entry_path
from .pipeline import build_pipeline
from .sources.interest import rule_interest, update_interest

if TYPE_CHECKING:
    from .app import Service

log = logging.getLogger(__name__)

DEBOUNCE_MS = 300
PIPELINE_KEYS = ("defaults", "silences", "notifiers")


class Reloader:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._lock = asyncio.Lock()
        self.reloads = 0
        self.failures = 0

    def paths(self) -> list[Path]:
        """The config file and every configured rule path that exists."""
        loaded = self.service.loaded
        out = [] if loaded.config_path is None else [loaded.config_path]
        # The same resolution the loader uses, so every loaded rule file is covered.
        entries = (rule_entry_path(e, loaded.base_dir) for e in loaded.config.rules)
        return out + [p for p in entries if p.exists()]

    async def watch(self) -> None:
        """Reload whenever a watched file changes (YAML only), until cancelled."""
        from watchfiles import awatch

        paths = self.paths()
        if not paths:
            return
        async for changes in awatch(*paths, debounce=DEBOUNCE_MS, recursive=True,
                                    watch_filter=_yaml_only):
            log.info("files changed (%s); reloading",
                     ", ".join(sorted({Path(p).name for _, p in changes})))
            await self.reload()

    async def reload(self) -> bool:
        async with self._lock:
            service = self.service
            path = service.loaded.config_path
            if path is None:
                log.warning("reload ignored: the config was not read from a file")
                return False
            problems, new = await asyncio.to_thread(check, path)
            errors = [p for p in problems if not p.warning]
            if errors or new is None:
                self._reject(errors or problems)
                return False
            await self._apply(new)
            self.reloads += 1
            log.info("reloaded: %d rules from %d files", len(new.rules), len(new.rule_files))
            return True

    def _reject(self, problems: list[Problem]) -> None:
        self.failures += 1
        for p in problems:
            log.error("reload rejected, old rules keep running: %s", p)
        self.service.watch.on_reload_failed((p.file, str(p)) for p in problems)

    async def _apply(self, new: Loaded) -> None:
        service, old = self.service, self.service.loaded
        service.loaded = new
        service.swap_rules(new)
        if _dump(old.config, PIPELINE_KEYS) != _dump(new.config, PIPELINE_KEYS):
            self._rebuild_pipeline(new)
        if _dump(old.config, ("notifiers", "max_retry_age")) != _dump(
                new.config, ("notifiers", "max_retry_age")):
            log.warning("notifier settings changed: they take effect on the next restart")
        await self._sources(old, new)

    def _rebuild_pipeline(self, new: Loaded) -> None:
        service = self.service
        now = service.clock.now()
        pipeline = build_pipeline(new.config, new.rules, store=service.store,
                                  clock=service.clock, metrics=service.metrics)
        pipeline.restore(service.engine.firing(), now)
        service.pipeline = service.runtime.pipeline = pipeline

    async def _sources(self, old: Loaded, new: Loaded) -> None:
        service = self.service
        before, after = old.config.sources, new.config.sources
        for name in sorted(set(before) | set(after)):
            settings = after.get(name)
            if settings is None or before.get(name) != settings:
                log.info("source %s %s", name, "removed" if settings is None else "restarted")
                await service.replace_source(name, settings)
                continue
            runner = service.sources.runners.get(name)
            if runner is None:
                continue
            fresh = rule_interest(new.rules, name, runner.source.kind.interest_fields)
            if await update_interest(runner.source, service.interest.get(name, {}), fresh):
                log.info("source %s: rules ask for more; reconnecting to subscribe", name)
                await service.replace_source(name, settings)
            service.interest[name] = fresh


def _dump(config: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: getattr(config, k) for k in keys}


def _yaml_only(_change: Any, path: str) -> bool:
    return path.endswith((".yaml", ".yml"))
