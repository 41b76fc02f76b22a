"""`alertbot schema`: print the JSON Schema of rule files for editor autocompletion.

Editors (VS Code's YAML extension, anything speaking yaml-language-server) read it from a
`# yaml-language-server: $schema=PATH` comment at the top of a rule file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--indent", type=int, default=2, help="JSON indentation (default 2)")


DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number", "minimum": 0},
              {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$"}],
    "description": "seconds, or units like 30s, 5m, 1h30m, 2d, 250ms",
}


FIELD_DOCS: dict[str, dict[str, str]] = {
    "Rule": {
        "id": "unique rule id across all files (letters, digits, _ . : -)",
        "description": "free text for people reading the rule",
        "enabled": "false: the rule is checked but not loaded",
        "source": "a source NAME from the config (`alertbot` is built in)",
        "event": "an event type that source emits (docs/events.md)",
        "mode": "state: firing/resolved alerts; event: every matching event notifies",
        "where": "equality filters on event fields; a list value means `in`",
        "when": "condition: expression string, {field: F, above: ...}, or all/any/not",
        "for": "the condition must hold this long before firing",
        "keep_firing_for": "stay firing this long after the condition clears",
        "absent_for": "fire when no matching event arrives for this long",
        "unchanged_for": "fire when a field keeps its value this long while events arrive",
        "count": "fire when at least N matching events fall in a sliding window",
        "group_by": "one alert instance per distinct value of these fields",
        "max_instances": "cap on alert instances of this rule",
        "dedup_key": "event mode: template; one notification per key per dedup_window",
        "dedup_window": "event mode: how long a dedup_key suppresses repeats",
        "severity": "info, warning or critical (default: defaults.severity)",
        "notify": "notifier NAMES from the config (default: defaults.notify)",
        "repeat": "re-notify while firing; 0 = never (default: defaults.repeat)",
        "resolve": "false: send no resolved notice",
        "inhibits": "rule ids kept quiet while this rule fires",
        "labels": "extra labels on the alert",
        "message": "notification text, a sandboxed Jinja2 template over event fields",
    },
    "FieldCondition": {
        "field": "the event field the operators apply to",
        "above": "value > this", "below": "value < this",
        "crosses_above": "like above, but only after a sample at or below it",
        "crosses_below": "like below, but only after a sample at or above it",
        "clear_below": "hysteresis: once above, clears only below this",
        "clear_above": "hysteresis: once below, clears only above this",
        "equals": "value == this", "not_equals": "value != this", "in": "value in this list",
        "changed": "true: value differs from the previous sample",
        "change_pct": "percent change over a window: {over: 5m, above: 3}",
        "change": "absolute change over a window: {over: 10m, below: -500}",
    },
    "Inhibits": {"rules": "rule ids to keep quiet",
                 "equal": "only instances sharing these labels"},
}


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema of a rule file (pydantic `RuleFile`, validation mode)."""
    from ..engine import rules

    schema = rules.RuleFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "alertbot rule file"
    # Severity is an IntEnum in code but written as its name in rule files.
    severity = schema["$defs"]["Rule"]["properties"]["severity"]
    severity["anyOf"] = [{"enum": ["info", "warning", "critical"]}, {"type": "null"}]
    schema["$defs"].pop("Severity", None)
    for name, docs in FIELD_DOCS.items():
        props = schema["$defs"][name]["properties"]
        for key, text in docs.items():
            props[key]["description"] = text
    # Durations validate as "number" after parsing; editors must also accept "30s".
    for name, definition in schema.get("$defs", {}).items():
        model = getattr(rules, name, None)
        if model is None:
            continue
        for field_name, info in model.model_fields.items():
            if not _is_duration(info.metadata, info.annotation):
                continue
            key = info.alias or field_name
            prop = definition["properties"][key]
            title = prop.get("title")
            nullable = "anyOf" in prop
            dur = {**DURATION_SCHEMA, "title": title,
                   "description": prop.get("description", DURATION_SCHEMA["description"])}
            if nullable:
                dur["anyOf"] = [*DURATION_SCHEMA["anyOf"], {"type": "null"}]
            definition["properties"][key] = {**dur, **({"default": prop["default"]}
                                                       if "default" in prop else {})}
    return schema


def _is_duration(metadata: list[Any], annotation: Any) -> bool:
    from typing import get_args

    found = list(metadata)
    for arg in get_args(annotation):
        found.extend(getattr(arg, "__metadata__", ()))
    return any(getattr(getattr(m, "func", None), "__name__", "") == "_duration"
               for m in found)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(rule_file_schema(), indent=args.indent, sort_keys=False))
    return 0
