"""Builders for pipeline tests: alerts, configs and pipelines without an engine."""

from __future__ import annotations

import dataclasses
from typing import Any

from alertbot.engine.rules import Rule
from alertbot.model import Alert, Severity
from alertbot.pipeline import Pipeline, build_pipeline
from alertbot.settings import Config
from alertbot.store import StateStore

T0 = 1_700_000_000.0


def alert(rule: str = "r", status: str = "firing", *, fp: str | None = None,
          episode: int = 1, repeat: float = 0.0, severity: Severity = Severity.warning,
          labels: dict[str, str] | None = None, notify: tuple[str, ...] = ("console",),
          reason: str | None = None, send_resolved: bool = True) -> Alert:
    """A firing (reason first) or resolved alert for rule `rule`."""
    if reason is None:
        reason = "first" if status == "firing" else "resolved"
    return Alert(rule=rule, status=status, reason=reason,  # type: ignore[arg-type]
                 severity=severity, fingerprint=fp or f"fp-{rule}", episode=episode,
                 labels=labels or {}, text=f"{rule} text", starts_at=T0,
                 ends_at=None if status == "firing" else T0 + 1, event=None,
                 notify=notify, repeat=repeat, send_resolved=send_resolved)


def resolved(a: Alert) -> Alert:
    return dataclasses.replace(a, status="resolved", reason="resolved")


def rule(rule_id: str, **extra: Any) -> Rule:
    return Rule.model_validate({"id": rule_id, "source": "kraken", "event": "ticker",
                                **extra})


def config(**extra: Any) -> Config:
    data: dict[str, Any] = {"notifiers": {"console": {"kind": "console"},
                                          "pager": {"kind": "console",
                                                    "min_severity": "critical"},
                                          "quiet": {"kind": "console",
                                                    "send_resolved": False}},
                            "defaults": {"inhibit_grace": 10}}
    data.update(extra)
    return Config.model_validate(data)


def pipeline(*, rules: tuple[Rule, ...] = (), store: StateStore | None = None,
             dry_run: bool = False, **cfg: Any) -> Pipeline:
    return build_pipeline(config(**cfg), rules, store=store, dry_run=dry_run)


def summary(notes: Any) -> list[tuple[str, str, str, float]]:
    """(rule, reason, notifier, created_at) of each notification."""
    return [(n.alert.rule, n.alert.reason, n.notifier, n.created_at) for n in notes]
