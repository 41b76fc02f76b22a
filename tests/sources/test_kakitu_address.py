"""Kakitu address validation against the real and broken addresses in the fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertbot.sources.kakitu import KakituSettings
from alertbot.sources.kakitu_address import (
    decode_account,
    encode_account,
    normalize_account,
    validate_account,
)


def _fixture(shared_dir: Path) -> list[dict[str, object]]:
    path = shared_dir / "fixtures" / "kakitu" / "kakitu_addresses.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_fixture_address_is_judged_like_the_node(shared_dir: Path) -> None:
    """Each fixture address is accepted exactly when kakitu-node accepts it."""
    rows = _fixture(shared_dir)
    assert len(rows) >= 10
    for row in rows:
        address = str(row["address"])
        assert (validate_account(address) is None) == row["accepted_by_kakitu_node"], address


def test_fixture_public_keys_decode(shared_dir: Path) -> None:
    """Accepted addresses decode to the public key recorded in the fixture."""
    for row in _fixture(shared_dir):
        if row["accepted_by_kakitu_node"]:
            assert decode_account(str(row["address"])).hex().upper() == row["public_key"]


def test_nano_prefix_is_rejected_with_the_fix() -> None:
    """A nano_ address is refused with a message naming kshs_ (or xrb_)."""
    body = "35zrk7ioxfeatbascyqx6iae5gzjbgb9yng4e56pjf8iix81y84j78u3k1ti"
    problem = validate_account("nano_" + body)
    assert problem is not None
    assert "kshs_" in problem and "xrb_" in problem and "kshs_" + body in problem


def test_xrb_normalises_to_kshs() -> None:
    """The legacy xrb_ spelling names the same account as kshs_."""
    body = "3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo"
    assert normalize_account("xrb_" + body) == "kshs_" + body


@given(st.binary(min_size=32, max_size=32))
def test_encode_decode_round_trip(key: bytes) -> None:
    """Any public key survives encode → decode, and the address validates."""
    address = encode_account(key)
    assert len(address) == 65 and validate_account(address) is None
    assert decode_account(address) == key


def test_settings_reject_bad_accounts() -> None:
    """A broken checksum in `accounts` or a topic's accounts fails config validation."""
    bad = "kshs_35zrk7ioxfeatbascyqx6iae5gzjbgb9yng4e56pjf8iix81y84j78u3k1tj"
    with pytest.raises(ValueError, match="checksum"):
        KakituSettings(kind="kakitu", accounts=[bad])
    with pytest.raises(ValueError, match="checksum"):
        KakituSettings(kind="kakitu", topics={"confirmation": {"accounts": [bad]}})


def test_rule_where_values_are_checked() -> None:
    """A nano_ or mistyped account in a rule's where is a problem; other fields are not."""
    from alertbot.sources.kakitu_address import check_where_value
    body = "35zrk7ioxfeatbascyqx6iae5gzjbgb9yng4e56pjf8iix81y84j78u3k1ti"
    assert "kshs_" in (check_where_value("to_account", "nano_" + body) or "")
    assert check_where_value("from_account", "kshs_" + body[:-1] + "j") is not None
    assert check_where_value("to_account", "kshs_" + body) is None
    assert check_where_value("subtype", "nano_whatever") is None


def test_rule_accounts_collects_interest_fields() -> None:
    """Accounts in where (single or list) are collected, normalised to kshs_."""
    from alertbot.sources.kakitu_address import rule_accounts
    body = "3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo"
    got = rule_accounts([{"to_account": ["xrb_" + body, "junk"]},
                         {"account": "kshs_" + body, "subtype": "send"}])
    assert got == ["kshs_" + body]
