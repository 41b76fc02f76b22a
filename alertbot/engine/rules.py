"""Rule models (pydantic v2): the rule-file language of DESIGN.md §2.3, as data.

These models define the shape of `rules/*.yaml` and, through `alertbot schema`, the
JSON Schema editors use. Cross-field semantics that need the config (source names,
declared fields, literal coercion, event-mode restrictions, hysteresis consistency) are
checked by the loader, which reports every problem at FILE:LINE:COL.

`when` is a condition tree: a Jinja2 expression string, a field condition (one or more
operators on one field, all of which must hold), or `all`/`any`/`not` of conditions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ..config_types import Duration, SeverityField, Strict

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
