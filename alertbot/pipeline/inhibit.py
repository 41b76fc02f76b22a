"""Inhibit stage: a firing alert of a rule with `inhibits` mutes the rules it names.

Inhibitors count only while firing (silenced ones too, so the pipeline reports every
firing/resolved alert here before any muting decision). With `equal: [labels]` an
inhibition only covers targets that share those label values with the inhibitor.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..engine.rules import Inhibits, Rule
from ..model import Alert


class InhibitStage:
    def __init__(self, rules: Iterable[Rule]) -> None:
        # target rule id -> [(inhibitor rule id, equal labels)]
        self._by_target: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        self._inhibitors: set[str] = set()
        for rule in rules:
            spec: Inhibits | None = rule.inhibit_spec()
            if spec is None:
                continue
            self._inhibitors.add(rule.id)
            for target in spec.rules:
                self._by_target.setdefault(target, []).append((rule.id, tuple(spec.equal)))
        # inhibitor rule id -> fingerprint -> labels of its firing instances
        self._firing: dict[str, dict[str, dict[str, str]]] = {}

    def rebuilt(self, rules: Iterable[Rule]) -> InhibitStage:
        """A stage for new rules that remembers which kept inhibitors are firing."""
        fresh = InhibitStage(rules)
        fresh._firing = {r: fps for r, fps in self._firing.items() if r in fresh._inhibitors}
        return fresh

    def is_inhibitor(self, rule_id: str) -> bool:
        return rule_id in self._inhibitors

    def observe(self, alert: Alert) -> bool:
        """Track inhibitor state; True when this alert ended an inhibition (a release)."""
        if alert.rule not in self._inhibitors or alert.reason == "event":
            return False
        firing = self._firing.setdefault(alert.rule, {})
        if alert.status == "firing":
            firing[alert.fingerprint] = dict(alert.labels)
            return False
        return firing.pop(alert.fingerprint, None) is not None

    def inhibited(self, alert: Alert) -> bool:
        for source_rule, equal in self._by_target.get(alert.rule, ()):
            for labels in self._firing.get(source_rule, {}).values():
                if all(labels.get(k) == alert.labels.get(k) for k in equal):
                    return True
        return False
