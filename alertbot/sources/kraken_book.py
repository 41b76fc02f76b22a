"""Kraken WebSocket v2 order book: levels kept as Decimal, CRC32 checksum as Kraken defines it.

A `Book` holds one symbol's aggregated book (bids and asks, price → qty) and applies a
snapshot or an update message exactly as kraken.md §4.3 says: every level of a message
in order, `qty` 0 deletes, then each side is truncated to the subscribed depth. The
checksum (kraken.md §5) covers the 10 best asks then the 10 best bids, each price and
qty rendered at the instrument's precision — or, without a known precision, as the exact
wire text, which is why levels are Decimal: a float loses trailing zeros (`0.10000000`)
and with them the checksum (the bug of kraken-connector, kraken.md §7.2).
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

CHECKSUM_LEVELS = 10
DEPTHS = (10, 25, 100, 500, 1000)


def to_decimal(value: Any) -> Decimal:
    """A wire number (Decimal, int, str or float) as Decimal; ValueError if it is not one.

    Floats go through `repr` so `0.1` stays `0.1` (not its binary expansion).
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, found {value!r}")
    else:
        try:
            result = Decimal(repr(value) if isinstance(value, float) else value)
        except InvalidOperation:
            raise ValueError(f"expected a number, found {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite number, found {value!r}")
    return result


def checksum_text(value: Decimal, precision: int | None) -> str:
    """One price or qty as the checksum wants it: fixed-point, no `.`, no leading zeros."""
    text = f"{value:.{precision}f}" if precision is not None else format(value, "f")
    return text.replace(".", "").lstrip("0")


class _Side:
    """One side of the book: price → qty, prices sorted best-first, and each level's
    checksum text (rendered once when the level is set, not on every checksum)."""

    __slots__ = ("descending", "keys", "levels", "texts")

    def __init__(self, descending: bool) -> None:
        self.levels: dict[Decimal, Decimal] = {}
        self.texts: dict[Decimal, str] = {}
        # Sorted ascending (bids by negated price), so index 0 is always the best level.
        self.keys: list[Decimal] = []
        self.descending = descending

    def _key(self, price: Decimal) -> Decimal:
        # copy_negate is exact; arithmetic negation would round to the context precision.
        return price.copy_negate() if self.descending else price

    def set(self, price: Decimal, qty: Decimal, text: str) -> None:
        key = self._key(price)
        if qty == 0:
            if self.levels.pop(price, None) is not None:
                del self.texts[price]
                del self.keys[bisect_left(self.keys, key)]
            return
        if price not in self.levels:
            insort(self.keys, key)
        self.levels[price] = qty
        self.texts[price] = text

    def truncate(self, depth: int) -> None:
        if len(self.keys) > depth:
            for key in self.keys[depth:]:
                price = self._key(key)
                del self.levels[price]
                del self.texts[price]
            del self.keys[depth:]

    def top(self, n: int) -> list[tuple[Decimal, Decimal]]:
        out = []
        for key in self.keys[:n]:
            price = self._key(key)
            out.append((price, self.levels[price]))
        return out

    def top_text(self, n: int) -> str:
        texts = self.texts
        return "".join([texts[self._key(key)] for key in self.keys[:n]])

    def clear(self) -> None:
        self.levels.clear()
        self.texts.clear()
        self.keys.clear()


def parse_levels(raw: Any) -> list[tuple[Decimal, Decimal]]:
    """`[{"price": p, "qty": q}, ...]` → [(Decimal, Decimal)]; ValueError if malformed."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("book levels must be a list")
    out = []
    for level in raw:
        if not isinstance(level, Mapping) or "price" not in level or "qty" not in level:
            raise ValueError(f"malformed book level {level!r}")
        qty = to_decimal(level["qty"])
        if qty < 0:
            raise ValueError(f"negative book quantity {level!r}")
        out.append((to_decimal(level["price"]), qty))
    return out


class Book:
    """One symbol's order book at a subscribed depth; see the module docstring."""

    def __init__(self, symbol: str, depth: int = 10, price_precision: int | None = None,
                 qty_precision: int | None = None) -> None:
        self.symbol = symbol
        self.depth = depth
        self.price_precision = price_precision
        self.qty_precision = qty_precision
        self.bids = _Side(descending=True)
        self.asks = _Side(descending=False)

    def _text(self, price: Decimal, qty: Decimal) -> str:
        return (checksum_text(price, self.price_precision)
                + checksum_text(qty, self.qty_precision))

    def set_precision(self, price_precision: int | None, qty_precision: int | None) -> None:
        """Use the instrument's precisions from now on (re-renders the levels' texts)."""
        self.price_precision, self.qty_precision = price_precision, qty_precision
        for side in (self.bids, self.asks):
            for price, qty in side.levels.items():
                side.texts[price] = self._text(price, qty)

    def apply(self, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]],
              snapshot: bool = False) -> None:
        """Apply one message's levels in order, then truncate both sides to the depth."""
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                side.set(price, qty, self._text(price, qty) if qty else "")
        self.bids.truncate(self.depth)
        self.asks.truncate(self.depth)

    def checksum(self) -> int:
        """Kraken's CRC32 of the current top 10 asks and bids."""
        text = self.asks.top_text(CHECKSUM_LEVELS) + self.bids.top_text(CHECKSUM_LEVELS)
        return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        top = self.bids.top(1)
        return top[0] if top else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        top = self.asks.top(1)
        return top[0] if top else None
