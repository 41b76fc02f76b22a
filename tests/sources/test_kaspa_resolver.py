"""Kaspa resolver client against local HTTP resolvers: failover, errors, re-resolution."""

from __future__ import annotations

import random
from typing import Any

import pytest

from alertbot.errors import SourceError
from alertbot.sources.kaspa import KaspaSettings, KaspaSource
from alertbot.sources.kaspa_resolver import Resolver
from tests.fakes.kaspa_resolver import FakeResolver
from tests.sources.conformance import RecordingContext


class InOrder(random.Random):
    """Keeps the resolver list in the configured order, so a test knows who is asked first."""

    def shuffle(self, x: Any) -> None:
        return None


NODE = {"uid": "fake-node-uid-01", "url": "ws://127.0.0.1:18980"}


async def test_404_from_first_then_success_from_second() -> None:
    """A 404 moves on to the next resolver; its `{uid, url}` answer wins."""
    async with FakeResolver(404) as bad, FakeResolver(200, NODE) as good:
        resolver = Resolver([bad.url, good.url], "testnet-10", rng=InOrder())
        node = await resolver.resolve()
    assert (node.uid, node.url, node.resolver) == (NODE["uid"], NODE["url"], good.url)
    assert bad.paths == ["/v2/kaspa/testnet-10/any/wrpc/json"]
    assert good.paths == ["/v2/kaspa/testnet-10/any/wrpc/json"]


async def test_tls_path_and_all_failing() -> None:
    """`tls` asks the /tls/ path; when every resolver fails the error names them all."""
    async with FakeResolver(200, {"uid": "x"}) as no_url, FakeResolver(503) as down:
        resolver = Resolver([no_url.url, down.url], "mainnet", tls=True, rng=InOrder())
        with pytest.raises(SourceError) as info:
            await resolver.resolve()
    assert info.value.kind == "resolver"
    assert "no ws:// or wss:// `url`" in str(info.value) and "HTTP 503" in str(info.value)
    assert no_url.paths == ["/v2/kaspa/mainnet/tls/wrpc/json"]


async def test_unreachable_resolver_fails_over() -> None:
    """A resolver that refuses the TCP connection is skipped like an HTTP error."""
    async with FakeResolver(200, NODE) as good:
        dead = "http://127.0.0.1:9"  # discard port: nothing listens there
        node = await Resolver([dead, good.url], "mainnet", rng=InOrder(), timeout=2).resolve()
    assert node.url == NODE["url"]


async def test_shuffled_order_varies() -> None:
    """The resolver list is shuffled per resolution, spreading load like the SDK does."""
    async with FakeResolver(200, NODE) as a, FakeResolver(200, NODE) as b:
        resolver = Resolver([a.url, b.url], "mainnet", rng=random.Random(1))
        for _ in range(20):
            await resolver.resolve()
    assert a.paths and b.paths


async def test_source_resolves_again_before_every_connection() -> None:
    """`endpoints()` asks the resolver each time and records the node uid it reports."""
    async with FakeResolver(200, NODE) as svc:
        settings = KaspaSettings.model_validate(
            {"kind": "kaspa", "resolver": True, "resolvers": [svc.url], "network": "mainnet"})
        source = KaspaSource("kaspa", settings, RecordingContext("kaspa"))
        assert await source.endpoints() == [NODE["url"]]
        svc.body = {"uid": "other", "url": "wss://other.example"}
        assert await source.endpoints() == ["wss://other.example"]
    assert source.node_uid == "other"
    assert len(svc.paths) == 2
