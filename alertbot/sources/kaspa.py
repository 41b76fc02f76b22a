"""Kaspa node source (JSON wRPC over WebSocket, optional resolver): declaration and protocol.

Settings and event declarations (DESIGN.md §2.4) and our own JSON wRPC client
(protocols/kaspa.md): URL completion with the network's JSON port, the table of method
names kaspad knows (it closes the socket on any other, so we refuse to send one), request
frames with our own numeric ids (the shared runner matches replies by id and applies the
per-request timeout), `error` replies turned into clear failures, and the pure mapping of
notifications and poll replies to typed events. `KaspaSource` plugs this into the shared
reconnect runner: subscriptions on every connect, one independent poll per RPC, and the
resolver (`kaspa_resolver.py`) consulted again before every connection attempt.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import Field, model_validator

from ..config_types import Duration
from ..errors import SourceError
from .base import (
    CONNECTION,
    ConnectionSettings,
    EventSpec,
    Parsed,
    Poll,
    Session,
    SourceContext,
    SourceKind,
    WebSocketSource,
    coerce,
)
from .kaspa_resolver import Resolver

log = logging.getLogger(__name__)

Network = Literal["mainnet", "testnet-10", "testnet-11", "testnet", "simnet", "devnet"]

JSON_PORTS: dict[str, int] = {"mainnet": 18110, "testnet": 18210, "simnet": 18510,
                              "devnet": 18610}

DEFAULT_RESOLVERS: tuple[str, ...] = tuple(
    f"https://{name}.kaspa.{tld}"
    for tld, names in (("stream", "eric maxim sean troy"), ("red", "john mike paul alex"),
                       ("green", "jake mark adam liam"), ("blue", "noah ryan jack luke"))
    for name in names.split())

# RpcApiOps names kaspad's JSON handler parses (rusty-kaspa rpc/core/src/api/ops.rs);
# a frame with any other method makes it drop the whole WebSocket.
_OPS = """
ping getMetrics getConnections getSystemInfo getServerInfo getSyncStatus getCurrentNetwork
submitBlock getBlockTemplate getPeerAddresses getSink getMempoolEntry getMempoolEntries
getConnectedPeerInfo addPeer submitTransaction submitTransactionReplacement getBlock
getSubnetwork getVirtualChainFromBlock getBlocks getBlockCount getBlockDagInfo
resolveFinalityConflict shutdown getHeaders getUtxosByAddresses getBalanceByAddress
getBalancesByAddresses getSinkBlueScore ban unban getInfo estimateNetworkHashesPerSecond
getMempoolEntriesByAddresses getCoinSupply getDaaScoreTimestampEstimate getFeeEstimate
getFeeEstimateExperimental getCurrentBlockColor subscribe unsubscribe notifyBlockAdded
notifyVirtualDaaScoreChanged notifySinkBlueScoreChanged notifyVirtualChainChanged
"""
KNOWN_METHODS: frozenset[str] = frozenset(_OPS.split())

NOTIFICATION_NAMES: frozenset[str] = frozenset({
    "VirtualDaaScoreChanged", "SinkBlueScoreChanged", "BlockAdded", "VirtualChainChanged",
    "FinalityConflict", "FinalityConflictResolved", "PruningPointUtxoSetOverride",
    "NewBlockTemplate"})

# poll method → event type emitted from its reply
POLLS: dict[str, str] = {"getServerInfo": "server_info", "getBlockDagInfo": "dag_info",
                         "getSyncStatus": "sync_status", "getConnectedPeerInfo": "peers"}


class KaspaSettings(ConnectionSettings):
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    network: Network = "mainnet"
    resolver: bool = False
    resolvers: list[str] = Field(default_factory=list, description="resolver base URLs; "
                                 "empty = the SDK's public list")
    tls: bool = Field(False, description="resolver: ask only for wss:// nodes")
    resolver_timeout: Duration = 5.0
    poll_interval: Duration = 10.0
    request_timeout: Duration = 10.0
    notifications: list[str] = Field(
        default_factory=lambda: ["VirtualDaaScoreChanged", "SinkBlueScoreChanged"])

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> KaspaSettings:
        ways = sum((self.url is not None, bool(self.urls), self.resolver))
        if ways != 1:
            raise ValueError("give exactly one of `url`, `urls` or `resolver: true`")
        unknown = sorted(set(self.notifications) - NOTIFICATION_NAMES)
        if unknown:
            raise ValueError(f"unknown notification {unknown[0]!r}; expected one of "
                             + ", ".join(sorted(NOTIFICATION_NAMES)))
        if self.resolver and self.network == "testnet":
            raise ValueError("the resolver needs the testnet suffix: testnet-10 or testnet-11")
        self.endpoint_urls()  # raises ValueError on a bad scheme or a missing host
        if self.poll_interval >= self.heartbeat_timeout:
            # a stalled node sends no notifications: poll replies are all that keeps
            # the link from looking dead
            raise ValueError("poll_interval must be shorter than heartbeat_timeout")
        return self

    def endpoint_urls(self) -> list[str]:
        """The configured node URLs, completed (empty with `resolver: true`)."""
        raw = [self.url] if self.url is not None else self.urls
        return [complete_url(u, self.network) for u in raw]


def json_port(network: str) -> int:
    """The default wRPC JSON port of a network (testnet suffixes share one port)."""
    return JSON_PORTS[network.split("-", 1)[0]]


def complete_url(url: str, network: str = "mainnet") -> str:
    """`host` / `host:port` / `ws[s]://…` → a full ws URL, like the SDK completes it."""
    text = url.strip()
    bare = "://" not in text
    if bare:
        text = "ws://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"a Kaspa node URL must be ws:// or wss://, found {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in Kaspa node URL {url!r}")
    # a full URL keeps its scheme's port (wss public nodes sit behind 443)
    if bare and parts.port is None:
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        text = f"{parts.scheme}://{host}:{json_port(network)}{parts.path}"
    return text


@dataclass(frozen=True, slots=True)
class Notification:
    """A decoded node notification, already mapped to our event type and fields."""

    etype: str
    data: dict[str, Any]


def request_frame(rid: int, method: str, params: Mapping[str, Any] | None = None) -> str:
    """A request frame with our id; refuses a method kaspad does not know (it would drop us)."""
    if method not in KNOWN_METHODS:
        raise ValueError(f"{method!r} is not a kaspad wRPC method")
    return orjson.dumps({"id": rid, "method": method, "params": dict(params or {})}).decode()


def error_text(err: Any) -> str:
    """The text of an `error` reply object (kaspad: code 0, data null, text in message)."""
    if isinstance(err, dict):
        code = err.get("code")
        text = str(err.get("message", err))
        return f"{text} (code {code})" if isinstance(code, int) and code else text
    return str(err)


def decode(text: str | bytes) -> dict[str, Any] | None:
    """One wRPC frame as a dict, or None if it is not a JSON object."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


def subscribe_params(name: str) -> dict[str, Any]:
    """The Scope object of a `subscribe`/`unsubscribe` request."""
    if name == "VirtualChainChanged":
        return {name: {"include_accepted_transaction_ids": False}}
    return {name: {}}


def parse_notification(msg: Mapping[str, Any]) -> Notification | None:
    """A wrapped node notification → our event, None for ones we do not map."""
    params = msg.get("params")
    if msg.get("id") is not None or not isinstance(params, dict):
        return None
    if len(params) != 1:
        return None
    (name, body), = params.items()
    if not isinstance(body, dict):
        return None
    if name == "VirtualDaaScoreChanged":
        return _note("daa_score", virtual_daa_score=body.get("virtualDaaScore"))
    if name == "SinkBlueScoreChanged":
        return _note("sink_blue_score", sink_blue_score=body.get("sinkBlueScore"))
    if name == "BlockAdded":
        block = body.get("block")
        header = block.get("header") if isinstance(block, dict) else None
        if not isinstance(header, dict):
            return None
        return _note("block_added", hash=header.get("hash"), daa_score=header.get("daaScore"),
                     blue_score=header.get("blueScore"))
    return None


def _note(etype: str, **data: Any) -> Notification | None:
    try:
        return Notification(etype, typed(etype, data))
    except ValueError:
        return None


def typed(etype: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce `data` to the declared field types of `etype`; ValueError if impossible."""
    spec = KIND.event(etype)
    assert spec is not None, etype
    out: dict[str, Any] = {}
    for name, value in data.items():
        ftype = spec.fields.get(name)
        out[name] = coerce(ftype, value) if ftype is not None else value
    return out


def _server_info(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"is_synced": p.get("isSynced"), "server_version": p.get("serverVersion"),
            "network_id": p.get("networkId"), "has_utxo_index": p.get("hasUtxoIndex"),
            "virtual_daa_score": p.get("virtualDaaScore"),
            "rpc_api_version": p.get("rpcApiVersion")}


def _dag_info(p: Mapping[str, Any]) -> dict[str, Any]:
    tips = p.get("tipHashes")
    return {"network": p.get("network"), "block_count": p.get("blockCount"),
            "header_count": p.get("headerCount"), "difficulty": p.get("difficulty"),
            "virtual_daa_score": p.get("virtualDaaScore"),
            "tip_count": len(tips) if isinstance(tips, list) else None,
            "past_median_time": p.get("pastMedianTime"),
            "pruning_point_hash": p.get("pruningPointHash"), "sink": p.get("sink")}


def _peers(p: Mapping[str, Any]) -> dict[str, Any]:
    peers = p.get("peerInfo")
    peers = [x for x in peers if isinstance(x, dict)] if isinstance(peers, list) else []
    outbound = sum(1 for x in peers if x.get("is_outbound") is True)
    return {"count": len(peers), "outbound": outbound, "inbound": len(peers) - outbound,
            "ibd_peers": sum(1 for x in peers if x.get("is_ibd_peer") is True)}


RESPONSES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "getServerInfo": _server_info, "getBlockDagInfo": _dag_info,
    "getSyncStatus": lambda p: {"is_synced": p.get("isSynced")}, "getConnectedPeerInfo": _peers}


def response_event(method: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A poll reply → (event type, typed fields); ValueError if a field has the wrong type."""
    etype = POLLS[method]
    return etype, typed(etype, RESPONSES[method](params))


EVENTS = (
    EventSpec("connection", {**CONNECTION.fields, "node_uid": "str"},
              CONNECTION.doc + "; node_uid: the resolver's id of the node (resolver only)"),
    EventSpec("dag_info", {"network": "str", "block_count": "int", "header_count": "int",
                           "difficulty": "number", "virtual_daa_score": "int",
                           "tip_count": "int", "past_median_time": "int",
                           "pruning_point_hash": "str", "sink": "str"},
              "getBlockDagInfo, every poll_interval"),
    EventSpec("server_info", {"is_synced": "bool", "server_version": "str",
                              "network_id": "str", "has_utxo_index": "bool",
                              "virtual_daa_score": "int", "rpc_api_version": "int"},
              "getServerInfo, every poll_interval"),
    EventSpec("daa_score", {"virtual_daa_score": "int"}, "VirtualDaaScoreChanged notification"),
    EventSpec("sink_blue_score", {"sink_blue_score": "int"},
              "SinkBlueScoreChanged notification"),
    EventSpec("sync_status", {"is_synced": "bool"}, "getSyncStatus, every poll_interval"),
    EventSpec("peers", {"count": "int", "outbound": "int", "inbound": "int",
                        "ibd_peers": "int"}, "getConnectedPeerInfo, every poll_interval"),
    EventSpec("block_added", {"hash": "str", "daa_score": "int", "blue_score": "int"},
              "BlockAdded notification (off unless listed in `notifications`)"),
)

KIND = SourceKind("kaspa", KaspaSettings, EVENTS, "Kaspa node JSON wRPC")


class _NodeUidContext:
    """Adds the resolver's node uid to the runner's `connection` events, passes the rest."""

    def __init__(self, inner: SourceContext, source: KaspaSource) -> None:
        self._inner, self._source = inner, source
        self.name, self.clock, self.metrics = inner.name, inner.clock, inner.metrics
        self.store, self.log = inner.store, inner.log

    def emit(self, etype: str, data: Mapping[str, Any]) -> None:
        if etype == "connection" and self._source.node_uid is not None:
            data = {**data, "node_uid": self._source.node_uid}
        self._inner.emit(etype, data)

    def error(self, kind: str, message: str) -> None:
        self._inner.error(kind, message)


class KaspaSource(WebSocketSource):
    """The Kaspa watcher on the shared runner (see the module docstring)."""

    kind = KIND
    settings: KaspaSettings

    def __init__(self, name: str, settings: ConnectionSettings, ctx: SourceContext) -> None:
        assert isinstance(settings, KaspaSettings)
        super().__init__(name, settings, ctx)
        self.settings = settings
        # subscriptions use the fixed ids 1..N on every connection; requests count above them
        self._sub_ids = {i + 1: n for i, n in enumerate(settings.notifications)}
        self._ids = itertools.count(len(self._sub_ids) + 1)
        self.node_uid: str | None = None
        self._resolver: Resolver | None = None
        if settings.resolver:
            self._resolver = Resolver(settings.resolvers or DEFAULT_RESOLVERS, settings.network,
                                      tls=settings.tls, timeout=settings.resolver_timeout)
            self.ctx = _NodeUidContext(ctx, self)

    async def endpoints(self) -> list[str]:
        if self._resolver is None:
            return self.settings.endpoint_urls()
        node = await self._resolver.resolve()
        self.node_uid = node.uid
        log.info("kaspa %s: resolver %s chose node %s at %s", self.name, node.resolver,
                 node.uid, node.url)
        return [node.url]

    def subscribe(self) -> list[str]:
        return [request_frame(rid, "subscribe", subscribe_params(name))
                for rid, name in self._sub_ids.items()]

    def parse(self, frame: str | bytes) -> Parsed:
        msg = decode(frame)
        if msg is None:
            raise ValueError("wRPC frame is not a JSON object")
        out = Parsed()
        rid = msg.get("id")
        if rid is None:
            note = parse_notification(msg)
            if note is not None:
                out.events.append((note.etype, note.data))
            return out
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise ValueError(f"wRPC reply id must be a number, found {rid!r}")
        err = msg.get("error")
        if rid in self._sub_ids:
            if err is not None:
                out.errors.append(("rpc", f"subscribe {self._sub_ids[rid]}: {error_text(err)}"))
            return out
        if err is not None:
            out.failures[rid] = f"{msg.get('method', 'request')}: {error_text(err)}"
        else:
            params = msg.get("params")
            out.replies[rid] = params if isinstance(params, dict) else {}
        return out

    def polls(self) -> list[Poll]:
        return [Poll(method, self.settings.poll_interval, self._poller(method))
                for method in POLLS]

    def _poller(self, method: str) -> Callable[[Session], Awaitable[None]]:
        async def poll(session: Session) -> None:
            await self.call(session, method)
        return poll

    async def call(self, session: Session, method: str) -> None:
        """One poll: request, wait (bounded by request_timeout), emit the mapped event."""
        rid = next(self._ids)
        reply = await session.request(request_frame(rid, method), rid,
                                      self.settings.request_timeout)
        try:
            etype, data = response_event(method, reply if isinstance(reply, dict) else {})
        except ValueError as exc:
            raise SourceError(f"{method} reply: {exc}", kind="protocol") from None
        self.ctx.emit(etype, data)
