"""Pydantic field types shared by config and rule models: durations, severities, secrets.

Kept apart from `settings.py` so source and notifier modules can declare their settings
models without importing the config loader (feature packages never import each other).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, SecretStr

from .durations import format_duration, parse_duration
from .model import Severity


def _duration(value: Any) -> float:
    return parse_duration(value)


def _severity(value: Any) -> Severity:
    if isinstance(value, str):
        return Severity.parse(value)
    if isinstance(value, Severity):
        return value
    raise ValueError("severity must be one of info, warning, critical")


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""Seconds; accepts `30s`, `5m`, `1h30m` or a plain number of seconds."""

SeverityField = Annotated[
    Severity,
    BeforeValidator(_severity),
    PlainSerializer(str, return_type=str),
]

Secret = SecretStr
"""A secret value: masked in every repr, log line and error (`**********`)."""


class Strict(BaseModel):
    """Base for every config/rule model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
