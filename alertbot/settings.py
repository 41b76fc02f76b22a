"""Config models (pydantic v2) for `alertbot.yaml` (DESIGN.md §2.2).

Sources and notifiers are maps of NAME → settings whose `kind` selects the settings
model from the SOURCES/NOTIFIERS registries. Secrets (`${ENV}`, `*_file`) are resolved
by the loader before validation and held as SecretStr, so they never print.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from .config_types import Duration, SeverityField, Strict
from .model import Severity
from .notifiers import NOTIFIERS
from .notifiers.base import NotifierSettings
from .sources import SOURCES
from .sources.base import ConnectionSettings


class Defaults(Strict):
    notify: list[str] = Field(default_factory=lambda: ["console"])
    repeat: Duration = 4 * 3600.0
    severity: SeverityField = Severity.warning
    inhibit_grace: Duration = 10.0
    dedup_window: Duration = 24 * 3600.0
    forget_after: Duration = 24 * 3600.0


class HttpSettings(Strict):
    listen: str = "127.0.0.1:9464"


class Matcher(Strict):
    """`label: value` equality, `label=~regex` via `regex: true`, or `!=` via `negate`."""

    name: str
    value: str
    regex: bool = False
    negate: bool = False


class StaticSilence(Strict):
    """A silence from the config: fixed window (`starts`/`ends`) or `cron` + `duration`."""

    matchers: dict[str, str] = Field(min_length=1)
    starts: str | None = None
    ends: str | None = None
    cron: str | None = None
    duration: Duration | None = None
    timezone: str = "UTC"
    comment: str = ""


class Retention(Strict):
    notify_log: Duration = 30 * 86400.0
    outbox_dead: Duration = 30 * 86400.0
    silences_expired: Duration = 7 * 86400.0
    instances_resolved: Duration = 86400.0
    emitted: Duration = 90 * 86400.0


class DigestSettings(Strict):
    """A daily summary (alerts fired, resolved, silenced; sources' uptime) at `at`."""

    at: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")
    timezone: str = "UTC"
    notify: list[str] = Field(min_length=1)


class Config(Strict):
    state_dir: str = "./state"
    rules: list[str] = Field(default_factory=lambda: ["rules/"])
    defaults: Defaults = Defaults()
    sources: dict[str, ConnectionSettings] = Field(default_factory=dict)
    notifiers: dict[str, NotifierSettings] = Field(
        default_factory=lambda: {"console": NOTIFIERS["console"].settings(kind="console")})
    http: HttpSettings = HttpSettings()
    silences: list[StaticSilence] = Field(default_factory=list)
    retention: Retention = Retention()
    max_retry_age: Duration = 24 * 3600.0
    heartbeat_url: str | None = None
    heartbeat_interval: Duration = 60.0
    digest: DigestSettings | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_by_kind(cls, value: Any) -> Any:
        return _by_kind(value, {k: v.settings for k, v in SOURCES.items()}, "source")

    @field_validator("notifiers", mode="before")
    @classmethod
    def _notifiers_by_kind(cls, value: Any) -> Any:
        return _by_kind(value, {k: v.settings for k, v in NOTIFIERS.items()}, "notifier")


def _by_kind(value: Any, models: dict[str, Any], what: str) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, block in value.items():
        if isinstance(block, dict):
            kind = block.get("kind")
            if kind not in models:
                raise ValueError(
                    f"{what} {name!r}: unknown kind {kind!r}; expected one of "
                    + ", ".join(sorted(models)))
            out[name] = models[kind].model_validate(block)
        else:
            out[name] = block
    return out


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SecretProblem = tuple[tuple[Any, ...], str]


def resolve_secrets(data: Any, environ: Mapping[str, str], base_dir: Path,
                    path: tuple[Any, ...] = ()) -> tuple[Any, list[SecretProblem]]:
    """Substitute `${VAR}` in string values and turn `NAME_file: PATH` into `NAME: <content>`.

    Returns the new data and (data path, message) problems. Messages name the variable
    or file, never a value: a missing variable is an error, never an empty string.
    """
    problems: list[SecretProblem] = []
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            sub = (*path, key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                target = key[: -len("_file")]
                if target in data:
                    problems.append((sub, f"give either `{target}` or `{key}`, not both"))
                    continue
                content, err = _read_secret(value, environ, base_dir)
                if err:
                    problems.append((sub, err))
                else:
                    out[target] = content
                continue
            out[key], more = resolve_secrets(value, environ, base_dir, sub)
            problems.extend(more)
        return out, problems
    if isinstance(data, list):
        items = []
        for i, value in enumerate(data):
            item, more = resolve_secrets(value, environ, base_dir, (*path, i))
            items.append(item)
            problems.extend(more)
        return items, problems
    if isinstance(data, str) and "${" in data:
        missing = [m for m in _ENV_REF.findall(data) if m not in environ]
        if missing:
            names = ", ".join(f"${{{m}}}" for m in missing)
            return data, [(path, f"environment variable {names} is not set")]
        return _ENV_REF.sub(lambda m: environ[m.group(1)], data), []
    return data, []


def _read_secret(raw: str, environ: Mapping[str, str],
                 base_dir: Path) -> tuple[str, str | None]:
    name, problems = resolve_secrets(raw, environ, base_dir)
    if problems:
        return "", problems[0][1]
    file = Path(os.path.expanduser(name))
    if not file.is_absolute():
        file = base_dir / file
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n"), None
    except OSError as exc:
        return "", f"cannot read secret file {str(file)!r}: {exc.strerror or exc}"
