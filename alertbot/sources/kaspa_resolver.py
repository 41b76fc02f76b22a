"""Kaspa resolver client: find a public node's wRPC JSON URL over HTTP (httpx).

A resolver service answers `GET {base}/v2/kaspa/{network}/{any|tls}/wrpc/json` with
`{"uid": ..., "url": "wss://..."}` (protocols/kaspa.md §6). Like the SDK we shuffle the
configured resolver list, try each in turn with a short timeout, take the first good
answer and fail only when all fail; the watcher calls `resolve()` again before every
(re)connect, so a reconnect may land on a different node. The answer's `uid` is reported
in the source's connection events. httpx errors are translated to `SourceError` here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ..errors import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResolvedNode:
    """One resolver answer: the node's id and its wRPC URL, and who answered."""

    uid: str
    url: str
    resolver: str


def resolver_path(network: str, tls: bool) -> str:
    return f"/v2/kaspa/{network}/{'tls' if tls else 'any'}/wrpc/json"


class Resolver:
    """Asks a shuffled list of resolver services for a node, failing over between them."""

    def __init__(self, urls: Sequence[str], network: str, *, tls: bool = False,
                 timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None) -> None:
        if not urls:
            raise ValueError("a resolver needs at least one resolver URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.network, self.tls, self.timeout = network, tls, timeout
        self._transport = transport
        self._rng = rng or random.Random()

    async def resolve(self) -> ResolvedNode:
        """The first good answer from the shuffled resolvers; SourceError if none answers."""
        order = list(self.urls)
        self._rng.shuffle(order)
        failures: list[str] = []
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport,
                                     headers={"accept": "*/*"}) as client:
            for base in order:
                try:
                    return await self._ask(client, base)
                except SourceError as exc:
                    log.warning("kaspa resolver %s: %s", base, exc)
                    failures.append(f"{base}: {exc}")
        raise SourceError("no Kaspa resolver returned a node: " + "; ".join(failures),
                          kind="resolver")

    async def _ask(self, client: httpx.AsyncClient, base: str) -> ResolvedNode:
        try:
            reply = await client.get(base + resolver_path(self.network, self.tls))
        except httpx.HTTPError as exc:
            raise SourceError(f"{type(exc).__name__}: {exc}", kind="resolver") from None
        if reply.status_code != 200:
            raise SourceError(f"HTTP {reply.status_code}", kind="resolver")
        try:
            body = reply.json()
        except ValueError:
            raise SourceError("reply is not JSON", kind="resolver") from None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise SourceError("reply has no ws:// or wss:// `url`", kind="resolver")
        uid = body.get("uid")
        return ResolvedNode(uid=str(uid) if uid is not None else "", url=url, resolver=base)
