"""Watching the watcher: alertbot's own trouble as events, readiness, the dead-man's switch.

`SelfWatch` turns the service's own problems into events of the built-in `alertbot`
source (`dead_letter`, `reload_failed`, `source_error`, `outbox_backlog`) so ordinary
rules can alert on them through another notifier; it remembers each source's
connection state and since when (readiness: connected, or still within its grace
after start or a drop); and it runs the clock-driven periodic jobs — the outbox backlog
check and the `heartbeat_url` ping, sent only while the event pump is alive, so the
external service notices when alertbot is stuck, not only when it is gone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

import httpx

from .clock import Clock
from .model import Event
from .store import OutboxRow, StateStore

log = logging.getLogger(__name__)

SELF_KIND = "alertbot"
BACKLOG_INTERVAL = 30.0
ALIVE_WITHIN = 60.0     # the pump went round within this many seconds: alive
# The only source event types `on_source_event` (and the digest) act on: the service
# skips the call for every other event.
WATCHED_TYPES = frozenset({"connection", "source_error"})


async def every(clock: Clock, interval: float, job: Callable[[], Awaitable[None]],
                due: float) -> None:
    """Run `job` at `due`, then every `interval` clock seconds."""
    while True:
        await clock.sleep_until(due)
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", getattr(job, "__name__", job))
        due = max(due + interval, clock.now())


class SelfWatch:
    def __init__(self, *, name: str | None, clock: Clock, put: Callable[[Event], None],
                 self_rules: Iterable[str] = ()) -> None:
        self.name = name                       # the configured `alertbot` source, if any
        self.clock = clock
        self._put = put
        self.states: dict[str, tuple[str, float]] = {}   # source → (state, since mono)
        self.grace: dict[str, float] = {}
        self.started = time.monotonic()
        self.self_rules = frozenset(self_rules)  # rules on alertbot dead_letter events

    def emit(self, etype: str, **data: object) -> None:
        if self.name is None:
            return
        self._put(Event(source=self.name, type=etype, time=self.clock.now(), data=data))

    # -- hooks the service wires ------------------------------------------------------
    def on_source_event(self, event: Event) -> None:
        """Called before queueing for each source event whose type is in WATCHED_TYPES."""
        if event.type == "connection":
            state = str(event.data.get("state", ""))
            self.states[event.source] = (state, time.monotonic())
        elif event.type == "source_error" and event.source != self.name:
            self.emit("source_error", source=event.source,
                      kind=str(event.data.get("kind", "")),
                      message=str(event.data.get("message", "")))

    def on_dead_letter(self, row: OutboxRow, error: str) -> None:
        rule = row.notification.alert.rule
        if rule in self.self_rules:
            # A self-alert that itself died must not beget another: that would loop.
            log.error("self-alert %s to %s dead-lettered: %s", rule, row.notifier, error)
            return
        self.emit("dead_letter", notifier=row.notifier, rule=rule, message=error,
                  notification_id=row.id)

    def on_reload_failed(self, problems: Iterable[tuple[str, str]]) -> None:
        for file, message in problems:
            self.emit("reload_failed", file=file, message=message)

    # -- readiness ------------------------------------------------------------------------
    def ready(self, sources: Iterable[str]) -> tuple[bool, str]:
        now, bad = time.monotonic(), []
        for name in sources:
            state, since = self.states.get(name, ("connecting", self.started))
            if state != "connected" and now - since > self.grace.get(name, 30.0):
                bad.append(f"{name} {state} for {now - since:.0f}s")
        return (not bad, "; ".join(bad) or "all sources connected")

    # -- periodic jobs ---------------------------------------------------------------------
    async def check_backlog(self, store: StateStore, notifiers: Iterable[str]) -> None:
        """One `outbox_backlog` event per notifier (zeros too, so backlog rules resolve)."""
        depth = Counter(row.notifier for row in store.outbox_list("pending"))
        for notifier in sorted(set(notifiers) | set(depth)):
            self.emit("outbox_backlog", depth=depth.get(notifier, 0), notifier=notifier)

    async def heartbeat(self, client: httpx.AsyncClient, url: str,
                        alive: Callable[[], bool]) -> None:
        if not alive():
            log.warning("event loop stalled: heartbeat withheld")
            return
        try:
            resp = await client.get(url)
            if resp.status_code >= 400:
                log.warning("heartbeat_url answered HTTP %d", resp.status_code)
        except httpx.HTTPError as exc:
            log.warning("heartbeat_url unreachable: %s", type(exc).__name__)
