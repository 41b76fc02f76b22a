"""The notification pipeline: silence → inhibit → route → dedup → outbox.

`build_pipeline` is the one place the stage order is written; each stage lives in its
own module and `core.Pipeline` carries the state between them (firing and held-back
instances, acks, repeat and release timers). Delivery and retries are the delivery
worker's (`pipeline/delivery.py`), which drains the outbox this pipeline fills.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..clock import Clock
from ..engine.rules import Rule
from ..metrics import Metrics
from ..settings import Config
from ..store import StateStore
from .core import Pipeline, Stages
from .dedup import DedupStage
from .inhibit import InhibitStage
from .outbox import OutboxStage
from .route import RouteStage
from .silence import SilenceStage

__all__ = ["Pipeline", "build_pipeline", "dedup_windows"]


def dedup_windows(rules: Iterable[Rule]) -> dict[str, float]:
    """Rule id → its own event-mode dedup_window (others use the config default)."""
    return {r.id: r.dedup_window for r in rules if r.dedup_window is not None}


def build_pipeline(config: Config, rules: Iterable[Rule], *, store: StateStore | None,
                   clock: Clock | None = None, metrics: Metrics | None = None,
                   dry_run: bool = False) -> Pipeline:
    """Compose the stages for `config` and `rules` (rules with defaults applied).

    `clock` is accepted for symmetry with the engine; every pipeline decision takes
    its time from the caller (`submit`/`advance`), which keeps replays deterministic.
    """
    rules = list(rules)
    stages = Stages(
        silence=SilenceStage(config.silences, store),
        inhibit=InhibitStage(rules),
        route=RouteStage(config.notifiers, config.defaults.notify),
        dedup=DedupStage(store),
        outbox=OutboxStage(store, dry_run=dry_run),
    )
    return Pipeline(stages, inhibit_grace=config.defaults.inhibit_grace,
                    dedup_windows=dedup_windows(rules),
                    default_dedup_window=config.defaults.dedup_window, metrics=metrics)
