"""Sandboxed Jinja2 for rule messages, `dedup_key`, `when:` expressions and notifier templates.

One sandboxed environment for the process; identical sources compile once (cache), so
1,000 rule files sharing a message template pay once. Undefined names render empty in
messages and are falsy in expressions rather than raising mid-alert; a template that
does not compile raises `TemplateError` at load, which `check` reports located. A message
made only of text and plain `{{ name }}` substitutions (most of them) renders without
building a Jinja context — the same output, a tenth of the cost per alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .durations import format_duration
from .model import format_time

Renderer = Callable[[Mapping[str, Any]], str]
Predicate = Callable[[Mapping[str, Any]], Any]


class TemplateError(ValueError):
    """A template or expression that does not compile (message says where in it)."""


def _env(undefined: type[Undefined]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=undefined, autoescape=False,
                                        keep_trailing_newline=False)
    env.filters["duration"] = format_duration
    env.filters["time"] = format_time
    return env


_MESSAGES = _env(Undefined)
_EXPRESSIONS = _env(Undefined)
_STRICT = _env(StrictUndefined)


def _describe(exc: TemplateSyntaxError) -> str:
    where = f" (template line {exc.lineno})" if exc.lineno and exc.lineno > 1 else ""
    return f"template does not compile: {exc.message}{where}"


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Renderer:
    """Compile a message or dedup_key template; the renderer never raises."""
    try:
        template = _MESSAGES.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc)) from None

    def render(context: Mapping[str, Any]) -> str:
        try:
            return template.render(context)
        except (UndefinedError, SecurityError, ArithmeticError, TypeError,
                ValueError, AttributeError) as exc:
            return f"[template error: {exc}]"

    parts = _substitutions(source)
    if parts is None:
        return render

    def substitute(context: Mapping[str, Any]) -> str:
        out = []
        for literal, text in parts:
            if literal:
                out.append(text)
                continue
            value = context.get(text, _MISSING)
            if value is _MISSING:
                return render(context)   # a global or undefined name: Jinja decides
            try:
                out.append(str(value))   # what Jinja's `{{ name }}` does without autoescape
            except Exception:
                return render(context)
        return "".join(out)

    return substitute


_MISSING = object()


def _substitutions(source: str) -> list[tuple[bool, str]] | None:
    """(is text, text or name) for a template of only text and `{{ name }}`, else None."""
    body = _MESSAGES.parse(source).body
    if not body:
        return []
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts: list[tuple[bool, str]] = []
    for node in body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append((True, node.data))
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            parts.append((False, node.name))
        else:
            return None
    return parts


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Predicate:
    """Compile a `when:` expression; evaluation errors count as false (never raise)."""
    try:
        expr = _EXPRESSIONS.compile_expression(source, undefined_to_none=True)
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc)) from None

    def evaluate(context: Mapping[str, Any]) -> Any:
        try:
            return expr(**context)
        except (UndefinedError, SecurityError, ArithmeticError, TypeError,
                ValueError, AttributeError):
            return False

    return evaluate


def expression_names(source: str) -> set[str]:
    """Top-level variable names an expression reads (for `check`'s unknown-field hints)."""
    from jinja2 import meta

    try:
        ast = _STRICT.parse("{{ " + source + " }}")
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc)) from None
    return set(meta.find_undeclared_variables(ast))
