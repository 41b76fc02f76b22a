"""Log lines: JSON with the rule/source/notifier they concern; text on a terminal."""

from __future__ import annotations

import json
import logging

from alertbot.logs import JsonFormatter, TextFormatter


def record(name: str, msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, (), None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_line_carries_fields_from_extra_and_logger_name() -> None:
    """`extra` fields and the `alertbot.source.NAME` logger both fill the JSON fields."""
    line = json.loads(JsonFormatter().format(record(
        "alertbot.pipeline.delivery", "dead letter", notifier="tg", rule="btc-high")))
    assert line["notifier"] == "tg" and line["rule"] == "btc-high"
    assert line["level"] == "warning" and line["message"] == "dead letter"
    src = json.loads(JsonFormatter().format(record("alertbot.source.kraken", "drop")))
    assert src["source"] == "kraken" and "rule" not in src


def test_text_line_names_the_fields() -> None:
    """The text format appends `key=value` for fields the logger name doesn't show."""
    text = TextFormatter().format(record("alertbot.pipeline.delivery", "retry",
                                         notifier="tg"))
    assert text.endswith("alertbot.pipeline.delivery notifier=tg: retry")
