"""What rules ask a source to subscribe to: their `where` values on interest fields.

A Kraken rule with `where: {symbol: ETH/USD}` needs the ETH/USD feed even if the source
block only lists BTC/USD; a Kakitu rule on `to_account: kshs_…` needs that account in
the confirmation filter. `rule_interest` collects, per event type, the values rules name
on the kind's `interest_fields`; `apply_interest` hands them to a built source before it
connects, and `update_interest` to a running one after a reload (Kakitu updates its
filter in place; a source with only `set_interest` takes effect on its next connection,
so the caller reconnects it when the interest grew).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.rules import Rule

Interest = dict[str, frozenset[str]]   # event type → values


def rule_interest(rules: Iterable[Rule], source: str, fields: Iterable[str]) -> Interest:
    fields = tuple(fields)
    out: dict[str, set[str]] = {}
    for rule in rules:
        if rule.source != source:
            continue
        for name in fields:
            value = rule.where.get(name)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    out.setdefault(rule.event, set()).add(v)
    return {etype: frozenset(values) for etype, values in out.items()}


def all_values(interest: Mapping[str, frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*interest.values()) if interest else frozenset()


def _accounts(interest: Interest) -> set[str]:
    """The valid, normalised accounts among the values (for a Kakitu source)."""
    from .kakitu_address import rule_accounts
    return set(rule_accounts([{"account": sorted(all_values(interest))}], ["account"]))


def apply_interest(source: Any, interest: Interest) -> None:
    """Before the first connection: tell the source what rules ask for."""
    if hasattr(source, "update_accounts"):
        source.watched |= _accounts(interest)
    elif hasattr(source, "set_interest"):
        source.set_interest(interest)


async def update_interest(source: Any, old: Interest, new: Interest) -> bool:
    """After a reload; returns True when the source must reconnect to take it in."""
    if old == new:
        return False
    if hasattr(source, "update_accounts"):
        before, after = _accounts(old), _accounts(new)
        configured = set(getattr(source, "configured_accounts", set()))
        await source.update_accounts(sorted(after - before),
                                     sorted((before - after) - configured))
        return False
    if hasattr(source, "set_interest"):
        source.set_interest(new)
        grew = any(not new[e] <= old.get(e, frozenset()) for e in new)
        return grew
    return False
