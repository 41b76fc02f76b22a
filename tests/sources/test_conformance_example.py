"""The conformance kit run over the minimal example source (and checks of the kit itself)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from alertbot.sources.base import Parsed
from tests.fakes.ws_server import WsServer
from tests.sources.conformance import (
    RecordingContext,
    check_fields,
    check_garbage,
    check_resubscribe,
    check_subscribe_pure,
    field_problems,
    garbage_frames,
)
from tests.sources.example_source import ExampleSettings, ExampleSource

FIXTURES = [
    '{"type":"tick","name":"BTC","value":"101.5","seq":"7"}',
    '{"type":"tick","name":"ETH","value":3,"seq":8}',
    '{"type":"heartbeat"}',
    '{"id":3,"result":{"ok":true}}',
]


def make(url: str = "ws://127.0.0.1:1", ctx: RecordingContext | None = None) -> ExampleSource:
    cfg = ExampleSettings.model_validate({
        "kind": "example", "url": url, "channels": ["ticks", "news"], "healthy_after": 0.02,
        "reconnect": {"initial": 0.01, "max": 0.05, "jitter": 0}})
    return ExampleSource("ex", cfg, ctx or RecordingContext())


def test_example_fields_match_declaration() -> None:
    """Events parsed from the fixtures use declared names and declared types."""
    events = check_fields(make(), FIXTURES, min_events=2)
    assert events[0] == ("tick", {"name": "BTC", "value": 101.5, "seq": 7})


def test_example_survives_garbage() -> None:
    """Hostile variants of the fixtures raise nothing but ValueError."""
    assert check_garbage(make(), FIXTURES) > 50


def test_example_subscribe_is_pure() -> None:
    """subscribe() is deterministic and offline."""
    assert check_subscribe_pure(make) == ['{"op": "subscribe", "channel": "ticks"}',
                                          '{"op": "subscribe", "channel": "news"}']


async def test_example_resubscribes_after_reconnect() -> None:
    """After the server drops the link, the subscribe frames arrive again."""
    async with WsServer() as server:
        await check_resubscribe(lambda ctx: make(server.url, ctx), server)


class Sloppy(ExampleSource):
    """Emits an undeclared field and a wrongly typed value, and crashes on lists."""

    def parse(self, frame: str | bytes) -> Parsed:
        msg = json.loads(frame)
        return Parsed(events=[("tick", {"value": "12", "extra": 1, "seq": True,
                                        "name": msg["name"]})])


def test_kit_catches_undeclared_and_mistyped_fields() -> None:
    """The field check reports unknown fields, wrong types and booleans posing as ints."""
    problems = field_problems(make(), "tick", {"value": "12", "extra": 1, "seq": True})
    assert len(problems) == 3
    assert field_problems(make(), "nope", {}) == ["event type 'nope' is not declared"]
    assert field_problems(make(), "tick", {"value": Decimal(1)}) != []
    with pytest.raises(AssertionError):
        check_fields(Sloppy("ex", make().settings, RecordingContext()), FIXTURES[:1])


def test_kit_catches_parse_raising_other_errors() -> None:
    """A parse() that raises KeyError/TypeError on garbage fails the garbage check."""
    with pytest.raises(AssertionError, match="raised"):
        check_garbage(Sloppy("ex", make().settings, RecordingContext()), FIXTURES)


def test_garbage_is_deterministic() -> None:
    """The same seed gives the same garbage, so failures reproduce."""
    assert garbage_frames(FIXTURES, seed=1) == garbage_frames(FIXTURES, seed=1)
