"""Kakitu RPC catch-up: the httpx RPC client, the persisted per-account state, catch-up.

The node's WebSocket gives no delivery guarantee, so after every (re)connect and every
`catchup_interval` the watcher asks the RPC what it may have missed, per watched
account: `account_info` (the confirmed frontier), `account_history` with `raw: true`
paged back to the last frontier it processed (`head`/`previous`), and `receivable`
(+ `blocks_info`) for payments not yet pocketed. `CatchupState` keeps, per account, the
frontier and a bounded set of emitted payments (send hash, or block hash for
non-payments) in the store's key/value space, so neither a catch-up, a duplicate frame,
nor the receiver pocketing a payment emits the same payment twice, across restarts.
RPC errors (`{"error": ...}`, HTTP 5xx, timeouts, refused connections) are retried with
doubling backoff and then reported as `RpcFailed`; the caller reports and carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from ..errors import SourceError
from .kakitu import block_fields, raw_to_kshs

if TYPE_CHECKING:
    from .kakitu import KakituSource

log = logging.getLogger(__name__)

# answers that are facts, not failures: retrying cannot change them
_FINAL_ERRORS = frozenset({"Account not found", "Bad account number", "Block not found"})


class RpcFailed(SourceError):
    """An RPC call failed after every attempt (or with an error retrying cannot fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="rpc", retry=True)


class KakituRpc:
    """POST `{"action": ...}` to the node's RPC with retries; returns the decoded reply."""

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 5,
                 backoff: float = 1.0, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> KakituRpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        """One RPC action; `{"error": ...}` comes back only for final errors (not found)."""
        body = {"action": action, **params}
        delay = self.backoff
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self._client.post(self.url, content=orjson.dumps(body))
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                else:
                    reply = orjson.loads(response.content)
                    if not isinstance(reply, dict):
                        problem = "reply is not an object"
                    elif "error" not in reply or reply["error"] in _FINAL_ERRORS:
                        return reply
                    else:
                        problem = f"error {reply['error']!r}"
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except orjson.JSONDecodeError:
                problem = "reply is not JSON"
            log.debug("rpc %s attempt %d failed: %s", action, attempt, problem)
            if attempt < self.attempts:
                await self._sleep(delay)
                delay = min(delay * 2, 30.0)
        raise RpcFailed(f"RPC {action} at {self.url} failed {self.attempts} times: {problem}")


_CHUNK = 256


class CatchupState:
    """Per-account frontier + bounded emitted-set, written through to the store.

    The emitted-set is stored in chunks of 256 keys (`emitted:<account>:<n>`, plus a
    `:meta` record of the live chunk range) so marking a payment rewrites one small
    chunk, not the whole set; the oldest chunk is dropped beyond `limit`. Chunks live
    in the `<namespace>:emitted` namespace, which the store's `emitted` retention prunes.
    """

    def __init__(self, store: Any, namespace: str, limit: int = 10000) -> None:
        self._store = store
        self._ns = namespace
        self._ens = f"{namespace}:emitted"
        self._chunks_kept = max(2, limit // _CHUNK + 1)
        self._memory: dict[tuple[str, str], Any] = {}
        self._sets: dict[str, set[str]] = {}
        self._chunks: dict[str, dict[int, list[str]]] = {}

    def _get(self, ns: str, key: str) -> Any:
        if self._store is None:
            return self._memory.get((ns, key))
        return self._store.kv_get(ns, key)

    def _put(self, ns: str, key: str, value: Any) -> None:
        if self._store is None:
            self._memory[(ns, key)] = value
        else:
            self._store.kv_put(ns, key, value)

    def frontier(self, account: str) -> str | None:
        value = self._get(self._ns, f"frontier:{account}")
        return str(value) if value else None

    def set_frontier(self, account: str, block_hash: str) -> None:
        self._put(self._ns, f"frontier:{account}", block_hash)

    def _load(self, account: str) -> set[str]:
        if account not in self._sets:
            meta = self._get(self._ens, f"{account}:meta") or {}
            first, last = int(meta.get("first", 0)), int(meta.get("last", 0))
            chunks = {i: list(self._get(self._ens, f"{account}:{i}") or [])
                      for i in range(first, last + 1)}
            self._chunks[account] = chunks
            self._sets[account] = {k for chunk in chunks.values() for k in chunk}
        return self._sets[account]

    def seen(self, key: str, accounts: Iterable[str]) -> bool:
        return any(key in self._load(a) for a in accounts)

    def mark(self, key: str, accounts: Iterable[str]) -> None:
        for account in accounts:
            emitted = self._load(account)
            if key in emitted:
                continue
            emitted.add(key)
            chunks = self._chunks[account]
            last = max(chunks)
            if len(chunks[last]) >= _CHUNK:
                last += 1
                chunks[last] = []
                while len(chunks) > self._chunks_kept:
                    first = min(chunks)
                    emitted.difference_update(chunks.pop(first))
                    self._put(self._ens, f"{account}:{first}", None)
                self._put(self._ens, f"{account}:meta",
                          {"first": min(chunks), "last": last})
            chunks[last].append(key)
            self._put(self._ens, f"{account}:{last}", chunks[last])


def history_event(owner: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Confirmation fields of one raw `account_history` entry of `owner`'s chain."""
    block = {"type": entry.get("type", "state"), "account": owner,
             "subtype": entry.get("subtype") or entry.get("type", ""),
             "representative": entry.get("representative"),
             "balance": entry.get("balance"), "link": entry.get("link"),
             "link_as_account": entry.get("account") if entry.get("subtype") == "send"
             else None}
    data: dict[str, Any] = {"hash": str(entry["hash"]).upper(), "account": owner,
                            "catchup": True}
    data.update(block_fields(block, data["hash"]))
    if data.get("subtype") in ("receive", "open") and entry.get("account"):
        data["from_account"] = entry["account"]
    _amounts(data, entry)
    return data


def receivable_event(owner: str, send_hash: str, info: dict[str, Any]) -> dict[str, Any]:
    """Confirmation fields of a not-yet-pocketed send to `owner` (from `blocks_info`)."""
    contents = info.get("contents") if isinstance(info.get("contents"), dict) else {}
    block = dict(contents or {})
    block.setdefault("account", info.get("block_account"))
    block["subtype"] = "send"
    block["link_as_account"] = owner
    data: dict[str, Any] = {"hash": send_hash.upper(), "account": info.get("block_account"),
                            "catchup": True}
    data.update(block_fields(block, data["hash"]))
    _amounts(data, info)
    return data


def _amounts(data: dict[str, Any], entry: dict[str, Any]) -> None:
    if entry.get("amount") not in (None, ""):
        data["amount_raw"] = str(entry["amount"])
        data["amount"] = raw_to_kshs(data["amount_raw"])
    for key in ("height", "local_timestamp"):
        if entry.get(key) not in (None, ""):
            data[key] = int(entry[key])


def _blocks(reply: dict[str, Any]) -> dict[str, Any]:
    blocks = reply.get("blocks")
    return blocks if isinstance(blocks, dict) else {}


async def missed_history(rpc: KakituRpc, account: str, since: str, head: str,
                         page: int) -> list[dict[str, Any]]:
    """Confirmed blocks of `account` after `since` up to `head`, oldest first."""
    found: list[dict[str, Any]] = []
    cursor = head
    visited: set[str] = set()
    while cursor and cursor not in visited:   # a node repeating `previous` must not loop
        visited.add(cursor)
        reply = await rpc.call("account_history", account=account, count=str(page),
                               raw=True, head=cursor)
        history = reply.get("history")
        for entry in history if isinstance(history, list) else []:
            if str(entry.get("hash", "")).upper() == since:
                return list(reversed(found))
            if str(entry.get("confirmed", "true")) == "true":
                found.append(history_event(account, entry))
        cursor = str(reply.get("previous") or "")
    return list(reversed(found))


async def catch_up(rpc: KakituRpc, state: CatchupState, account: str,
                   page: int = 100) -> tuple[list[dict[str, Any]], str | None]:
    """What `account` missed since its stored frontier (oldest first, not yet emitted),
    and the frontier to store once they are emitted (None: unchanged).

    The first run for an account only records the frontier (old history is not news);
    receivable payments are reported on every run until emitted.
    """
    info = await rpc.call("account_info", account=account)
    events: list[dict[str, Any]] = []
    since = state.frontier(account)
    frontier: str | None = None
    confirmed = str(info.get("confirmation_height_frontier") or "")
    if "error" not in info and confirmed and set(confirmed) != {"0"}:
        if since is not None and since != confirmed:
            events = await missed_history(rpc, account, since, confirmed, page)
        if since != confirmed:
            frontier = confirmed
    elif since is None:
        frontier = "0" * 64
    events.extend(await missed_receivable(rpc, state, account, page))
    events.sort(key=lambda d: int(d.get("local_timestamp", 0)))
    return [e for e in events if not state.seen(_key(e), _owners(e))], frontier


async def missed_receivable(rpc: KakituRpc, state: CatchupState, account: str,
                            page: int) -> list[dict[str, Any]]:
    """Confirmed sends to `account` it has not pocketed and we have not emitted."""
    reply = await rpc.call("receivable", account=account, count=str(max(page, 1000)),
                           source=True)
    hashes = [h for h in _blocks(reply) if not state.seen(h.upper(), [account])]
    if not hashes:
        return []
    infos = _blocks(await rpc.call("blocks_info", hashes=hashes, json_block=True))
    return [receivable_event(account, h, infos[h]) for h in hashes if h in infos]


def _key(data: dict[str, Any]) -> str:
    return str(data.get("send_hash") or data.get("hash") or "")


def _owners(data: dict[str, Any]) -> list[str]:
    return [a for a in (data.get("account"), data.get("to_account")) if a]


async def run_catchup(source: KakituSource, accounts: list[str]) -> tuple[int, list[str]]:
    """Catch `accounts` up through the source: emit missed payments, oldest first.
    Returns how many were emitted and the accounts whose RPC calls failed.

    Frontiers are stored only after their account's events were emitted, so a crash in
    between repeats the walk (and the emitted-set keeps it from re-alerting).
    """
    s = source.settings
    found: list[tuple[str, dict[str, Any]]] = []
    frontiers: dict[str, str] = {}
    failed: list[str] = []
    async with KakituRpc(s.rpc_url, timeout=s.rpc_timeout, attempts=s.rpc_attempts,
                         backoff=s.rpc_backoff) as rpc:
        for account in accounts:
            try:
                events, frontier = await catch_up(rpc, source.state, account,
                                                  s.history_page)
            except RpcFailed as exc:
                source.ctx.error("rpc", f"catch-up of {account}: {exc}")
                failed.append(account)
                continue
            found.extend((account, e) for e in events)
            if frontier is not None:
                frontiers[account] = frontier
    found.sort(key=lambda item: int(item[1].get("local_timestamp", 0)))
    emitted = 0
    for _account, data in found:
        if source.claim(data):
            source.ctx.emit("confirmation", data)
            emitted += 1
    for account, frontier in frontiers.items():
        source.state.set_frontier(account, frontier)
    if emitted:
        log.info("%s: catch-up emitted %d missed confirmation(s)", source.name, emitted)
    return emitted, failed


async def catchup_until_done(source: KakituSource) -> None:
    """Catch up; while the RPC fails for some account, retry with doubling backoff (at
    most `catchup_interval` apart), so a node outage is caught up as soon as it ends."""
    delay = source.settings.rpc_backoff
    while True:
        async with source.catchup_lock:
            _, failed = await run_catchup(source, sorted(source.watched))
        if not failed:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, source.settings.catchup_interval)
