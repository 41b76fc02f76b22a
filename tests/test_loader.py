"""The loader API: defaults, coercion, secrets, config discovery, hot-reload loading, and
properties (durations round-trip; random YAML never crashes the loader)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertbot.durations import format_duration, parse_duration
from alertbot.engine.rules import FieldCondition
from alertbot.errors import ConfigError
from alertbot.loader import check, find_config, load, load_rules
from alertbot.model import Severity

ACCOUNT = "kshs_35zrk7ioxfeatbascyqx6iae5gzjbgb9yng4e56pjf8iix81y84j78u3k1ti"


def _write(root: Path, config: str, **rules: str) -> Path:
    (root / "rules").mkdir(exist_ok=True)
    for name, text in rules.items():
        (root / "rules" / f"{name}.yaml").write_text(text)
    path = root / "alertbot.yaml"
    path.write_text(config)
    return path


def test_defaults_applied_and_literals_coerced(tmp_path: Path) -> None:
    """Unset severity/notify/repeat/dedup_window come from defaults; literals get field types."""
    path = _write(tmp_path, "defaults: {repeat: 2h, severity: critical}\n"
                  f"sources: {{kakitu: {{kind: kakitu, accounts: [{ACCOUNT}]}}}}\n",
                  k=f"rules:\n  - id: pay\n    source: kakitu\n    event: confirmation\n"
                  f"    where: {{to_account: {ACCOUNT}}}\n"
                  "    when: {field: amount, above: '1.5'}\n"
                  "  - id: state\n    source: kakitu\n    event: telemetry\n"
                  "    when: {field: peer_count, below: 3}\n")
    loaded = load(path)
    pay, state = loaded.rules
    assert isinstance(pay.when, FieldCondition) and pay.when.above == Decimal("1.5")
    assert state.repeat == 7200.0 and state.severity is Severity.critical
    assert pay.notify == ["console"] and pay.dedup_window == 86400.0
    assert loaded.rule_files == (tmp_path / "rules" / "k.yaml",)
    assert loaded.base_dir == tmp_path and loaded.warnings == ()


def test_event_mode_never_repeats_by_default(tmp_path: Path) -> None:
    """An event-mode rule gets repeat 0 rather than the state default."""
    path = _write(tmp_path, "rules: [rules/]\n",
                  a="rules:\n  - {id: e, source: alertbot, event: dead_letter, mode: event}\n")
    (rule,) = load(path).rules
    assert rule.repeat == 0.0


def test_disabled_rules_checked_but_not_loaded(tmp_path: Path) -> None:
    """`enabled: false` rules are validated but left out of Loaded.rules."""
    path = _write(tmp_path, "{}\n", a="rules:\n  - {id: off, source: alertbot, "
                  "event: dead_letter, mode: event, enabled: false}\n")
    assert load(path).rules == ()


def test_text_config_and_builtin_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load(text=...) reads rules relative to cwd; the `alertbot` source always exists."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "", a="rules:\n  - {id: s, source: alertbot, event: reload_failed}\n")
    loaded = load(text="state_dir: ./s\n")
    assert [r.id for r in loaded.rules] == ["s"]
    assert loaded.config_path is None and loaded.base_dir == tmp_path
    assert "alertbot" in loaded.config.sources and "console" in loaded.config.notifiers


def test_find_config_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-c beats $ALERTBOT_CONFIG, which beats ./alertbot.yaml; none → built-in default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALERTBOT_CONFIG", raising=False)
    assert find_config(None) is None
    (tmp_path / "alertbot.yaml").write_text("{}")
    assert find_config(None) == Path("alertbot.yaml")
    monkeypatch.setenv("ALERTBOT_CONFIG", "/x/env.yaml")
    assert find_config(None) == Path("/x/env.yaml")
    assert find_config("given.yaml") == Path("given.yaml")


def test_secret_file_fills_field_and_stays_masked(tmp_path: Path) -> None:
    """`token_file` fills `token` from the file; the value never shows in a repr."""
    (tmp_path / "tg").write_text("123:very-secret-token\n")
    path = _write(tmp_path, "notifiers:\n  ops: {kind: telegram, token_file: tg, chat_id: 1}\n")
    config = load(path).config
    token = config.notifiers["ops"].token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "123:very-secret-token"
    assert "very-secret" not in repr(config) and "very-secret" not in str(config)


def test_env_secret_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`${VAR}` is replaced by the environment variable's value."""
    monkeypatch.setenv("ALERTBOT_T_URL", "https://hooks.example/x")
    path = _write(tmp_path, "notifiers:\n  team: {kind: slack, webhook_url: '${ALERTBOT_T_URL}'}\n")
    url = load(path).config.notifiers["team"].webhook_url  # type: ignore[attr-defined]
    assert url.get_secret_value() == "https://hooks.example/x"


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    """ConfigError carries every problem, sorted, across config and rule files."""
    path = _write(tmp_path, "defaults: {notify: [ops]}\nbogus: 1\n",
                  a="rules:\n  - {id: a, source: nope, event: x}\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    messages = [p.message for p in info.value.problems]
    assert any("unknown notifier `ops`" in m for m in messages)
    assert any("unknown key `bogus`" in m for m in messages)


def test_unknown_source_kind_suggests(tmp_path: Path) -> None:
    """A misspelt source kind is located at its value with a suggestion."""
    path = _write(tmp_path, "sources:\n  k: {kind: krakn}\n")
    problems, loaded = check(path)
    assert loaded is None
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "unknown source kind `krakn` (did you mean `kraken`?)"]
    assert (problems[0].line, problems[0].col) == (2, 13)


def test_load_rules_for_reload(tmp_path: Path) -> None:
    """load_rules() loads the given files against an existing config, returning problems."""
    path = _write(tmp_path, "{}\n", a="rules:\n  - {id: a, source: alertbot, event: x}\n")
    config = load(text="rules: []").config
    rules, files, problems = load_rules([tmp_path / "rules"], config, tmp_path)
    assert rules == () and files == (tmp_path / "rules" / "a.yaml",)
    assert "no event type `x`" in problems[0].message
    assert path.exists()


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False).map(lambda x: round(x, 3)))
def test_duration_round_trip(seconds: float) -> None:
    """format_duration is canonical: parsing it gives the same seconds back (to 1 ms)."""
    text = format_duration(seconds)
    assert abs(parse_duration(text) - seconds) < 0.0015
    assert format_duration(parse_duration(text)) == text


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                     st.sampled_from(["kraken", "ticker", "30s", "last", "{{ x", "BTC/USD",
                                      "alertbot", "dead_letter", "event", ""]))
_keys = st.sampled_from(["rules", "id", "source", "event", "when", "where", "field", "above",
                         "crosses_above", "clear_below", "for", "mode", "not", "any", "all",
                         "inhibits", "count", "at_least", "within", "group_by", "x"])
_yaml_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)), max_leaves=15)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(st.just("rules"), st.lists(
    st.dictionaries(_keys, _yaml_values, max_size=6), max_size=3)) | _yaml_values)
def test_loader_never_crashes_on_random_yaml(doc: object, tmp_path: Path) -> None:
    """Random rule documents give valid rules or located problems, never an exception."""
    import json

    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(json.dumps(doc))
    (tmp_path / "c.yaml").write_text("sources: {kraken: {kind: kraken}}\n")
    problems, loaded = check(tmp_path / "c.yaml")
    for p in problems:
        assert p.line >= 1 and p.col >= 1 and p.message
    assert (loaded is None) == any(not p.warning for p in problems)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab: -[]{}\"'\n\t#&*!|>%@`,?")), max_size=60))
def test_yaml_syntax_garbage_is_located(text: str) -> None:
    """Arbitrary text as a config never raises anything but a located ConfigError."""
    try:
        load(text=text)
    except ConfigError as exc:
        assert exc.problems and all(p.line >= 1 and p.col >= 1 for p in exc.problems)
