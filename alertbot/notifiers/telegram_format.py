"""Telegram message text: structured lines, escaping per parse mode, UTF-16 splitting.

A message is built as lines of styled spans whose text is the raw user text (rule id,
message, labels); markup is added only when a part is rendered, after splitting. That
is what makes the split safe: a part boundary can never fall inside a tag or an
entity, every part is balanced on its own, and the plain-text fallback of a part (after
Telegram's "can't parse entities") is the same spans rendered without markup. Lengths
are counted the way Telegram counts them: UTF-16 code units of the visible text, at
most 4,096 per message; parts break at line ends, and a line longer than a whole
message breaks at its last space that fits (or hard, never inside a code point).
Pure functions, stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..model import Notification, Severity, format_time
from .render import (
    MARKERS,
    RESOLVED_MARKER,
    format_duration,
    labels_line,
    severity_marker,
    status_phrase,
)

Style = Literal["", "b", "i", "code"]
Span = tuple[Style, str]
Line = tuple[Span, ...]
Mode = Literal["HTML", "MarkdownV2", "none"]

MAX_MESSAGE = 4096
MD_SPECIAL = frozenset("_*[]()~`>#+-=|{}.!\\")
MD_MARK: dict[Style, str] = {"": "", "b": "*", "i": "_", "code": "`"}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji is usually 2)."""
    return len(text.encode("utf-16-le")) // 2


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown_v2(text: str, *, code: bool = False) -> str:
    """MarkdownV2: every reserved character gets a backslash (inside code only ` and \\)."""
    special = frozenset("`\\") if code else MD_SPECIAL
    return "".join("\\" + c if c in special else c for c in text)


# ---------------------------------------------------------------------------- building


def _text_lines(style: Style, text: str) -> list[Line]:
    return [((style, t),) if t else () for t in text.split("\n")]


def text_lines(text: str) -> list[Line]:
    """Plain user text (a notifier `template`'s output) as unstyled lines."""
    return _text_lines("", text)


def notification_lines(n: Notification) -> list[Line]:
    """One notification: marker + bold status line, the message, labels, since when."""
    a = n.alert
    lines: list[Line] = [((("", severity_marker(n) + " "),
                           ("b", f"[{status_phrase(n)}] {a.severity} {a.rule}")))]
    lines += _text_lines("", a.text.strip() or a.rule)
    if a.labels:
        lines.append((("code", labels_line(a.labels)),))
    lines.append((("i", f"since {format_time(a.starts_at)}"),))
    return lines


def group_lines(notifications: Sequence[Notification]) -> list[Line]:
    """A grouped message: a count headline, then one compact block per alert."""
    firing = sum(1 for n in notifications if n.alert.status == "firing")
    resolved = len(notifications) - firing
    parts = [f"{firing} firing"] if firing else []
    if resolved:
        parts.append(f"{resolved} resolved")
    top = max((n.alert.severity for n in notifications if n.alert.status == "firing"),
              default=Severity.info)
    marker = MARKERS.get(top, "") if firing else RESOLVED_MARKER
    lines: list[Line] = [(("", marker + " "),
                          ("b", f"{len(notifications)} alerts: {', '.join(parts)}"))]
    for n in notifications:
        a = n.alert
        head: Line = (("", severity_marker(n) + " "),
                      ("b", f"{a.rule}"), ("", f" [{status_phrase(n)}] "),
                      ("", a.text.strip().replace("\n", " ")))
        lines.append(())
        lines.append(head)
        detail = f"since {format_time(a.starts_at)}"
        if a.status == "resolved" and a.ends_at is not None:
            detail = f"lasted {format_duration(a.ends_at - a.starts_at)}"
        if a.labels:
            lines.append((("code", labels_line(a.labels)), ("i", f" {detail}")))
        else:
            lines.append((("i", detail),))
    return lines


# ---------------------------------------------------------------------------- splitting


def line_len(line: Line) -> int:
    return sum(utf16_len(text) for _, text in line)


def _fit(text: str, room: int) -> int:
    """How many characters of `text` fit in `room` UTF-16 units (prefer a space)."""
    used, cut = 0, 0
    for i, c in enumerate(text):
        used += 2 if ord(c) > 0xFFFF else 1
        if used > room:
            break
        cut = i + 1
    if cut < len(text):
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            return space + 1
    return cut


def split_line(line: Line, limit: int = MAX_MESSAGE, first: int | None = None) -> list[Line]:
    """Break one over-long line into pieces of at most `limit` (the first at most
    `first`, to fill up a part), spans keep their style."""
    pieces: list[Line] = []
    current: list[Span] = []
    room = limit if first is None else first
    for style, text in line:
        while text:
            if utf16_len(text) <= room:
                current.append((style, text))
                room -= utf16_len(text)
                break
            cut = _fit(text, room)
            if cut == 0 and not current and room == limit:
                cut = 1  # only with limit < 2; guards an endless loop
            if cut:
                current.append((style, text[:cut]))
                text = text[cut:]
            pieces.append(tuple(current))
            current, room = [], limit
    if current:
        pieces.append(tuple(current))
    return pieces


def split(lines: Sequence[Line], limit: int = MAX_MESSAGE) -> list[list[Line]]:
    """Pack lines into parts of at most `limit` UTF-16 units (newlines counted)."""
    parts: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in lines:
        n = line_len(line)
        if current and size + 1 + n <= limit:
            current.append(line)
            size += 1 + n
            continue
        if n > limit and current and limit - size - 1 > limit // 4:
            # Fill the current part first instead of leaving it short.
            head, *whole, last = split_line(line, limit, first=limit - size - 1)
            parts.append([*current, head])
        else:
            if current:
                parts.append(current)
            if n <= limit:
                current, size = [line], n
                continue
            *whole, last = split_line(line, limit)
        parts += [[piece] for piece in whole]
        current, size = [last], line_len(last)
    if current:
        parts.append(current)
    return [p for p in parts if "".join(t for line in p for _, t in line).strip()]


# ---------------------------------------------------------------------------- rendering


def _span(style: Style, text: str, mode: Mode) -> str:
    if not text:
        return ""
    if mode == "HTML":
        body = escape_html(text)
        return f"<{style}>{body}</{style}>" if style else body
    if mode == "MarkdownV2":
        mark = MD_MARK[style]
        return mark + escape_markdown_v2(text, code=style == "code") + mark
    return text


def render(part: Sequence[Line], mode: Mode) -> str:
    """The text of one part in `mode` ("none" = plain text, no parse mode)."""
    return "\n".join("".join(_span(style, text, mode) for style, text in line)
                     for line in part)


def plain(lines: Sequence[Line]) -> str:
    return render(lines, "none")
