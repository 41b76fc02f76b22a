"""Pure parts of the Telegram integration: splitting, escaping, retry_after, the fake."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertbot.notifiers.telegram import retry_after_seconds
from alertbot.notifiers.telegram_format import Line, render, split, utf16_len
from tests.fakes.telegram_api import EntityError, parse_html, parse_markdown_v2

TEXT = st.text(alphabet=st.sampled_from(list("ab <>&_*[]`\\.!😀é\n")), max_size=300)


@given(st.lists(st.tuples(st.sampled_from(["", "b", "i", "code"]), TEXT), max_size=6),
       st.integers(min_value=20, max_value=200))
def test_split_parts_parse_and_keep_the_text(spans: list[tuple[str, str]],
                                             limit: int) -> None:
    """Every part parses as HTML and MarkdownV2, fits the limit, and no text is lost."""
    lines: list[Line] = [((style, t),)  # type: ignore[misc]
                         for style, text in spans for t in text.split("\n")]
    parts = split(lines, limit)
    for part in parts:
        visible = parse_html(render(part, "HTML"))
        assert visible == render(part, "none")
        assert parse_markdown_v2(render(part, "MarkdownV2")) == visible
        assert utf16_len(visible) <= limit
    kept = "".join(render(p, "none") for p in parts)
    original = "".join(t for line in lines for _, t in line)
    assert kept.replace("\n", "").replace(" ", "") == original.replace(" ", "")


def test_fake_api_rejects_what_telegram_rejects() -> None:
    """The fake's validators refuse raw <, bare &, unknown tags and reserved characters."""
    for bad in ("a < b", "a & b", "<x>y</x>", "<b>open"):
        with pytest.raises(EntityError):
            parse_html(bad)
    assert parse_html("<b>a &lt; b &amp; c</b>") == "a < b & c"
    for bad in ("a.b", "a_b", "*open", "[x]"):
        with pytest.raises(EntityError):
            parse_markdown_v2(bad)
    assert parse_markdown_v2("*a\\.b* `x_y`") == "a.b x_y"


def test_retry_after_int_or_timedelta() -> None:
    """PTB's retry_after comes as int seconds or as a timedelta: both are seconds here."""
    assert retry_after_seconds(2) == 2.0
    assert retry_after_seconds(dt.timedelta(seconds=2, milliseconds=500)) == 2.5
