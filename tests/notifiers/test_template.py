"""A notifier's own `template` replaces its default layout (console, Slack, Telegram)."""

from __future__ import annotations

import io
from pathlib import Path

from alertbot.loader import check
from alertbot.notifiers.console import ConsoleNotifier
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.render import custom_text
from alertbot.notifiers.settings import ConsoleSettings, SlackSettings
from alertbot.notifiers.slack import build as build_slack
from alertbot.notifiers.telegram_format import render, text_lines
from tests.fakes.http_receiver import HttpReceiver

from .samples import make_notification

TEMPLATE = "{{ marker }} {{ rule }} {{ status_phrase }}: last {{ data.last }} <b>"


def test_custom_text_sees_notification_and_event_fields() -> None:
    """The template gets the notification JSON, the event data and the status phrase."""
    n = make_notification(status="resolved", ends_at=1_700_000_720.0)
    assert custom_text(n, TEMPLATE) == "✅ btc_high RESOLVED after 12m: last 100001.5 <b>"
    assert custom_text(n, None) is None


async def test_console_and_slack_use_the_template() -> None:
    """Console prints it after the time; Slack sends it as text and one escaped block."""
    out = io.StringIO()
    console = ConsoleNotifier("c", ConsoleSettings(kind="console", template=TEMPLATE), out)
    await console.send(make_notification("c"))
    assert out.getvalue().split(" ", 1)[1] == (
        "\U0001F534 btc_high FIRING: last 100001.5 <b>\n")
    async with HttpReceiver() as rx:
        slack = build_slack("s", SlackSettings.model_validate(
            {"kind": "slack", "webhook_url": rx.url + "/hook", "template": TEMPLATE}),
            NotifierContext())
        await slack.send(make_notification("s"))
        await slack.aclose()
    body = rx.requests[0].json()
    assert body["text"] == "\U0001F534 btc_high FIRING: last 100001.5 <b>"
    assert body["blocks"][0]["text"]["text"].endswith("&lt;b&gt;")


def test_telegram_escapes_template_output() -> None:
    """Template output is user text: escaped for HTML like any message text."""
    text = custom_text(make_notification(), TEMPLATE)
    assert text is not None
    assert render(text_lines(text), "HTML").endswith("100001.5 &lt;b&gt;")


def test_check_locates_a_broken_notifier_template(tmp_path: Path) -> None:
    """A notifier template that does not compile is a located `check` error."""
    (tmp_path / "rules").mkdir()
    config = tmp_path / "alertbot.yaml"
    config.write_text("notifiers:\n  c:\n    kind: console\n    template: \"{{ rule \"\n")
    problems, _ = check(config)
    assert [str(p).split(": ", 1)[0] for p in problems] == [f"{config}:4:15"]
    assert "template does not compile" in str(problems[0])
