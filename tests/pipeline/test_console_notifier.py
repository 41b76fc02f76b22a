"""Tests of the console notifier (text and JSON lines)."""

from __future__ import annotations

import io
import json

from alertbot.model import Notification
from alertbot.notifiers import NOTIFIERS
from alertbot.notifiers.settings import ConsoleSettings
from tests.pipeline.helpers import T0, alert


class Ctx:
    def __init__(self) -> None:
        self.console_stream = io.StringIO()


async def test_text_line() -> None:
    """Text format prints one line: time, status, severity, rule, text and labels."""
    ctx = Ctx()
    n = NOTIFIERS["console"].build("console", ConsoleSettings(kind="console"), ctx)
    a = alert(labels={"symbol": "BTC/USD"})
    await n.send(Notification("id1", a, "console", T0))
    line = ctx.console_stream.getvalue()
    assert line.count("\n") == 1
    assert "[FIRING] warning r: r text" in line and "symbol=BTC/USD" in line
    assert line.startswith("2023-11-14T22:13:20.000Z")


async def test_json_line() -> None:
    """JSON format prints the §2.5 object."""
    ctx = Ctx()
    n = NOTIFIERS["console"].build("c", ConsoleSettings(kind="console", format="json"), ctx)
    await n.send(Notification("id1", alert(), "c", T0))
    obj = json.loads(ctx.console_stream.getvalue())
    assert (obj["id"], obj["notifier"], obj["status"]) == ("id1", "c", "firing")
