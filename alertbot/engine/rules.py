"""Rule models (pydantic v2): the rule-file language of DESIGN.md §2.3, as data.

These models define the shape of `rules/*.yaml` and, through `alertbot schema`, the
JSON Schema editors use. Cross-field semantics that need the config (source names,
declared fields, literal coercion, event-mode restrictions, hysteresis consistency) are
checked by the loader, which reports every problem at FILE:LINE:COL.

`RuleChecker` (end of the module) checks rules against the config for the loader: names,
declared fields, literal coercion, hysteresis, negated stateful operators, event-mode
restrictions, duplicate ids and `inhibits` targets; it also applies the config defaults.

`when` is a condition tree: a Jinja2 expression string, a field condition (one or more
operators on one field, all of which must hold), or `all`/`any`/`not` of conditions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ..config_types import Duration, SeverityField, Strict
from ..errors import Problem
from ..sources import SOURCES
from ..sources.base import NUMERIC_TYPES, EventSpec, FieldType, SourceKind, coerce
from ..suggest import did_you_mean
from ..templates import TemplateError, compile_expression, compile_template, expression_names

if TYPE_CHECKING:
    from ..settings import Config
    from ..yamlio import Marks

Scalar = str | int | float | bool
RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class Change(Strict):
    """`change_pct` / `change`: compare with the latest sample at or before now − over."""

    over: Duration
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> Change:
        if self.above is None and self.below is None:
            raise ValueError("needs `above` or `below` (signed: below: -3 = fell by 3 or more)")
        return self


class FieldCondition(Strict):
    """Operators on one event field; several operators in one block must all hold."""

    field: str
    above: Scalar | None = None
    below: Scalar | None = None
    crosses_above: Scalar | None = None
    crosses_below: Scalar | None = None
    clear_below: Scalar | None = None
    clear_above: Scalar | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_equals: Scalar | None = None
    changed: bool | None = None
    change_pct: Change | None = None
    change: Change | None = None

    @model_validator(mode="after")
    def _has_operator(self) -> FieldCondition:
        ops = [k for k in OPERATORS if getattr(self, _attr(k)) is not None]
        if not ops:
            raise ValueError(
                "a field condition needs an operator: " + ", ".join(sorted(OPERATORS)))
        return self

    def operators(self) -> list[str]:
        return [k for k in OPERATORS if getattr(self, _attr(k)) is not None]


OPERATORS: tuple[str, ...] = (
    "above", "below", "crosses_above", "crosses_below", "equals", "in", "not_equals",
    "changed", "change_pct", "change",
)
"""The comparison operators (clear_below/clear_above modify above/below and crosses_*)."""

STATEFUL_OPERATORS = frozenset({"crosses_above", "crosses_below", "changed", "change_pct",
                                "change", "clear_below", "clear_above"})
"""Operators whose truth depends on history: not allowed under `not` or `any`."""


def _attr(op: str) -> str:
    return "in_" if op == "in" else op


class AllCondition(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCondition(Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(Strict):
    not_: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "expr"
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "field"
    if isinstance(value, Strict):
        tags: dict[type[Strict], str] = {
            AllCondition: "all", AnyCondition: "any", NotCondition: "not"}
        return tags.get(type(value), "field")
    return None


Condition = Annotated[
    Annotated[str, Tag("expr")]
    | Annotated[FieldCondition, Tag("field")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(_condition_tag, custom_error_type="condition",
                  custom_error_message="a condition is an expression string, a field "
                  "condition {field: ..., above: ...}, or all/any/not"),
]


class Count(Strict):
    """Fire when at least `at_least` matching events fall in (now − within, now]."""

    at_least: int = Field(ge=1)
    within: Duration


class UnchangedFor(Strict):
    """Fire when `field` keeps the same value for `duration` although events keep coming."""

    field: str
    duration: Duration


class Inhibits(Strict):
    rules: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)


class Rule(Strict):
    """One alerting rule. Unset defaults (severity, notify, repeat, dedup_window) are
    filled from the config's `defaults` by the loader."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    description: str | None = None
    enabled: bool = True
    source: str
    event: str
    mode: Literal["state", "event"] = "state"
    where: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    when: Condition | None = None
    for_: Duration | None = Field(None, alias="for")
    keep_firing_for: Duration | None = None
    absent_for: Duration | None = None
    unchanged_for: UnchangedFor | None = None
    count: Count | None = None
    group_by: list[str] = Field(default_factory=list)
    max_instances: int = Field(1000, ge=1)
    dedup_key: str | None = None
    dedup_window: Duration | None = None
    severity: SeverityField | None = None
    notify: list[str] | None = None
    repeat: Duration | None = None
    resolve: bool = True
    inhibits: list[str] | Inhibits | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    message: str | None = None

    def inhibit_spec(self) -> Inhibits | None:
        if self.inhibits is None or isinstance(self.inhibits, Inhibits):
            return self.inhibits
        return Inhibits(rules=list(self.inhibits)) if self.inhibits else None

    def state_key(self) -> tuple[str, str, str, tuple[str, ...]]:
        """A rule keeps its state across a reload while this is unchanged (§2.6)."""
        return (self.id, self.source, self.event, tuple(self.group_by))


class RuleFile(Strict):
    """The top level of a rule file."""

    rules: list[Rule] = Field(default_factory=list)


AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()
Rule.model_rebuild()
RuleFile.model_rebuild()


EVENT_MODE_FORBIDDEN = ("for", "count", "absent_for", "unchanged_for", "keep_firing_for",
                        "repeat")
"""Rule keys that need alert state, so they are `check` errors in `mode: event`."""

_NUMERIC_OPS = frozenset({"above", "below", "crosses_above", "crosses_below",
                          "clear_below", "clear_above"})
_CLEARS = {"clear_below": ("above", "crosses_above"), "clear_above": ("below", "crosses_below")}

Loc = tuple[Any, ...]


class RuleChecker:
    """Checks rules one by one against a config, then across rules; collects the results.

    `add()` returns the problems of one rule and keeps it (defaults applied, literals
    coerced) when it has none; `cross_checks()` reports duplicate ids at every place and
    unknown `inhibits` targets once all files are in.
    """

    def __init__(self, config: Config, broken_sources: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.broken_sources = broken_sources
        self._ids: dict[str, list[tuple[Marks, Loc]]] = {}
        self._inhibits: list[tuple[str, Marks, Loc]] = []
        self._rules: list[Rule] = []

    def rules(self) -> list[Rule]:
        return list(self._rules)

    def note_id(self, rule_id: Any, marks: Marks, path: Loc) -> None:
        """Record an id (also of an invalid rule) for the duplicate-id check."""
        if isinstance(rule_id, str):
            self._ids.setdefault(rule_id, []).append((marks, path))

    def add(self, rule: Rule, raw: dict[str, Any], marks: Marks, path: Loc) -> list[Problem]:
        self.note_id(rule.id, marks, path)
        out: list[Problem] = []

        def report(sub: Loc, message: str, *, at_key: bool = False,
                   warning: bool = False) -> None:
            out.append(marks.problem((*path, *sub), message, at_key=at_key, warning=warning))

        spec = self._event_spec(rule, report)
        spec_fields: dict[str, FieldType] = dict(spec.fields) if spec else {}
        where = self._where(rule, spec_fields, report) if spec else rule.where
        when = rule.when
        if spec and when is not None:
            when = _Conditions(spec_fields, rule.mode, report).check(when, ("when",), False)
        if spec:
            self._names(rule, spec_fields, report)
            self._subscription(rule, where, report)
        self._templates(rule, report)
        self._notify(rule, report)
        if rule.mode == "event":
            for key in EVENT_MODE_FORBIDDEN:
                if key in raw:
                    report((key,), f"`{key}` needs alert state; not allowed with "
                           "`mode: event`", at_key=True)
            if raw.get("resolve") is False:
                report(("resolve",), "`resolve` has no meaning with `mode: event`",
                       at_key=True)
        if rule.inhibits is not None:
            spec_inh = rule.inhibit_spec()
            sub = ("inhibits", "rules") if isinstance(rule.inhibits, Inhibits) else ("inhibits",)
            for i, target in enumerate(spec_inh.rules if spec_inh else []):
                self._inhibits.append((target, marks, (*path, *sub, i)))
        if not any(not p.warning for p in out):
            self._rules.append(self._with_defaults(rule, where, when))
        return out

    def cross_checks(self) -> list[Problem]:
        out: list[Problem] = []
        for rule_id, places in self._ids.items():
            if len(places) < 2:
                continue
            for marks, path in places:
                others = [m.problem((*p, "id"), "") for m, p in places if (m, p) != (marks, path)]
                where = ", ".join(f"{o.file}:{o.line}" for o in others)
                out.append(marks.problem((*path, "id"),
                                         f"duplicate rule id `{rule_id}` (also at {where})"))
        for target, marks, path in self._inhibits:
            if target not in self._ids:
                out.append(marks.problem(path, f"`inhibits`: unknown rule id `{target}`"
                                         + did_you_mean(target, self._ids)))
        return out

    def _event_spec(self, rule: Rule, report: Any) -> EventSpec | None:
        settings = self.config.sources.get(rule.source)
        if settings is None:
            if rule.source in self.broken_sources:
                return None  # its config block is invalid and reported there
            report(("source",), f"unknown source `{rule.source}`"
                   + did_you_mean(rule.source, self.config.sources))
            return None
        kind = SOURCES[settings.kind]
        spec = kind.event(rule.event)
        if spec is None:
            report(("event",), f"source `{rule.source}` ({kind.kind}) has no event type "
                   f"`{rule.event}`" + did_you_mean(rule.event, kind.event_types()))
        return spec

    def _where(self, rule: Rule, fields: dict[str, FieldType],
               report: Any) -> dict[str, Any]:
        where: dict[str, Any] = {}
        for key, value in rule.where.items():
            if key not in fields:
                report(("where", key), _unknown_field(key, rule.event, fields), at_key=True)
                continue
            try:
                if isinstance(value, list):
                    where[key] = [coerce(fields[key], v) for v in value]
                else:
                    where[key] = coerce(fields[key], value)
            except ValueError as exc:
                report(("where", key), f"`{key}`: {exc}")
        return where

    def _names(self, rule: Rule, fields: dict[str, FieldType], report: Any) -> None:
        for i, name in enumerate(rule.group_by):
            if name not in fields:
                report(("group_by", i), _unknown_field(name, rule.event, fields))
        if rule.unchanged_for and rule.unchanged_for.field not in fields:
            report(("unchanged_for", "field"),
                   _unknown_field(rule.unchanged_for.field, rule.event, fields))

    def _subscription(self, rule: Rule, where: dict[str, Any], report: Any) -> None:
        settings = self.config.sources[rule.source]
        kind: SourceKind = SOURCES[settings.kind]
        for name in kind.interest_fields:
            if name not in where:
                continue
            subscribed = kind.subscribed(settings)
            if subscribed is None:
                continue
            values = where[name] if isinstance(where[name], list) else [where[name]]
            for value in values:
                if str(value) not in subscribed:
                    report(("where", name), f"source `{rule.source}` is not subscribed to "
                           f"`{value}` in its config; it will subscribe to it at run time",
                           warning=True)

    def _templates(self, rule: Rule, report: Any) -> None:
        for key in ("message", "dedup_key"):
            text = getattr(rule, key)
            if text is None:
                continue
            try:
                compile_template(text)
            except TemplateError as exc:
                report((key,), f"`{key}`: {exc}")

    def _notify(self, rule: Rule, report: Any) -> None:
        for i, name in enumerate(rule.notify or []):
            if name not in self.config.notifiers:
                report(("notify", i), f"unknown notifier `{name}`"
                       + did_you_mean(name, self.config.notifiers))

    def _with_defaults(self, rule: Rule, where: dict[str, Any],
                       when: Condition | None) -> Rule:
        d = self.config.defaults
        event_mode = rule.mode == "event"
        update: dict[str, Any] = {
            "where": where, "when": when,
            "severity": rule.severity if rule.severity is not None else d.severity,
            "notify": list(rule.notify) if rule.notify is not None else list(d.notify),
            "repeat": rule.repeat if rule.repeat is not None else (0.0 if event_mode
                                                                   else d.repeat),
            "dedup_window": (rule.dedup_window if rule.dedup_window is not None
                             else d.dedup_window),
        }
        return rule.model_copy(update=update)


def _unknown_field(name: str, event: str, fields: dict[str, FieldType]) -> str:
    return f"`{name}` is not a field of `{event}` events" + did_you_mean(name, fields)


class _Conditions:
    """Checks a `when` tree and returns it with literals coerced to the field types."""

    def __init__(self, fields: dict[str, FieldType], mode: str, report: Any) -> None:
        self.fields = fields
        self.mode = mode
        self.report = report

    def check(self, cond: Condition, loc: Loc, negated: bool) -> Condition:
        if isinstance(cond, str):
            return self._expression(cond, loc)
        if isinstance(cond, AllCondition):
            return AllCondition(all=[self.check(c, (*loc, "all", i), negated)
                                     for i, c in enumerate(cond.all)])
        if isinstance(cond, AnyCondition):
            return AnyCondition(any=[self.check(c, (*loc, "any", i), True)
                                     for i, c in enumerate(cond.any)])
        if isinstance(cond, NotCondition):
            return NotCondition(**{"not": self.check(cond.not_, (*loc, "not"), True)})
        return self._field(cond, loc, negated)

    def _expression(self, source: str, loc: Loc) -> str:
        try:
            compile_expression(source)
            names = _expression_names(source)
        except TemplateError as exc:
            self.report(loc, f"`when` expression: {exc}")
            return source
        for name in sorted(names.difference(self.fields)):
            self.report(loc, f"expression reads `{name}`, which is not a declared field"
                        + did_you_mean(name, self.fields), warning=True)
        return source

    def _field(self, cond: FieldCondition, loc: Loc, negated: bool) -> FieldCondition:
        name = cond.field
        if name not in self.fields:
            self.report((*loc, "field"), f"`{name}` is not a declared field"
                        + did_you_mean(name, self.fields))
            return cond
        ftype = self.fields[name]
        update: dict[str, Any] = {}
        ops = cond.operators() + [k for k in _CLEARS if getattr(cond, k) is not None]
        for op in ops:
            here = (*loc, op)
            value = getattr(cond, _attr(op))
            if negated and op in STATEFUL_OPERATORS:
                self.report(here, f"`{op}` depends on history and cannot be used under "
                            "`not` or `any`", at_key=True)
            if self.mode == "event" and op in _CLEARS:
                self.report(here, f"`{op}` needs alert state; not allowed with "
                            "`mode: event`", at_key=True)
            numeric_op = op in _NUMERIC_OPS or op in ("change", "change_pct")
            if numeric_op and ftype not in NUMERIC_TYPES:
                self.report(here, f"`{op}` compares numbers but `{name}` is {ftype}",
                            at_key=True)
                continue
            if op in ("change", "change_pct", "changed"):
                continue
            try:
                update[_attr(op)] = ([coerce(ftype, v) for v in value] if op == "in"
                                     else coerce(ftype, value))
            except ValueError:
                self.report(here, f"`{op}` needs {_expected(ftype)} for `{name}`, "
                            f"found {value!r}")
        self._clears(cond, update, loc)
        return cond.model_copy(update=update)

    def _clears(self, cond: FieldCondition, update: dict[str, Any], loc: Loc) -> None:
        for clear, levels in _CLEARS.items():
            if clear not in update:
                continue
            present = [lv for lv in levels if lv in update]
            if not present:
                if all(getattr(cond, lv) is None for lv in levels):
                    self.report((*loc, clear), f"`{clear}` needs `{levels[0]}` or "
                                f"`{levels[1]}` on the same field", at_key=True)
                continue
            level, value = update[present[0]], update[clear]
            bad = value >= level if clear == "clear_below" else value <= level
            if bad:
                rel = "below" if clear == "clear_below" else "above"
                self.report((*loc, clear), f"`{clear}` ({value}) must be {rel} "
                            f"`{present[0]}` ({level})")


@lru_cache(maxsize=4096)
def _expression_names(source: str) -> frozenset[str]:
    # Identical expressions across many rule files are parsed once.
    return frozenset(expression_names(source))


def _expected(ftype: FieldType) -> str:
    return {"number": "a number", "decimal": "a number", "int": "an integer",
            "bool": "true or false", "str": "text"}.get(ftype, f"a {ftype}")
