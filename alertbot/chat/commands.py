"""The chat commands' logic: arguments in, reply lines out, through `ServiceControl`.

Pure of Telegram: each command takes the words after it and returns the reply as
styled lines (`notifiers/telegram_format.py`), which the bot escapes for HTML and splits
at 4,096 characters like any alert. `/silence <rule|label=value[,label=value]> <duration>
[comment]` adds a silence to the store shared with `alertbot silence`; `/unsilence <id>`
removes one; `/ack <fingerprint|rule>` stops reminders for the current episode;
`/status` lists firing alerts and source states; `/rules` the loaded rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..control import ServiceControl
from ..durations import parse_duration
from ..model import format_time
from ..notifiers.render import MARKERS, format_duration, labels_line
from ..notifiers.telegram_format import Line

HELP: list[Line] = [
    (("b", "alertbot commands"),),
    (("code", "/status"), ("", " firing alerts and source states")),
    (("code", "/rules"), ("", " loaded rules")),
    (("code", "/silence <rule|label=value> <duration> [comment]"),
     ("", " mute matching alerts, e.g. /silence btc-high 2h maintenance")),
    (("code", "/unsilence <id>"), ("", " remove a silence")),
    (("code", "/ack <alert>"), ("", " stop reminders for this episode (fingerprint or rule)")),
    (("code", "/help"), ("", " this list")),
]

Command = Callable[[ServiceControl, Sequence[str], str, float], list[Line]]


def _text(*lines: str) -> list[Line]:
    return [(("", line),) for line in lines]


def status(control: ServiceControl, args: Sequence[str], author: str,
           now: float) -> list[Line]:
    firing = control.firing()
    lines: list[Line] = [(("b", f"{len(firing)} firing"),)]
    for a in firing:
        span: Line = (("", MARKERS.get(a.severity, "") + " "), ("b", a.rule),
                      ("", f" for {format_duration(now - a.starts_at)}"))
        if a.labels:
            span += (("", " "), ("code", labels_line(a.labels)))
        lines.append(span)
    states = control.source_states()
    if states:
        lines.append(())
        lines.append((("b", "sources"),))
        for name, state in sorted(states.items()):
            mark = "\u2705" if state == "connected" else "\u274C"
            lines.append((("", f"{mark} {name}: {state}"),))
    silences = control.silences()
    if silences:
        lines.append(())
        lines.append((("b", f"{len(silences)} silences"), ("", " (/unsilence <id>)")))
        for s in silences:
            lines.append((("code", s.id), ("", " " + _matchers(s.matchers)
                                          + f" until {format_time(s.ends_at)}")))
    return lines


def rules(control: ServiceControl, args: Sequence[str], author: str,
          now: float) -> list[Line]:
    found = control.rules()
    lines: list[Line] = [(("b", f"{len(found)} rules"),)]
    for r in found:
        lines.append((("", MARKERS.get(r.severity, "") + " "), ("code", r.id),
                      ("", f" {r.source}/{r.event}" + (" (event)" if r.mode == "event"
                                                      else ""))))
    return lines


def parse_target(target: str) -> dict[str, str]:
    """`rule-id` → {rule: id}; `a=b,c=~x.*` → matchers (ValueError when malformed)."""
    if "=" not in target:
        return {"rule": target}
    out: dict[str, str] = {}
    for item in target.split(","):
        name, _, value = item.partition("=")
        if not name.strip() or not value:
            raise ValueError(f"{item!r} is not label=value")
        out[name.strip()] = value
    return out


def silence(control: ServiceControl, args: Sequence[str], author: str,
            now: float) -> list[Line]:
    if len(args) < 2:
        return _text("usage: /silence <rule|label=value> <duration> [comment]",
                     "example: /silence btc-high 2h night maintenance")
    try:
        matchers = parse_target(args[0])
        duration = parse_duration(args[1])
        if duration <= 0:
            raise ValueError("the duration must be positive")
    except ValueError as exc:
        return _text(f"not silenced: {exc}")
    s = control.silence_add(matchers, duration, comment=" ".join(args[2:]), author=author)
    return [(("", "\U0001F507 silenced "), ("code", _matchers(s.matchers)),
             ("", f" until {format_time(s.ends_at)} — id "), ("code", s.id))]


def unsilence(control: ServiceControl, args: Sequence[str], author: str,
              now: float) -> list[Line]:
    if len(args) != 1:
        return _text("usage: /unsilence <id> (ids: /status)")
    if control.silence_remove(args[0]):
        return _text(f"silence {args[0]} removed")
    return _text(f"no silence {args[0]}")


def ack(control: ServiceControl, args: Sequence[str], author: str,
        now: float) -> list[Line]:
    if len(args) != 1:
        return _text("usage: /ack <fingerprint|rule>")
    acked = control.ack(args[0])
    if not acked:
        return _text(f"nothing firing matches {args[0]}")
    return _text(f"acknowledged {len(acked)} alert(s): no reminders this episode",
                 *(f"{a.rule} {labels_line(a.labels)}".strip() for a in acked))


def help_(control: ServiceControl, args: Sequence[str], author: str,
          now: float) -> list[Line]:
    return list(HELP)


def _matchers(matchers: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(matchers.items()))


COMMANDS: dict[str, Command] = {"status": status, "rules": rules, "silence": silence,
                                "unsilence": unsilence, "ack": ack, "help": help_,
                                "start": help_}
