"""Load and validate `alertbot.yaml` and every rule file; the engine of `alertbot check`.

`load()` returns a `Loaded` (config, enabled rules with defaults applied and literals
coerced to the declared field types) or raises `ConfigError` with every problem found,
each located at FILE:LINE:COL. `check()` returns the problems (warnings included)
instead of raising. `load_rules()` reloads rule files alone, for hot reload. Semantic
checks of rules against the config live beside the rule models (`engine/rules.py`,
`RuleChecker`); this module finds the files, resolves secrets and maps pydantic errors
through `yamlio`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .engine.rules import Rule, RuleChecker, RuleFile
from .errors import ConfigError, Problem
from .notifiers import NOTIFIERS
from .settings import Config, resolve_secrets
from .sources import BUILTIN_SOURCE_NAME, SOURCES
from .suggest import did_you_mean
from .yamlio import Marks, load_marked, validation_problems

log = logging.getLogger(__name__)

CONFIG_ENV = "ALERTBOT_CONFIG"
DEFAULT_CONFIG = "alertbot.yaml"


@dataclass(frozen=True)
class Loaded:
    """A valid configuration and its enabled rules, ready for the engine."""

    config: Config
    config_path: Path | None
    base_dir: Path
    rules: tuple[Rule, ...]
    rule_files: tuple[Path, ...]
    warnings: tuple[Problem, ...]


def find_config(config_path: str | Path | None) -> Path | None:
    """`-c` argument, else $ALERTBOT_CONFIG, else ./alertbot.yaml if present, else None."""
    if config_path:
        return Path(config_path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def load(config_path: str | Path | None = None, *, text: str | None = None) -> Loaded:
    """Load config and rules; raise ConfigError carrying every error (warnings kept)."""
    problems, loaded = _load(config_path, text)
    errors = [p for p in problems if not p.warning]
    if errors or loaded is None:
        raise ConfigError(errors or problems)
    return loaded


def check(config_path: str | Path | None) -> tuple[list[Problem], Loaded | None]:
    """Every problem (errors and warnings, sorted) and the result when there is no error."""
    problems, loaded = _load(config_path, None)
    if any(not p.warning for p in problems):
        loaded = None
    return sorted(problems), loaded


def _load(config_path: str | Path | None,
          text: str | None) -> tuple[list[Problem], Loaded | None]:
    path = None if text is not None else find_config(config_path)
    if text is not None:
        display, base, base_dir = "<config>", Path("."), Path.cwd()
    elif path is None:
        display, base, base_dir = "", Path("."), Path.cwd()
    else:
        display, base, base_dir = str(path), path.parent, path.parent.absolute()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return [Problem(display, 1, 1, f"cannot read config: {exc.strerror or exc}")], None
        except UnicodeDecodeError as exc:
            return [Problem(display, 1, 1, f"config is not UTF-8 text: {exc.reason}")], None
    if text is None:
        config, marks = Config(), Marks(display)
        problems: list[Problem] = []
        config = _with_builtins(config)
    else:
        config_or_none, problems, marks = load_config_text(text, display, base)
        if config_or_none is None:
            return problems, None
        config = config_or_none
    rules, files, more = _load_rules(config, base, marks, _named_sources(text))
    if path is None and text is None:
        hint = " (no config found: pass -c FILE, set $ALERTBOT_CONFIG or create ./alertbot.yaml)"
        more = [Problem(p.file, p.line, p.col, p.message + hint, p.warning)
                if p.message.startswith("rules path") else p for p in more]
    problems.extend(more)
    if any(not p.warning for p in problems):
        return problems, None
    loaded = Loaded(config, path, base_dir, rules, files,
                    tuple(sorted(p for p in problems if p.warning)))
    return problems, loaded


def load_config_text(text: str, display: str,
                     base: Path) -> tuple[Config | None, list[Problem], Marks]:
    """Parse and validate a config document; sources/notifiers are validated one by one."""
    try:
        data, marks = load_marked(text, display)
    except ConfigError as exc:
        return None, list(exc.problems), Marks(display)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [marks.problem((), "the config must be a mapping of settings")], marks
    data, secret_problems = resolve_secrets(data, os.environ, base)
    problems = [marks.problem(p, msg) for p, msg in secret_problems]
    blocks: dict[str, Any] = {}
    for section, registry in (("sources", SOURCES), ("notifiers", NOTIFIERS)):
        if section in data:
            blocks[section] = _validate_blocks(section, data, marks, registry, problems)
    rest = {k: v for k, v in data.items() if k not in blocks}
    try:
        config = Config.model_validate({**rest, **blocks})
    except ValidationError as exc:
        problems.extend(validation_problems(exc.errors(), data, marks, (), Config))
        # Keep checking with the valid sections, so one run reports every problem.
        bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
        try:
            config = Config.model_validate(
                {k: v for k, v in {**rest, **blocks}.items() if k not in bad})
        except ValidationError:
            return None, problems, marks
    config = _with_builtins(config)
    for i, name in enumerate(config.defaults.notify):
        if name not in config.notifiers:
            problems.append(marks.problem(("defaults", "notify", i), _unknown_notifier(
                name, config)))
    for name, settings in config.notifiers.items():
        if settings.template:
            from .templates import TemplateError, compile_template
            try:
                compile_template(settings.template)
            except TemplateError as exc:
                problems.append(marks.problem(("notifiers", name, "template"), str(exc)))
    for i, name in enumerate(config.digest.notify if config.digest else ()):
        if name not in config.notifiers:
            problems.append(marks.problem(("digest", "notify", i), _unknown_notifier(
                name, config)))
    return config, problems, marks


def _validate_blocks(section: str, data: dict[str, Any], marks: Marks, registry: Any,
                     problems: list[Problem]) -> dict[str, Any]:
    blocks = data[section]
    if blocks is None:
        return {}
    if not isinstance(blocks, dict):
        problems.append(marks.problem((section,), f"`{section}` must be a mapping NAME: "
                                      "{kind: ..., ...}"))
        return {}
    out: dict[str, Any] = {}
    what = section.rstrip("s")
    for name, block in blocks.items():
        path = (section, name)
        if not isinstance(block, dict):
            problems.append(marks.problem(path, f"{what} `{name}` must be a mapping with "
                                          "a `kind`"))
            continue
        kind = block.get("kind")
        if kind is None:
            problems.append(marks.problem(path, f"{what} `{name}` needs a `kind`; one of: "
                                          + ", ".join(sorted(registry)), at_key=True))
            continue
        if kind not in registry:
            problems.append(marks.problem((*path, "kind"), f"unknown {what} kind `{kind}`"
                                          + did_you_mean(str(kind), registry)))
            continue
        model = registry[kind].settings
        try:
            out[name] = model.model_validate(block)
        except ValidationError as exc:
            problems.extend(validation_problems(exc.errors(), data, marks, path, model))
    return out


def _named_sources(text: str | None) -> frozenset[str]:
    """Source names the config text declares, valid or not (their errors are reported)."""
    if not text:
        return frozenset()
    try:
        data, _ = load_marked(text, "")
    except ConfigError:
        return frozenset()
    sources = data.get("sources") if isinstance(data, dict) else None
    return frozenset(str(k) for k in sources) if isinstance(sources, dict) else frozenset()


def _with_builtins(config: Config) -> Config:
    """The `alertbot` self-watch source and the `console` notifier always exist."""
    update: dict[str, Any] = {}
    if BUILTIN_SOURCE_NAME not in config.sources:
        builtin = SOURCES[BUILTIN_SOURCE_NAME].settings(kind=BUILTIN_SOURCE_NAME)
        update["sources"] = {**config.sources, BUILTIN_SOURCE_NAME: builtin}
    if "console" not in config.notifiers:
        console = NOTIFIERS["console"].settings(kind="console")
        update["notifiers"] = {**config.notifiers, "console": console}
    return config.model_copy(update=update) if update else config


def _unknown_notifier(name: str, config: Config) -> str:
    return f"unknown notifier `{name}`" + did_you_mean(name, config.notifiers)


def load_rules(paths: Sequence[Path], config: Config, base_dir: Path
               ) -> tuple[tuple[Rule, ...], tuple[Path, ...], list[Problem]]:
    """Load the given rule files/folders against `config` (hot reload): rules, files, problems."""
    cfg = config.model_copy(update={"rules": [str(p) for p in paths]})
    return _load_rules(cfg, base_dir, Marks(""))


def rule_entry_path(entry: str, base: Path) -> Path:
    """Where one `rules:` entry points (`~` expanded, relative to the config's folder)."""
    p = Path(os.path.expanduser(entry))
    return Path(os.path.normpath(p if p.is_absolute() else base / p))


def rule_paths(config: Config, base: Path, marks: Marks) -> tuple[list[Path], list[Problem]]:
    """The rule files named by `config.rules` (folders: their *.yaml/*.yml, sorted)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for i, entry in enumerate(config.rules):
        full = rule_entry_path(entry, base)
        if full.is_dir():
            found = sorted(f for f in full.iterdir()
                           if f.suffix in (".yaml", ".yml") and f.is_file())
            files.extend(found)
        elif full.is_file():
            files.append(full)
        else:
            msg = f"rules path {str(full)!r} does not exist"
            if marks.file:
                problems.append(marks.problem(("rules", i), msg))
            else:
                problems.append(Problem(str(full), 1, 1, msg))
    unique = list(dict.fromkeys(files))
    return unique, problems


def _load_rules(config: Config, base: Path, marks: Marks, broken: frozenset[str] = frozenset()
                ) -> tuple[tuple[Rule, ...], tuple[Path, ...], list[Problem]]:
    files, problems = rule_paths(config, base, marks)
    checker = RuleChecker(config, broken)
    for file in files:
        problems.extend(_parse_rule_file(file, checker))
    problems.extend(checker.cross_checks())
    rules = tuple(r for r in checker.rules() if r.enabled)
    return rules, tuple(files), problems


def _parse_rule_file(file: Path, checker: RuleChecker) -> list[Problem]:
    display = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(display, 1, 1, f"cannot read rule file: {exc}")]
    try:
        data, marks = load_marked(text, display)
    except ConfigError as exc:
        return list(exc.problems)
    if data is None:
        return []
    if not isinstance(data, dict):
        return [marks.problem((), "a rule file is a mapping with a `rules:` list")]
    problems: list[Problem] = []
    top = {k: v for k, v in data.items() if k != "rules"}
    if top:
        try:
            RuleFile.model_validate(top)
        except ValidationError as exc:
            problems.extend(validation_problems(exc.errors(), data, marks, (), RuleFile))
    items = data.get("rules")
    if items is None:
        return problems
    if not isinstance(items, list):
        problems.append(marks.problem(("rules",), "`rules` must be a list of rules"))
        return problems
    for i, item in enumerate(items):
        path = ("rules", i)
        if not isinstance(item, dict):
            problems.append(marks.problem(path, "a rule is a mapping with `id`, `source`, "
                                          "`event`, ..."))
            continue
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            problems.extend(validation_problems(exc.errors(), data, marks, path, Rule))
            checker.note_id(item.get("id"), marks, path)
            continue
        problems.extend(checker.add(rule, item, marks, path))
    return problems
