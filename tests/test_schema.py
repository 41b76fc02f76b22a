"""`alertbot schema`: a JSON Schema of rule files that the seed rules satisfy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_schema_describes_rule_files() -> None:
    """The schema is JSON with a `rules` array of rules keyed as in rule files (aliases)."""
    out = subprocess.run([sys.executable, "-m", "alertbot", "schema"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    schema = json.loads(out)
    rule = schema["$defs"]["Rule"]
    assert schema["properties"]["rules"]["type"] == "array"
    assert {"id", "source", "event", "for", "when", "inhibits"} <= set(rule["properties"])
    assert "for_" not in rule["properties"]
    assert set(rule["required"]) == {"id", "source", "event"}
    assert rule["additionalProperties"] is False


def test_docs_schema_file_is_current() -> None:
    """docs/rules.schema.json (referenced by the seed rules) matches `alertbot schema`."""
    from alertbot.commands.schema import rule_file_schema

    stored = json.loads((ROOT / "docs" / "rules.schema.json").read_text())
    assert stored == rule_file_schema()


def test_seed_rules_and_durations_validate_against_schema() -> None:
    """Every seed rule file (with `30s`-style durations) is valid under the schema."""
    jsonschema = pytest.importorskip("jsonschema")
    from alertbot.commands.schema import rule_file_schema
    from alertbot.yamlio import load_marked

    schema = rule_file_schema()
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        data, _ = load_marked(path.read_text(), str(path))
        jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rules": [{"id": "x", "source": "s", "event": "e",
                                        "for": "5 minutes"}]}, schema)
