"""Kakitu account addresses: decode, validate, encode and normalise `kshs_` addresses.

A Kakitu address is a prefix (`kshs_`, or the legacy `xrb_`) plus 60 characters of a
32-symbol alphabet carrying 4 zero bits, the 256-bit public key and a 40-bit checksum
(blake2b of the key, 5 bytes, byte-reversed). The node rejects `nano_`, so a config or
rule naming a `nano_` address would silently watch nothing: it is refused here with a
message that says what to write instead. Used by the settings validators, by `check`
(through `validate_account`) and by the simulator to mint addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

ALPHABET = "13456789abcdefghijkmnopqrstuwxyz"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_BODY_LEN = 60
_PREFIXES = ("kshs_", "kshs-", "xrb_", "xrb-")
INTEREST_FIELDS = ("account", "to_account", "from_account")


def _checksum(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=5).digest(), "little")


def decode_account(address: str) -> bytes:
    """Return the 32-byte public key of a Kakitu address; ValueError says what is wrong."""
    if not isinstance(address, str):
        raise ValueError(f"expected a kshs_ address, found {type(address).__name__}")
    lowered = address.lower()
    if lowered.startswith(("nano_", "nano-")):
        raise ValueError(f"{address!r} is a Nano address: Kakitu uses kshs_ (or xrb_), "
                         "write it as kshs_" + address[5:])
    prefix = next((p for p in _PREFIXES if address.startswith(p)), None)
    if prefix is None:
        raise ValueError(f"{address!r} is not a Kakitu address: it must start with kshs_")
    body = address[len(prefix):]
    if len(body) != _BODY_LEN:
        raise ValueError(f"{address!r} has {len(body)} characters after {prefix!r}, "
                         f"expected {_BODY_LEN}")
    bad = sorted({c for c in body if c not in _VALUE})
    if bad:
        raise ValueError(f"{address!r} contains {''.join(bad)!r}, which is not in the "
                         f"address alphabet (no 0, 2, l, v; lowercase only)")
    if body[0] not in "13":
        raise ValueError(f"{address!r}: the first character after the prefix must be 1 or 3")
    n = 0
    for c in body:
        n = (n << 5) | _VALUE[c]
    key = (n >> 40).to_bytes(32, "big")
    if n & 0xFF_FFFF_FFFF != _checksum(key):
        raise ValueError(f"{address!r} has a wrong checksum (a typo in the address?)")
    return key


def encode_account(key: bytes, prefix: str = "kshs_") -> str:
    """Encode a 32-byte public key as an address (`kshs_` unless told otherwise)."""
    if len(key) != 32:
        raise ValueError("a public key is 32 bytes")
    n = (int.from_bytes(key, "big") << 40) | _checksum(key)
    chars = [ALPHABET[(n >> (5 * i)) & 31] for i in range(_BODY_LEN)]
    return prefix + "".join(reversed(chars))


def validate_account(address: str) -> str | None:
    """None if `address` is a valid Kakitu address, else the problem as one sentence."""
    try:
        decode_account(address)
    except ValueError as exc:
        return str(exc)
    return None


def normalize_account(address: str) -> str:
    """The canonical `kshs_` spelling of a valid address (the node prints only kshs_)."""
    return encode_account(decode_account(address))


ACCOUNT_FIELDS = frozenset({"account", "to_account", "from_account", "representative"})


def check_where_value(field_name: str, value: Any) -> str | None:
    """For `check`: the problem with a rule's `where` value on an account field, if any
    (a `nano_` address or a typo would silently match nothing)."""
    if field_name not in ACCOUNT_FIELDS or not isinstance(value, str):
        return None
    return validate_account(value)


def rule_accounts(wheres: Iterable[Mapping[str, Any]],
                  fields: Iterable[str] = INTEREST_FIELDS) -> list[str]:
    """Accounts named in rules' `where` (interest fields) — the source watches them too."""
    out: set[str] = set()
    for where in wheres:
        for name in fields:
            value = where.get(name)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and validate_account(v) is None:
                    out.add(normalize_account(v))
    return sorted(out)
