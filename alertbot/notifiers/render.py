"""Default per-channel text of a notification, and the escaping helpers it relies on.

A rule's `message` (the alert's `text`) and its labels are plain text for every
channel: they are escaped for the channel's markup (Slack mrkdwn escapes `&<>`,
Telegram HTML escapes `&<>` too), so what the user typed arrives as typed; markup comes
only from the templates here. The headline carries a severity marker, "resolved after
12m" on a resolved notice and "reminder" on a repeat. Pure functions, stdlib only.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

from ..model import Notification, Severity, format_time

MARKERS: Mapping[Severity, str] = {
    Severity.critical: "\U0001F534",   # red circle
    Severity.warning: "\U0001F7E0",    # orange circle
    Severity.info: "\U0001F535",       # blue circle
}
RESOLVED_MARKER = "\u2705"             # check mark
SLACK_SECTION_LIMIT = 3000


def severity_marker(n: Notification) -> str:
    """The emoji that leads every message: severity colour, or a check when resolved."""
    if n.alert.status == "resolved":
        return RESOLVED_MARKER
    return MARKERS.get(n.alert.severity, "")


def escape_slack(text: str) -> str:
    """Slack mrkdwn: only `&`, `<` and `>` are control characters (in that order)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_html(text: str) -> str:
    """Telegram HTML: escape `&`, `<`, `>` (quotes are fine outside attributes)."""
    return html.escape(text, quote=False)


def format_duration(seconds: float) -> str:
    """Compact human duration: 45s, 12m, 1h5m, 2d3h."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def status_phrase(n: Notification) -> str:
    """FIRING / RESOLVED after 12m / reminder / EVENT, as plain text."""
    a = n.alert
    if a.status == "resolved":
        if a.ends_at is not None:
            return f"RESOLVED after {format_duration(a.ends_at - a.starts_at)}"
        return "RESOLVED"
    if a.reason == "repeat":
        return f"FIRING (reminder, firing for {format_duration(n.created_at - a.starts_at)})"
    if a.reason == "event":
        return "EVENT"
    return "FIRING"


def headline(n: Notification, escape: Callable[[str], str] = str) -> str:
    """`<marker> [STATUS] severity rule: text` with user text escaped by `escape`."""
    a = n.alert
    text = a.text.strip() or a.rule
    return (f"{severity_marker(n)} [{status_phrase(n)}] {a.severity} "
            f"{escape(a.rule)}: {escape(text)}")


def labels_line(labels: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    return ", ".join(f"{escape(k)}={escape(str(v))}" for k, v in sorted(labels.items()))


def plain_text(n: Notification) -> str:
    """The plain-text rendering (Slack's `text` fallback, console, logs)."""
    lines = [headline(n)]
    if n.alert.labels:
        lines.append(labels_line(n.alert.labels))
    lines.append(f"since {format_time(n.alert.starts_at)}")
    return "\n".join(lines)


def telegram_html(n: Notification) -> str:
    """Telegram HTML body: bold headline, labels in <code>, all user text escaped."""
    a = n.alert
    text = a.text.strip() or a.rule
    lines = [f"{severity_marker(n)} <b>[{status_phrase(n)}] {a.severity} "
             f"{escape_html(a.rule)}</b>", escape_html(text)]
    if a.labels:
        lines.append(f"<code>{labels_line(a.labels, escape_html)}</code>")
    lines.append(f"<i>since {format_time(a.starts_at)}</i>")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def slack_payload(n: Notification) -> dict[str, Any]:
    """Incoming-webhook body: Block Kit blocks plus a plain `text` fallback.

    The fallback is what notifications and screen readers show; `mrkdwn` escaping is
    applied to every user-supplied string placed in a mrkdwn field (escaping before
    clipping could cut an entity in half, so clip the raw text first).
    """
    a = n.alert
    text = _clip(a.text.strip() or a.rule, SLACK_SECTION_LIMIT - 200)
    title = (f"{severity_marker(n)} *[{status_phrase(n)}] {a.severity}* "
             f"{escape_slack(a.rule)}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape_slack(text)}},
    ]
    context = [f"since {format_time(a.starts_at)}"]
    if a.labels:
        context.insert(0, _clip(labels_line(a.labels), 1500))
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": escape_slack(c)}
                                for c in context]})
    # `text` is the notification fallback; Slack parses it as mrkdwn too, so escape it.
    fallback = escape_slack(_clip(headline(n), SLACK_SECTION_LIMIT))
    return {"text": fallback, "blocks": blocks, "unfurl_links": False,
            "unfurl_media": False}


def template_context(n: Notification) -> dict[str, Any]:
    """What a notifier `template` sees: the notification JSON (DESIGN §2.5) plus the
    event's fields under `data`, `status_phrase` ("RESOLVED after 12m", "FIRING
    (reminder, ...)"), `marker` (the severity emoji) and `duration` (seconds firing)."""
    obj = n.to_json()
    a = n.alert
    end = a.ends_at if a.ends_at is not None else n.created_at
    obj.update(data=dict(a.event.data) if a.event is not None else {},
               status_phrase=status_phrase(n), marker=severity_marker(n),
               duration=max(0.0, end - a.starts_at))
    return obj


def custom_text(n: Notification, template: str | None) -> str | None:
    """The notifier's own `template` rendered for `n`, or None when it has none."""
    if not template:
        return None
    from ..templates import compile_template
    return compile_template(template)(template_context(n)).strip() or n.alert.rule

