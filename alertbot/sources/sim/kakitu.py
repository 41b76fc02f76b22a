"""A local Kakitu node simulator: a real WebSocket (topics, acks, ping) and HTTP RPC server.

It serves on 127.0.0.1, port 0, and behaves like the V25-based node where a watcher can
trip: frames are pretty-printed with every scalar a string and `""` for empty
containers; acks echo `id`; `update` works only on a confirmation subscription created
with options; malformed JSON stops the session reading (later pings go unanswered). A
small ledger of state blocks (send, receive/open) backs both the confirmation topic and
the catch-up RPCs (`account_history` raw with `head`/`previous` paging, `receivable`,
`blocks_info`, `account_info`), with replies shaped like the nano-docs samples plus
Kakitu's `api_version`. Tests and `alertbot demo` steer it: duplicate frames, drop
connections, go silent, take WebSocket and RPC down (an outage) and bring them back,
fail the next RPC calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..kakitu_address import (
    decode_account,
    encode_account,
    normalize_account,
    validate_account,
)

log = logging.getLogger(__name__)
ZERO = "0" * 64


def account_for(name: str) -> str:
    """A deterministic, valid kshs_ address for a test or demo account name."""
    return encode_account(hashlib.blake2b(name.encode(), digest_size=32).digest())


REPRESENTATIVE = account_for("representative")


@dataclass
class Block:
    hash: str
    account: str
    previous: str
    balance: int
    link: str
    subtype: str            # send | receive (V25 has no `open` subtype)
    amount: int
    height: int
    local_timestamp: int
    confirmed: bool = True
    destination: str = ""   # send: link_as_account
    source: str = ""        # receive: the sending account

    def contents(self) -> dict[str, Any]:
        link_as = self.destination or encode_account(bytes.fromhex(self.link))
        return {"type": "state", "account": self.account, "previous": self.previous,
                "representative": REPRESENTATIVE, "balance": self.balance,
                "link": self.link, "link_as_account": link_as,
                "signature": "0" * 128, "work": "0" * 16, "subtype": self.subtype}


@dataclass
class Ledger:
    """Account chains (oldest first) and unpocketed sends; times from `clock`."""

    clock: Callable[[], float] = time.time
    chains: dict[str, list[Block]] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)
    receivable: dict[str, Block] = field(default_factory=dict)

    def fund(self, account: str, raw: int) -> Block:
        """Open `account` with `raw` from a faucet (a send + its receive)."""
        faucet = account_for("faucet")
        chain = self.chains.setdefault(faucet, [])
        if not chain:
            self._append(faucet, 2**127, ZERO, "receive", 2**127, source=faucet)
        send = self.send(faucet, account, raw)
        return self.receive(account, send.hash)

    def send(self, src: str, dst: str, raw: int, confirmed: bool = True) -> Block:
        balance = self.balance(src) - raw
        if balance < 0:
            raise ValueError(f"{src} cannot send {raw} raw: balance {self.balance(src)}")
        link = self._key(dst)
        block = self._append(src, balance, link, "send", raw, destination=dst,
                             confirmed=confirmed)
        self.receivable[block.hash] = block
        return block

    def receive(self, account: str, send_hash: str, confirmed: bool = True) -> Block:
        send = self.receivable.pop(send_hash)
        return self._append(account, self.balance(account) + send.amount, send_hash,
                            "receive", send.amount, source=send.account,
                            confirmed=confirmed)

    def balance(self, account: str) -> int:
        chain = self.chains.get(account)
        return chain[-1].balance if chain else 0

    def frontier(self, account: str) -> Block | None:
        chain = self.chains.get(account)
        return chain[-1] if chain else None

    def receivable_for(self, account: str) -> list[Block]:
        return [b for b in self.receivable.values() if b.destination == account and b.confirmed]

    @staticmethod
    def _key(account: str) -> str:
        return decode_account(account).hex().upper()

    def _append(self, account: str, balance: int, link: str, subtype: str, amount: int,
                *, destination: str = "", source: str = "", confirmed: bool = True) -> Block:
        chain = self.chains.setdefault(account, [])
        previous = chain[-1].hash if chain else ZERO
        digest = hashlib.blake2b(f"{account}|{previous}|{balance}|{link}".encode(),
                                 digest_size=32).hexdigest().upper()
        block = Block(digest, account, previous, balance, link, subtype, amount,
                      len(chain) + 1, int(self.clock()), confirmed, destination, source)
        chain.append(block)
        self.blocks[digest] = block
        return block


def wire(value: Any) -> Any:
    """Node style: every scalar a string, booleans "true"/"false", empty containers ""."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()} if value else ""
    if isinstance(value, list):
        return [wire(v) for v in value] if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dumps_node(obj: Any) -> str:
    """boost write_json style: pretty-printed, `/` escaped."""
    return json.dumps(wire(obj), indent=4).replace("/", "\\/")


@dataclass
class _Session:
    ws: ServerConnection
    subs: dict[str, dict[str, Any]] = field(default_factory=dict)
    reading: bool = True


class KakituSimulator:
    """The simulated node. `await start()`, then `ws_url`/`rpc_url`; `await stop()`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.ledger = Ledger(clock)
        self.clock = clock
        self.duplicates = 1             # copies of every topic frame pushed
        self.silent = False             # no acks, pongs or frames (a hung node)
        self.ignore_acks: set[str] = set()   # actions whose ack is swallowed
        self.rpc_failures: list[str] = []    # next calls fail: error | 500 | timeout
        self.received: list[Any] = []        # client messages, decoded
        self.rpc_calls: list[dict[str, Any]] = []
        self.sessions: list[_Session] = []
        self.subscribed = asyncio.Event()    # set on every confirmation subscribe
        self._ws: Server | None = None
        self._rpc: asyncio.Server | None = None
        self._rpc_writers: set[asyncio.StreamWriter] = set()
        self._hang = asyncio.Event()
        self.ws_port = 0
        self.rpc_port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._ws = await serve(self._session, "127.0.0.1", self.ws_port)
        self.ws_port = next(iter(self._ws.sockets)).getsockname()[1]
        self._rpc = await asyncio.start_server(self._http, "127.0.0.1", self.rpc_port)
        self.rpc_port = self._rpc.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Take WebSocket and RPC down (an outage); `start()` brings them back, same ports."""
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        if self._rpc is not None:
            self._rpc.close()
            for w in list(self._rpc_writers):
                w.close()
            self._rpc = None
        self._hang.set()
        self._hang = asyncio.Event()
        self.sessions.clear()

    async def drop(self) -> None:
        """Close every WebSocket connection (the server keeps accepting)."""
        for s in list(self.sessions):
            await s.ws.close()

    # ----------------------------------------------------------------- ledger + push
    async def pay(self, src: str, dst: str, raw: int) -> Block:
        """A confirmed send, pushed to subscribers."""
        block = self.ledger.send(src, dst, raw)
        await self.confirm(block)
        return block

    async def pocket(self, account: str, send_hash: str) -> Block:
        """The receiver pockets a send: a confirmed receive, pushed to subscribers."""
        block = self.ledger.receive(account, send_hash)
        await self.confirm(block)
        return block

    async def confirm(self, block: Block) -> None:
        block.confirmed = True
        msg = {"account": block.account, "amount": block.amount, "hash": block.hash,
               "confirmation_type": "active_quorum", "block": block.contents()}
        watched = {block.account, block.contents()["link_as_account"]}
        for s in list(self.sessions):
            opts = s.subs.get("confirmation")
            if opts is None:
                continue
            accounts = opts.get("accounts")
            if accounts is not None and not watched & accounts:
                continue
            await self._push(s, "confirmation", msg)

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Push any topic message to the sessions subscribed to it."""
        for s in list(self.sessions):
            if topic in s.subs:
                await self._push(s, topic, message)

    async def _push(self, s: _Session, topic: str, message: dict[str, Any]) -> None:
        if self.silent:
            return
        frame = dumps_node({"topic": topic, "time": int(self.clock() * 1000),
                            "message": message})
        for _ in range(self.duplicates):
            try:
                await s.ws.send(frame)
            except ConnectionClosed:
                return

    # ----------------------------------------------------------------- websocket
    async def _session(self, ws: ServerConnection) -> None:
        session = _Session(ws)
        self.sessions.append(session)
        try:
            async for raw in ws:
                if not session.reading:
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    session.reading = False   # the node stops reading this session
                    continue
                self.received.append(msg)
                await self._handle(session, msg)
        except ConnectionClosed:
            pass
        finally:
            if session in self.sessions:
                self.sessions.remove(session)

    async def _handle(self, s: _Session, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        action, topic = msg.get("action"), msg.get("topic")
        ok = False
        if action == "ping":
            ok = True
        elif action == "subscribe" and topic:
            opts = msg.get("options")
            s.subs[topic] = self._options(opts) if isinstance(opts, dict) else {"plain": True}
            ok = True
            if topic == "confirmation":
                self.subscribed.set()
        elif action == "unsubscribe" and topic:
            s.subs.pop(topic, None)
            ok = True
        elif action == "update" and topic == "confirmation":
            ok = self._update(s, msg.get("options"))
        if not ok or self.silent or action in self.ignore_acks:
            return
        if action != "ping" and not _truthy(msg.get("ack")):
            return
        reply: dict[str, Any] = {"ack": "pong" if action == "ping" else action,
                                 "time": int(self.clock() * 1000)}
        if msg.get("id"):
            reply["id"] = msg["id"]
        with contextlib.suppress(ConnectionClosed):
            await s.ws.send(dumps_node(reply))

    @staticmethod
    def _options(opts: dict[str, Any]) -> dict[str, Any]:
        out = dict(opts)
        if "accounts" in opts:
            out["accounts"] = {normalize_account(a) for a in opts["accounts"] or []
                               if validate_account(a) is None}
        return out

    @staticmethod
    def _update(s: _Session, opts: Any) -> bool:
        current = s.subs.get("confirmation")
        if current is None or current.get("plain") or not isinstance(opts, dict):
            return False
        accounts: set[str] = set(current.get("accounts") or set())
        accounts |= {normalize_account(a) for a in opts.get("accounts_add") or []
                     if validate_account(a) is None}
        accounts -= {normalize_account(a) for a in opts.get("accounts_del") or []
                     if validate_account(a) is None}
        current["accounts"] = accounts
        return True

    # ----------------------------------------------------------------- http rpc
    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._rpc_writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        body = b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    status, payload = await self._answer(body)
                    body = b""
                    writer.write(conn.send(h11.Response(status_code=status, headers=[
                        ("content-type", "application/json"),
                        ("content-length", str(len(payload)))])) or b"")
                    writer.write(conn.send(h11.Data(data=payload)) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                    if conn.our_state is h11.MUST_CLOSE:
                        break
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    break
        except (h11.RemoteProtocolError, ConnectionError):
            pass
        finally:
            self._rpc_writers.discard(writer)
            writer.close()

    async def _answer(self, body: bytes) -> tuple[int, bytes]:
        if self.rpc_failures:
            failure = self.rpc_failures.pop(0)
            if failure == "timeout":
                await self._hang.wait()
            if failure == "500":
                return 500, b'{"error": "Internal server error in RPC"}'
            return 200, dumps_node({"error": "Empty response", "api_version": 1}).encode()
        try:
            req = json.loads(body)
        except ValueError:
            return 200, dumps_node({"error": "Unable to parse JSON"}).encode()
        self.rpc_calls.append(req)
        handler = getattr(self, f"_rpc_{req.get('action')}", None)
        if handler is None:
            return 200, dumps_node({"error": "Unknown command"}).encode()
        try:
            reply: dict[str, Any] = handler(req)
        except _RpcError as exc:
            reply = {"error": str(exc)}
        except (KeyError, ValueError, TypeError):
            return 200, dumps_node({"error": "Unable to parse JSON"}).encode()
        reply.setdefault("api_version", 1)
        return 200, dumps_node(reply).encode()

    def _account(self, req: dict[str, Any]) -> str:
        account = str(req["account"])
        if validate_account(account) is not None:
            raise _RpcError("Bad account number")
        return normalize_account(account)

    def _rpc_account_info(self, req: dict[str, Any]) -> dict[str, Any]:
        chain = self.ledger.chains.get(self._account(req))
        if not chain:
            return {"error": "Account not found"}
        confirmed = [b for b in chain if b.confirmed]
        return {"frontier": chain[-1].hash, "open_block": chain[0].hash,
                "representative_block": chain[0].hash, "balance": chain[-1].balance,
                "modified_timestamp": chain[-1].local_timestamp, "block_count": len(chain),
                "account_version": 2, "confirmation_height": len(confirmed),
                "confirmation_height_frontier": confirmed[-1].hash if confirmed else ZERO}

    def _rpc_account_history(self, req: dict[str, Any]) -> dict[str, Any]:
        count = int(req["count"])
        raw = _truthy(req.get("raw"))
        if req.get("head"):
            head = self.ledger.blocks.get(str(req["head"]).upper())
            if head is None:
                return {"error": "Block not found"}
            account = head.account
        else:
            account = self._account(req)
            head = self.ledger.frontier(account)
        chain = self.ledger.chains.get(account, [])
        end = head.height if head else 0
        page = list(reversed(chain[max(0, end - count):end]))
        reply: dict[str, Any] = {"account": account,
                                 "history": [_history_entry(b, raw) for b in page]}
        if page and page[-1].height > 1:
            reply["previous"] = page[-1].previous
        return reply

    def _rpc_receivable(self, req: dict[str, Any]) -> dict[str, Any]:
        account = self._account(req)
        threshold = int(req.get("threshold") or 0)
        sends = [b for b in self.ledger.receivable_for(account) if b.amount >= threshold]
        sends = sends[:int(req["count"])]
        if _truthy(req.get("source")):
            return {"blocks": {b.hash: {"amount": b.amount, "source": b.account}
                               for b in sends}}
        if "threshold" in req:
            return {"blocks": {b.hash: b.amount for b in sends}}
        return {"blocks": [b.hash for b in sends]}

    def _rpc_blocks_info(self, req: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for h in req["hashes"]:
            block = self.ledger.blocks.get(str(h).upper())
            if block is None:
                return {"error": "Block not found"}
            chain = self.ledger.chains[block.account]
            successor = chain[block.height].hash if block.height < len(chain) else ZERO
            out[block.hash] = {
                "block_account": block.account, "amount": block.amount,
                "balance": block.balance, "height": block.height,
                "local_timestamp": block.local_timestamp, "successor": successor,
                "confirmed": block.confirmed,
                "contents": {k: v for k, v in block.contents().items() if k != "subtype"},
                "subtype": block.subtype}
        return {"blocks": out}


class _RpcError(Exception):
    pass


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _history_entry(b: Block, raw: bool) -> dict[str, Any]:
    counterparty = b.destination if b.subtype == "send" else b.source
    entry: dict[str, Any] = {"type": "state" if raw else b.subtype, "account": counterparty,
                             "amount": b.amount, "local_timestamp": b.local_timestamp,
                             "height": b.height, "hash": b.hash, "confirmed": b.confirmed}
    if raw:
        entry.update({"representative": REPRESENTATIVE, "link": b.link,
                      "balance": b.balance, "previous": b.previous, "subtype": b.subtype,
                      "work": "0" * 16, "signature": "0" * 128})
    return entry


# the treasury is the account the example rules (rules/kakitu.yaml) watch
DEMO_ACCOUNTS = {
    "treasury": "kshs_35zrk7ioxfeatbascyqx6iae5gzjbgb9yng4e56pjf8iix81y84j78u3k1ti",
    "customer": account_for("customer"), "supplier": account_for("supplier")}


class DemoKakitu(KakituSimulator):
    """The simulator as `alertbot demo` drives it (the `sim.Simulator` protocol)."""

    @property
    def url(self) -> str:
        return self.ws_url

    @property
    def subscribers(self) -> int:
        return sum(1 for s in self.sessions if "confirmation" in s.subs)

    def source_config(self) -> dict[str, Any]:
        return {"kind": "kakitu", "url": self.ws_url, "rpc_url": self.rpc_url,
                "accounts": [DEMO_ACCOUNTS["treasury"]],
                "topics": ["confirmation", "stopped_election"], "catchup_interval": "30s",
                "ping_interval": "2s", "pong_timeout": "2s", "healthy_after": "1s",
                "reconnect": {"initial": "0.5s", "max": "2s"}, "rpc_backoff": "0.5s"}

    async def script(self, duration: float) -> None:
        await demo_script(self, duration)

    async def close(self) -> None:
        await self.stop()


async def start() -> DemoKakitu:
    """A started demo node: a funded customer (10,000 KSHS); treasury not yet opened."""
    sim = DemoKakitu()
    await sim.start()
    sim.ledger.fund(DEMO_ACCOUNTS["customer"], 10_000 * 10**30)
    return sim


async def demo_script(sim: KakituSimulator, duration: float = 60.0) -> None:
    """The demo scenario, spread over `duration` seconds.

    1. A customer pays the treasury 250 KSHS (live; every frame sent twice) and 25
       elections are stopped.
    2. WebSocket and RPC go down briefly; meanwhile the customer pays 120 KSHS, the
       treasury pockets the 250 and sends 100 to a supplier: catch-up reports the
       missed payment and the treasury send once each, and not the pocketing.
    3. A node outage of 60 % of the run ("node disconnected" fires, then resolves).
    """
    treasury, customer = DEMO_ACCOUNTS["treasury"], DEMO_ACCOUNTS["customer"]
    step = duration / 10
    await asyncio.sleep(step)
    sim.duplicates = 2
    first = await sim.pay(customer, treasury, 250 * 10**30)
    log.info("kakitu sim: customer paid the treasury 250 KSHS (%s)", first.hash[:8])
    for i in range(25):
        await sim.publish("stopped_election", {"hash": f"{i:064X}"})
    await asyncio.sleep(step)
    await sim.stop()
    await sim.pay(customer, treasury, 120 * 10**30)
    await sim.pocket(treasury, first.hash)
    await sim.pay(treasury, DEMO_ACCOUNTS["supplier"], 100 * 10**30)
    log.info("kakitu sim: 120 KSHS in and 100 KSHS out while the watcher was away")
    await asyncio.sleep(step / 2)
    await sim.start()
    await asyncio.sleep(step)
    await sim.stop()
    log.info("kakitu sim: node down")
    await asyncio.sleep(step * 6)
    await sim.start()
    log.info("kakitu sim: node back")


async def demo(duration: float = 60.0) -> None:
    """Run the demo node and its scenario for `duration` seconds, standalone."""
    sim = await start()
    log.info("kakitu sim: ws %s rpc %s", sim.ws_url, sim.rpc_url)
    try:
        await demo_script(sim, duration)
        await asyncio.sleep(duration / 10)
    finally:
        await sim.stop()
