"""Tests of the default per-channel rendering and escaping."""

from __future__ import annotations

from alertbot.model import Severity
from alertbot.notifiers.render import (
    escape_html,
    escape_slack,
    format_duration,
    plain_text,
    slack_payload,
    telegram_html,
)

from .samples import T0, make_notification

NASTY = "a <b>bold</b> & <!channel> <http://x|y> *z*"


def test_escape_slack_escapes_control_characters() -> None:
    """Slack mrkdwn control characters &, <, > become entities, & first."""
    assert escape_slack("<&>") == "&lt;&amp;&gt;"


def test_escape_html_escapes_markup() -> None:
    """Telegram HTML escaping turns tags into text."""
    assert escape_html("<b>&") == "&lt;b&gt;&amp;"


def test_format_duration_is_compact() -> None:
    """Durations render as 45s, 12m, 1h5m, 2d."""
    assert [format_duration(s) for s in (45, 720, 3900, 172800)] == ["45s", "12m", "1h5m",
                                                                     "2d"]


def test_user_text_cannot_inject_slack_markup() -> None:
    """A rule message with <!channel> and links arrives escaped in every mrkdwn field."""
    payload = slack_payload(make_notification(text=NASTY, labels={"k": "<!here>"}))
    dumped = str(payload)
    assert "<!channel>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt;" in payload["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in payload["text"]


def test_user_text_cannot_inject_telegram_html() -> None:
    """In Telegram HTML only our own tags appear; the user's <b> is escaped."""
    html = telegram_html(make_notification(text=NASTY))
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.startswith("\U0001F534 <b>")


def test_resolved_says_after_how_long() -> None:
    """A resolved notice carries a check mark and 'resolved after 12m'."""
    n = make_notification(status="resolved", reason="resolved", ends_at=T0 + 720)
    text = plain_text(n)
    assert text.startswith("\u2705 [RESOLVED after 12m]")


def test_repeat_is_marked_as_reminder() -> None:
    """A repeat notification says it is a reminder, with the severity marker."""
    n = make_notification(reason="repeat", severity=Severity.warning, created_at=T0 + 3600)
    assert plain_text(n).startswith("\U0001F7E0 [FIRING (reminder, firing for 1h)] warning")


def test_plain_text_keeps_user_text_as_typed() -> None:
    """The plain fallback carries the message exactly as typed."""
    assert NASTY in plain_text(make_notification(text=NASTY))
