"""Shared fixtures. Network guard: tests may only reach 127.0.0.0/8 and ::1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock

# A copy of ../shared/fixtures lives in tests/data/shared so a clean checkout tests alone.
SHARED = Path(__file__).resolve().parent / "data" / "shared"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _allowed(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host.startswith("127.") or host in ("::1", "localhost", "0:0:0:0:0:0:0:1")
    return True  # unix sockets


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _allowed(address):
        raise OSError(f"test tried to reach {address!r}: only loopback is allowed")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(address):
        raise OSError(f"test tried to reach {address!r}: only loopback is allowed")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def shared_dir() -> Path:
    """The copy of ../shared (fixtures) kept in tests/data/shared."""
    return SHARED
