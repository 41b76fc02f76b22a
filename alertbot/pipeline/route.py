"""Route stage: which notifiers an alert goes to.

The alert's own `notify` list (the rule's, with defaults applied) or else the config
default; then each notifier's `min_severity`, and for resolved notices both the
notifier's and the rule's `send_resolved`. Unknown notifier names are `check` errors;
here they are skipped with one warning each.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..model import Alert
from ..notifiers.base import NotifierSettings

log = logging.getLogger(__name__)


class RouteStage:
    def __init__(self, notifiers: Mapping[str, NotifierSettings],
                 default: Sequence[str]) -> None:
        self.notifiers = dict(notifiers)
        self.default = tuple(default)
        self._warned: set[str] = set()

    def targets(self, alert: Alert) -> list[str]:
        out: list[str] = []
        for name in alert.notify or self.default:
            settings = self.notifiers.get(name)
            if settings is None:
                if name not in self._warned:
                    self._warned.add(name)
                    log.warning("rule %s notifies unknown notifier %r; skipped",
                                alert.rule, name)
                continue
            if alert.severity < settings.min_severity:
                continue
            if alert.status == "resolved" and not (settings.send_resolved
                                                   and alert.send_resolved):
                continue
            out.append(name)
        return out
