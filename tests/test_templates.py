"""Message templates: the plain-substitution fast path renders exactly what Jinja renders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertbot.templates import _MESSAGES, _substitutions, compile_template

NAMES = ["symbol", "last", "rule", "value", "labels", "range", "missing"]
values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                   st.text(max_size=6), st.decimals(allow_nan=False, places=3),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
pieces = st.lists(st.one_of(st.sampled_from(NAMES).map(lambda n: "{{ " + n + " }}"),
                            st.text(alphabet="ab ,.:\n%$", max_size=5)), max_size=6)


def _jinja(source: str, context: dict[str, Any]) -> str:
    return _MESSAGES.from_string(source).render(context)


@settings(max_examples=300, deadline=None)
@given(pieces, st.dictionaries(st.sampled_from(NAMES[:-1]), values))
def test_substitution_renders_like_jinja(parts: list[str], context: dict[str, Any]) -> None:
    source = "".join(parts)
    assert _substitutions(source) is not None
    assert compile_template(source)(context) == _jinja(source, context)


def test_the_fast_path_is_taken_only_for_plain_names() -> None:
    assert _substitutions("{{ symbol }} at {{ last }}") == [
        (False, "symbol"), (True, " at "), (False, "last")]
    for source in ["{{ a.b }}", "{{ a|round }}", "{% if a %}x{% endif %}", "{{ 'q' }}"]:
        assert _substitutions(source) is None
        assert compile_template(source)({"a": 1.0}) == _jinja(source, {"a": 1.0})


def test_undefined_and_global_names_go_through_jinja() -> None:
    render = compile_template("[{{ nothing }}|{{ range }}]")
    assert render({}) == _jinja("[{{ nothing }}|{{ range }}]", {})
    assert compile_template("{{ x }}")({"x": Decimal("1.50")}) == "1.50"
