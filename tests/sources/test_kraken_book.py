"""Kraken order book and checksum: recorded stream, worked examples, precision traps."""

from __future__ import annotations

import json
import os
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alertbot.sources.kraken_book import Book, checksum_text, parse_levels, to_decimal

_HERE = Path(__file__).resolve()
FIXTURES = Path(os.environ.get("KRAKEN_FIXTURES", "")) if os.environ.get("KRAKEN_FIXTURES") \
    else next((p for p in (_HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken",
                           _HERE.parents[3] / "shared" / "fixtures" / "kraken") if p.is_dir()),
              _HERE.parents[1] / "data" / "shared" / "fixtures" / "kraken")
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared Kraken fixtures absent")


def _line(name: str, index: int) -> Any:
    lines = (FIXTURES / name).read_text().splitlines()
    return json.loads(lines[index], parse_float=Decimal)


def _snapshot_book(frame: Any, pp: int | None, qp: int | None) -> tuple[Book, int]:
    entry = frame["data"][0]
    book = Book(entry["symbol"], 10, pp, qp)
    book.apply(parse_levels(entry["bids"]), parse_levels(entry["asks"]), snapshot=True)
    return book, entry["checksum"]


def test_recorded_stream_all_510_checksums_verify() -> None:
    """Every frame of the recorded BTC/USD depth-10 stream matches its checksum."""
    book = Book("BTC/USD", 10, 1, 8)
    matched = total = 0
    for line in (FIXTURES / "recorded_book_btcusd_depth10.jsonl").read_text().splitlines():
        frame = json.loads(line, parse_float=Decimal)
        entry = frame["data"][0]
        book.apply(parse_levels(entry.get("bids")), parse_levels(entry.get("asks")),
                   snapshot=frame["type"] == "snapshot")
        total += 1
        matched += book.checksum() == entry["checksum"]
    assert (matched, total) == (510, 510)


def test_worked_example_a_gives_3310070434() -> None:
    """Kraken's checksum-guide snapshot (BTC/USD 1/8) hashes to 3310070434."""
    book, expected = _snapshot_book(_line("third_party_test_examples.jsonl", 0), 1, 8)
    assert expected == 3310070434
    assert book.checksum() == 3310070434


def test_worked_example_a_from_wire_text_without_precision() -> None:
    """With Decimal parsing the exact wire text alone gives the right checksum."""
    book, _ = _snapshot_book(_line("third_party_test_examples.jsonl", 0), None, None)
    assert book.checksum() == 3310070434


def test_worked_example_a_input_string() -> None:
    """The 281-character checksum input of kraken.md §5 hashes to the documented value."""
    text = ("45285210000045286415457195345286615457110945289615456091145290215890660"
            "45291815455349145294744547494529613538000045297599455424529951877282745"
            "28351000000045283415458201545282110000000452810100000004528031545925864"
            "52790799000045277633101034527753000000045277315460273745276615445238")
    assert len(text) == 281
    assert zlib.crc32(text.encode()) & 0xFFFFFFFF == 3310070434


def test_worked_example_b_gives_2439117997() -> None:
    """The book-page MATIC/USD snapshot (precision 4/8) hashes to 2439117997."""
    book, expected = _snapshot_book(_line("kraken_docs_examples.jsonl", 7), 4, 8)
    assert expected == 2439117997
    assert book.checksum() == 2439117997


def test_float_parsing_breaks_the_checksum() -> None:
    """The public clients' bug: floats drop trailing zeros and the checksum fails."""
    frame = json.loads((FIXTURES / "third_party_test_examples.jsonl").read_text()
                       .splitlines()[0])
    entry = frame["data"][0]
    book = Book("BTC/USD", 10)
    book.apply(parse_levels(entry["bids"]), parse_levels(entry["asks"]), snapshot=True)
    assert book.checksum() != 3310070434


def test_checksum_text_strips_dot_and_leading_zeros() -> None:
    """`0.00100000` → `100000`, `45285.2` → `452852`; precision pads trailing zeros."""
    assert checksum_text(Decimal("0.00100000"), None) == "100000"
    assert checksum_text(Decimal("45285.2"), None) == "452852"
    assert checksum_text(Decimal("0.566"), 4) == "5660"
    assert checksum_text(Decimal("5.1E-5"), 8) == "5100"


def test_update_deletes_zero_qty_and_truncates_to_depth() -> None:
    """qty 0 removes a level; a better level pushes the worst one out of the depth."""
    book = Book("X/Y", 2, 1, 2)
    book.apply([(Decimal("10.0"), Decimal(1)), (Decimal("9.0"), Decimal(1))],
               [(Decimal("11.0"), Decimal(1)), (Decimal("12.0"), Decimal(1))], snapshot=True)
    book.apply([(Decimal("10.5"), Decimal(2))], [(Decimal("11.0"), Decimal(0))])
    assert book.bids.top(5) == [(Decimal("10.5"), Decimal(2)), (Decimal("10.0"), Decimal(1))]
    assert book.asks.top(5) == [(Decimal("12.0"), Decimal(1))]
    assert book.best_bid() == (Decimal("10.5"), Decimal(2))


def test_same_price_twice_in_one_message_applies_in_order() -> None:
    """A price repeated within a message ends with its last quantity."""
    book = Book("X/Y", 10)
    book.apply([(Decimal(5), Decimal(1)), (Decimal(5), Decimal(0)), (Decimal(5), Decimal(3))],
               [], snapshot=True)
    assert book.bids.top(10) == [(Decimal(5), Decimal(3))]


@pytest.mark.parametrize("value", [True, None, "abc", [1], "NaN", float("inf")])
def test_to_decimal_rejects_non_numbers(value: Any) -> None:
    """Booleans, text, lists and non-finite values are not book numbers."""
    with pytest.raises(ValueError):
        to_decimal(value)


def test_to_decimal_accepts_exponent_form_and_floats() -> None:
    """`5.1e-05` (text or float) parses to the exact decimal."""
    assert to_decimal("5.1e-05") == Decimal("0.000051")
    assert to_decimal(5.1e-05) == Decimal("0.000051")
    assert to_decimal(0.1) == Decimal("0.1")


def test_set_precision_later_rerenders_levels() -> None:
    """Float-trimmed levels fail without precision and verify once the instrument arrives."""
    frame = json.loads((FIXTURES / "recorded_book_btcusd_depth10.jsonl").read_text()
                       .splitlines()[0], parse_float=Decimal)
    entry = frame["data"][0]
    book = Book("BTC/USD", 10)
    book.apply(parse_levels(entry["bids"]), parse_levels(entry["asks"]), snapshot=True)
    assert book.checksum() != entry["checksum"]
    book.set_precision(1, 8)
    assert book.checksum() == entry["checksum"] == 2785033588
