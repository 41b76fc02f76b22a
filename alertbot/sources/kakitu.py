"""Kakitu node source (nano-node V25 fork, WebSocket + RPC catch-up).

Settings and event declarations (DESIGN.md §2.4); the pure half of the watcher (the
subscribe/update/ping messages and `parse_frame()`, which turns one decoded node frame
into an ack, typed events, or "not a topic message"); and `KakituSource`, the runner's
view of it: acked subscriptions, `{"action":"ping"}` keep-alive, live account updates,
and a catch-up poll. The node sends every scalar as a string and empty containers as
`""`; amounts are raw (1 KSHS = 10^30 raw) and become exact Decimals here. The RPC
client and catch-up (httpx) live in `kakitu_rpc.py`, imported only when a catch-up
runs, so `check` never pays for them.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..config_types import Duration
from ..errors import SourceError
from .base import (
    ConnectionSettings,
    EventSpec,
    FieldType,
    Parsed,
    Poll,
    Session,
    SourceContext,
    SourceKind,
    WebSocketSource,
    coerce,
)
from .kakitu_address import (  # noqa: F401 (re-exported for check and the manager)
    INTEREST_FIELDS,
    check_where_value,
    normalize_account,
    rule_accounts,
    validate_account,
)

if TYPE_CHECKING:
    from .kakitu_rpc import CatchupState

RAW_PER_KSHS = 10**30
MAX_RAW = 2**128 - 1

TOPIC_OPTIONS: dict[str, frozenset[str]] = {
    "confirmation": frozenset({"accounts", "all_local_accounts", "confirmation_type",
                               "include_block", "include_election_info",
                               "include_election_info_with_votes", "include_sideband_info"}),
    "vote": frozenset({"representatives", "include_replays", "include_indeterminate"}),
    "stopped_election": frozenset(),
    "started_election": frozenset(),
    "new_unconfirmed_block": frozenset(),
    "telemetry": frozenset(),
    "work": frozenset(),
    "bootstrap": frozenset(),
}


class KakituSettings(ConnectionSettings):
    url: str = "ws://[::1]:44078"
    urls: list[str] = Field(default_factory=list)
    rpc_url: str = "http://[::1]:44076"
    accounts: list[str] = Field(default_factory=list)
    topics: list[str] | dict[str, dict[str, Any] | None] = Field(
        default_factory=lambda: ["confirmation"])
    catchup_interval: Duration = 300.0
    ack_timeout: Duration = Field(5.0, description="no ack this long → resubscribe")
    rpc_timeout: Duration = 10.0
    rpc_attempts: int = Field(5, ge=1, description="tries per RPC call before giving up")
    rpc_backoff: Duration = Field(1.0, description="first retry delay; doubles, max 30s")
    history_page: int = Field(100, ge=1, le=10000, description="account_history count")
    emitted_limit: int = Field(10000, ge=100, description="payments remembered per account")

    @field_validator("accounts")
    @classmethod
    def _valid_accounts(cls, value: list[str]) -> list[str]:
        problems = [p for p in (validate_account(a) for a in value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("topics")
    @classmethod
    def _valid_topics(cls, value: list[str] | dict[str, dict[str, Any] | None]
                      ) -> list[str] | dict[str, dict[str, Any] | None]:
        problems = [p for t, o in topic_options(value).items() for p in _topic_problems(t, o)]
        if problems:
            raise ValueError("; ".join(problems))
        return value


def _topic_problems(topic: str, options: Mapping[str, Any]) -> list[str]:
    if topic not in TOPIC_OPTIONS:
        return [f"unknown topic {topic!r}; Kakitu topics are " + ", ".join(TOPIC_OPTIONS)]
    problems = []
    for name in sorted(set(options) - TOPIC_OPTIONS[topic]):
        allowed = ", ".join(sorted(TOPIC_OPTIONS[topic])) or "none"
        problems.append(f"topic {topic!r} has no option {name!r} (options: {allowed})")
    for address in options.get("accounts", []) or []:
        problem = validate_account(address)
        if problem:
            problems.append(f"{topic}.accounts: {problem}")
    return problems


def topic_options(topics: list[str] | Mapping[str, Mapping[str, Any] | None]
                  ) -> dict[str, dict[str, Any]]:
    """Topics as configured (a list, or a map with per-topic options) → name → options."""
    if isinstance(topics, list):
        return {t: {} for t in topics}
    return {t: dict(o or {}) for t, o in topics.items()}


def _subscribed(settings: Any) -> frozenset[str] | None:
    extra = topic_options(settings.topics).get("confirmation", {}).get("accounts") or []
    return frozenset(settings.accounts) | frozenset(extra)


_NODE_TIME: dict[str, FieldType] = {"node_time": "int"}
_ELECTION: dict[str, FieldType] = {
    "election_info_duration": "int", "election_info_time": "int",
    "election_info_tally": "str", "election_info_final": "str",
    "election_info_blocks": "int", "election_info_voters": "int",
    "election_info_request_count": "int"}

EVENTS = (
    EventSpec("confirmation", {
        "hash": "str", "account": "str", "to_account": "str", "from_account": "str",
        "send_hash": "str", "subtype": "str", "amount": "decimal", "amount_raw": "str",
        "balance": "decimal", "balance_raw": "str", "confirmation_type": "str",
        "representative": "str", "height": "int", "link": "str", "catchup": "bool",
        "local_timestamp": "int", **_ELECTION, **_NODE_TIME},
        "a confirmed block touching a watched account (live or from RPC catch-up)"),
    EventSpec("stopped_election", {"hash": "str", **_NODE_TIME}),
    EventSpec("started_election", {"hash": "str", **_NODE_TIME}),
    EventSpec("vote", {"account": "str", "signature": "str", "sequence": "str",
                       "timestamp": "str", "duration": "str", "type": "str",
                       "blocks": "list", **_NODE_TIME}),
    EventSpec("new_unconfirmed_block", {"type": "str", "account": "str", "previous": "str",
                                        "representative": "str", "balance": "str",
                                        "link": "str", "link_as_account": "str",
                                        "subtype": "str", "hash": "str", **_NODE_TIME}),
    EventSpec("telemetry", {"block_count": "int", "cemented_count": "int",
                            "unchecked_count": "int", "account_count": "int",
                            "bandwidth_cap": "int", "peer_count": "int",
                            "protocol_version": "int", "uptime": "int",
                            "major_version": "int", "minor_version": "int",
                            "patch_version": "int", "pre_release_version": "int",
                            "maker": "int", "timestamp": "int", "genesis_block": "str",
                            "active_difficulty": "str", "signature": "str",
                            "address": "str", "port": "int", "node_id": "str",
                            **_NODE_TIME}),
    EventSpec("work", {"success": "bool", "reason": "str", "duration": "int",
                       "difficulty": "str", "multiplier": "number",
                       "request_hash": "str", "request_difficulty": "str",
                       "request_multiplier": "number", "request_version": "str",
                       "result_source": "str", "result_work": "str",
                       "result_difficulty": "str", "result_multiplier": "number",
                       "bad_peers": "list", **_NODE_TIME}),
    EventSpec("bootstrap", {"reason": "str", "id": "str", "mode": "str",
                            "total_blocks": "int", "duration": "int", **_NODE_TIME}),
)
SPECS: dict[str, EventSpec] = {e.type: e for e in EVENTS}

KIND = SourceKind("kakitu", KakituSettings, EVENTS, "Kakitu node WebSocket + RPC",
                  interest_fields=INTEREST_FIELDS,
                  subscribed=_subscribed)


# ------------------------------------------------------------------- outgoing messages

PING: dict[str, Any] = {"action": "ping"}


def subscribe_message(topic: str, options: Mapping[str, Any],
                      accounts: Iterable[str] = ()) -> dict[str, Any]:
    """One `subscribe` request with `ack: true` and `id` = the topic (echoed in the ack).

    `confirmation` is always subscribed with an options object (a plain subscription
    gets base options on which `update` silently fails) carrying the watched accounts;
    with none it is the unfiltered stream (an empty list would deliver nothing).
    """
    msg: dict[str, Any] = {"action": "subscribe", "topic": topic, "ack": True, "id": topic}
    opts = dict(options)
    if topic == "confirmation":
        watched = sorted(set(opts.pop("accounts", None) or []) | set(accounts))
        if watched:
            opts["accounts"] = watched
        opts.setdefault("include_block", True)
    if opts:
        msg["options"] = opts
    return msg


def update_message(add: Iterable[str], remove: Iterable[str]) -> dict[str, Any]:
    """An `update` of the confirmation account filter, acknowledged (id `update`)."""
    return {"action": "update", "topic": "confirmation", "ack": True, "id": "update",
            "options": {"accounts_add": sorted(add), "accounts_del": sorted(remove)}}


# ------------------------------------------------------------------------ parsing


def raw_to_kshs(raw: str | int) -> Decimal:
    """Exact KSHS Decimal of a raw amount (1 KSHS = 10^30 raw), trailing zeros dropped."""
    n = int(raw)
    if not 0 <= n <= MAX_RAW:
        raise ValueError(f"raw amount {raw!r} outside 0..2^128-1")
    whole, frac = divmod(n, RAW_PER_KSHS)
    text = f"{whole}.{frac:030d}".rstrip("0").rstrip(".")
    return Decimal(text)


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """What one node frame means: an ack, topic events, or neither (`note` says why)."""

    kind: Literal["ack", "topic", "other"]
    ack: str = ""                 # the acked action ("subscribe", "update", "pong", ...)
    ack_id: str = ""
    topic: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    note: str = ""


def parse_frame(obj: Any) -> ParsedFrame:
    """Interpret one decoded JSON frame from the node; never raises on odd input."""
    if not isinstance(obj, dict):
        return ParsedFrame("other", note=f"not an object: {type(obj).__name__}")
    if "ack" in obj and "topic" not in obj:
        return ParsedFrame("ack", ack=str(obj["ack"]), ack_id=str(obj.get("id") or ""))
    topic = obj.get("topic")
    message = obj.get("message")
    if not isinstance(topic, str) or not isinstance(message, dict):
        return ParsedFrame("other", note="not a topic message (no topic/message)")
    if topic not in SPECS:
        return ParsedFrame("other", topic=topic, note=f"not a known topic: {topic!r}")
    try:
        data = (confirmation_fields(message) if topic == "confirmation"
                else typed(topic, flatten(message)))
        if topic == "work":   # the achieved (else requested) difficulty, at top level
            for key in ("difficulty", "multiplier"):
                value = data.get(f"result_{key}", data.get(f"request_{key}"))
                if value is not None:
                    data[key] = value
        if "time" in obj:
            data["node_time"] = coerce("int", obj["time"])
    except (ValueError, TypeError, ArithmeticError) as exc:
        return ParsedFrame("other", topic=topic, note=f"malformed {topic} message: {exc}")
    return ParsedFrame("topic", topic=topic, events=[(topic, data)])


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects → one level, keys joined with `_` (`request.hash` → `request_hash`)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "_"))
        else:
            out[name] = value
    return out


def typed(etype: str, flat: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the declared fields of `etype`, coerced to their types (`""` list → [])."""
    spec = SPECS[etype].fields
    out: dict[str, Any] = {}
    for key, value in flat.items():
        ftype = spec.get(key)
        if ftype is None:
            continue
        if ftype == "list" and value == "":
            value = []
        elif ftype in ("int", "number", "decimal", "bool") and value == "":
            continue
        out[key] = coerce(ftype, value)
    return out


def confirmation_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """DESIGN.md §2.4 fields of a `confirmation` message (block included or not)."""
    data: dict[str, Any] = {
        "hash": str(message.get("hash", "")).upper(),
        "account": message.get("account", ""),
        "confirmation_type": message.get("confirmation_type", ""),
        "catchup": False,
    }
    if message.get("amount") not in (None, ""):
        data["amount_raw"] = str(message["amount"])
        data["amount"] = raw_to_kshs(data["amount_raw"])
    block = message.get("block")
    if isinstance(block, dict):
        data.update(block_fields(block, data["hash"]))
    sideband = message.get("sideband")
    if isinstance(sideband, dict):
        if sideband.get("height"):
            data["height"] = int(sideband["height"])
        if sideband.get("local_timestamp"):
            data["local_timestamp"] = int(sideband["local_timestamp"])
    info = message.get("election_info")
    if isinstance(info, dict):
        data.update(flatten(info, "election_info_"))
    return typed("confirmation", data)


def block_fields(block: Mapping[str, Any], block_hash: str) -> dict[str, Any]:
    """Payment fields of one block: subtype, to/from account, send_hash, balance."""
    btype = str(block.get("type", ""))
    account = str(block.get("account", ""))
    subtype = str(block.get("subtype") or btype)
    out: dict[str, Any] = {"subtype": subtype}
    if account:
        out["account"] = account
    if block.get("representative"):
        out["representative"] = block["representative"]
    balance = block.get("balance")
    if balance not in (None, ""):
        # legacy send blocks carry a hex balance; state blocks a decimal one
        raw = int(balance, 16) if btype == "send" and not str(balance).isdigit() \
            else int(balance)
        out["balance_raw"] = str(raw)
        out["balance"] = raw_to_kshs(raw)
    link = str(block.get("link") or block.get("source") or "").upper()
    if link:
        out["link"] = link
    if subtype == "send":
        to = block.get("link_as_account") or block.get("destination")
        if to:
            out["to_account"] = to
        out["send_hash"] = block_hash
        if account:
            out["from_account"] = account
    elif subtype in ("receive", "open") and link:
        out["send_hash"] = link
        if account:
            out["to_account"] = account
    return out


def payment_key(data: Mapping[str, Any]) -> str:
    """What identifies a confirmation for the emitted-set: the payment, else the block."""
    return str(data.get("send_hash") or data.get("hash") or "")


# ------------------------------------------------------------------------ the source

_RESUBSCRIBE_TRIES = 3


class KakituSource(WebSocketSource):
    """The Kakitu watcher the runner drives (`SOURCE_CLASSES["kakitu"]`).

    `accounts` adds the accounts named in this source's rules to the configured ones.
    Confirmations pass through a persisted emitted-set (one per watched account, keyed
    by payment), so duplicate frames, the receive that pockets an emitted send, and
    catch-up never emit the same payment twice.
    """

    kind: ClassVar[SourceKind] = KIND
    settings: KakituSettings

    def __init__(self, name: str, settings: KakituSettings, ctx: SourceContext,
                 accounts: Iterable[str] = ()) -> None:
        super().__init__(name, settings, ctx)
        self.topics = topic_options(settings.topics)
        configured = list(settings.accounts) + list(accounts) + list(
            self.topics.get("confirmation", {}).get("accounts") or [])
        self.watched: set[str] = {normalize_account(a) for a in configured
                                  if validate_account(a) is None}
        # What the config names stays watched whatever a reload does to the rules.
        self.configured_accounts = frozenset(self.watched)
        self._state: CatchupState | None = None
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = asyncio.Lock()
        self.catchup_lock = asyncio.Lock()
        self._catchup_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> CatchupState:
        """Frontiers and emitted-sets in the store (memory when there is no store)."""
        if self._state is None:
            from .kakitu_rpc import CatchupState
            self._state = CatchupState(self.ctx.store, f"kakitu:{self.name}",
                                       self.settings.emitted_limit)
        return self._state

    def subscribe(self) -> list[str]:
        return [json.dumps(subscribe_message(t, {k: v for k, v in o.items()
                                                 if k != "accounts"}, self._filter(t)))
                for t, o in self.topics.items()]

    def _filter(self, topic: str) -> list[str]:
        return sorted(self.watched) if topic == "confirmation" else []

    def app_ping(self) -> str | None:
        return json.dumps(PING)

    def parse(self, frame: str | bytes) -> Parsed:
        try:
            obj = json.loads(frame)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        parsed = parse_frame(obj)
        out = Parsed()
        if parsed.kind == "ack":
            out.pong = True      # any ack proves the session still reads our messages
            if parsed.ack_id:
                out.replies[parsed.ack_id] = parsed.ack
        elif parsed.kind == "other":
            self.ctx.log.debug("ignored frame: %s", parsed.note)
        for etype, data in parsed.events:
            if self._fresh(etype, data):
                out.events.append((etype, data))
        return out

    def _fresh(self, etype: str, data: dict[str, Any]) -> bool:
        """First sighting? Confirmations by payment (persisted), others by hash (recent)."""
        if etype == "confirmation":
            return self.claim(data)
        if "hash" not in data:
            return True
        key = (etype, str(data["hash"]))
        if key in self._recent:
            self.ctx.metrics.inc("kakitu_duplicate_frames_total", source=self.name)
            return False
        self._recent[key] = None
        if len(self._recent) > 4096:
            self._recent.popitem(last=False)
        return True

    def claim(self, data: Mapping[str, Any]) -> bool:
        """Mark a confirmation's payment emitted; False if it already was."""
        key = payment_key(data)
        owners = [a for a in (data.get("account"), data.get("to_account"))
                  if a in self.watched]
        if not owners:   # unfiltered stream: remember recent payments in memory only
            return self._fresh("payment", {"hash": key})
        if not key or self.state.seen(key, owners):
            self.ctx.metrics.inc("kakitu_duplicate_frames_total", source=self.name)
            return False
        self.state.mark(key, owners)
        return True

    async def on_connect(self, session: Session) -> None:
        """Subscribe every topic and await each ack (a missing ack resubscribes), then
        start catching up in the background (subscribed first: no gap in between)."""
        for frame in self.subscribe():
            await self._acked(session, frame, json.loads(frame)["id"])
        if "confirmation" in self.topics:
            self._cancel_catchup()
            self._catchup_task = asyncio.create_task(self._catchup_until_done())

    def on_disconnect(self) -> None:
        self._cancel_catchup()

    def _cancel_catchup(self) -> None:
        if self._catchup_task is not None and not self._catchup_task.done():
            self._catchup_task.cancel()
        self._catchup_task = None

    async def _catchup_until_done(self) -> None:
        from .kakitu_rpc import catchup_until_done
        await catchup_until_done(self)

    async def _acked(self, session: Session, frame: str, request_id: str) -> None:
        for attempt in range(1, _RESUBSCRIBE_TRIES + 1):
            try:
                await session.request(frame, request_id, self.settings.ack_timeout)
                return
            except SourceError as exc:
                if exc.kind != "timeout" or attempt == _RESUBSCRIBE_TRIES:
                    raise
                self.ctx.error("ack", f"no ack for {request_id!r}; resubscribing")

    async def update_accounts(self, add: Iterable[str], remove: Iterable[str]) -> None:
        """Change the watched accounts live (`update` accounts_add/accounts_del).

        Without an ack the confirmation topic is subscribed afresh with the full list.
        Added accounts get a catch-up baseline right away.
        """
        added = {normalize_account(a) for a in add} - self.watched
        removed = {normalize_account(a) for a in remove} & self.watched
        async with self._lock:
            self.watched = (self.watched | added) - removed
            session = self.session
            if session is None or "confirmation" not in self.topics or not (added or removed):
                return
            try:
                await session.request(json.dumps(update_message(added, removed)), "update",
                                      self.settings.ack_timeout)
            except SourceError as exc:
                if exc.kind != "timeout":
                    raise
                frame = json.dumps(subscribe_message(
                    "confirmation", {k: v for k, v in self.topics["confirmation"].items()
                                     if k != "accounts"}, self.watched))
                await self._acked(session, frame, "confirmation")
        if added:
            await self.catch_up(sorted(added))

    def polls(self) -> list[Poll]:
        if "confirmation" not in self.topics:
            return []
        # at connect the source starts its own catch-up task (see on_connect)
        return [Poll("catchup", self.settings.catchup_interval, self._poll,
                     at_connect=False)]

    async def _poll(self, session: Session) -> None:
        await self.catch_up(sorted(self.watched))

    async def catch_up(self, accounts: Iterable[str]) -> int:
        """Emit what `accounts` missed (oldest first); returns how many were emitted."""
        from .kakitu_rpc import run_catchup
        async with self.catchup_lock:
            emitted, _ = await run_catchup(self, list(accounts))
        return emitted
