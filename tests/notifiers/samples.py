"""Sample notifications for notifier and delivery tests."""

from __future__ import annotations

from alertbot.model import Alert, Event, Notification, Reason, Severity, Status

T0 = 1_700_000_000.0


def make_notification(notifier: str = "hook", *, rule: str = "btc_high",
                      text: str = "BTC above 100000", status: Status = "firing",
                      reason: Reason = "first", severity: Severity = Severity.critical,
                      labels: dict[str, str] | None = None, starts_at: float = T0,
                      ends_at: float | None = None, created_at: float = T0,
                      fingerprint: str = "fp0001", seq: int = 0) -> Notification:
    """One notification addressed to `notifier` (ids stable for equal arguments)."""
    alert = Alert(rule=rule, status=status, reason=reason, severity=severity,
                  fingerprint=fingerprint, episode=1,
                  labels=labels if labels is not None else {"symbol": "BTC/USD"},
                  text=text, starts_at=starts_at, ends_at=ends_at,
                  event=Event("kraken", "ticker", starts_at, {"last": "100001.5"}),
                  notify=(notifier,))
    return Notification(Notification.make_id(alert, notifier, seq), alert, notifier,
                        created_at)
