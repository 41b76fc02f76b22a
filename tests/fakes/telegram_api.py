"""FakeTelegramAPI: a real Bot API server on 127.0.0.1:0 that validates like Telegram.

Runs on asyncio streams in the test's event loop (no aiohttp). It answers `getMe`,
`sendMessage`, `getUpdates` (long polling over scripted updates), `deleteWebhook`,
`getWebhookInfo`, `setMyCommands` and `close`; any other method is a 404. `sendMessage`
is checked the way the real server checks it: the token, a known chat, the text parsed
for its `parse_mode` (HTML tags and entities, MarkdownV2 reserved characters) and its
length counted in UTF-16 code units after parsing (≤ 4,096). Failures are injected with
`fail(...)` (429 with `retry_after`, 400, 5xx); while a chat is inside a 429 pause any
message to it is refused again and recorded in `violations`. Times come from `now` (a
fake clock in tests) so pauses and pacing are asserted on the clock the code uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import html.parser
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a",
                       "code", "pre", "tg-spoiler", "span", "blockquote", "tg-emoji"})
MD_RESERVED = set("_*[]()~`>#+-=|{}.!")
MAX_TEXT = 4096
JSON_PARAMS = frozenset({"disable_notification", "message_thread_id", "offset", "timeout",
                         "limit", "allowed_updates", "chat_id"})
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


class EntityError(ValueError):
    """The text does not parse in its parse mode (Telegram's "can't parse entities")."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _HTMLCheck(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityError(f'Unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise EntityError("Unexpected character in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            raise EntityError(f'Unsupported HTML entity "&{name};"')
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message; EntityError when it would not parse."""
    # A `&` must start an entity that ends in `;` (html.parser is lenient about it).
    for m in re.finditer("&", text):
        if not re.match(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", text[m.start():]):
            raise EntityError(f"Character '&' at byte offset {m.start()} must be escaped")
    checker = _HTMLCheck()
    checker.feed(text)
    checker.close()
    if checker.stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"')
    return "".join(checker.text)


def parse_markdown_v2(text: str) -> str:
    """The visible text of a MarkdownV2 message (entity markers balanced, rest escaped)."""
    out: list[str] = []
    open_marks: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise EntityError("Unexpected end of text after '\\'")
            out.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            end = i + 1
            while end < len(text) and text[end] != "`":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise EntityError("Can't find end of Pre entity")
            out.append(re.sub(r"\\(.)", r"\1", text[i + 1:end]))
            i = end + 1
            continue
        mark = "__" if text.startswith("__", i) else "||" if text.startswith("||", i) else c
        if mark in ("*", "_", "__", "~", "||"):
            if open_marks and open_marks[-1] == mark:
                open_marks.pop()
            else:
                open_marks.append(mark)
            i += len(mark)
            continue
        if c in MD_RESERVED:
            raise EntityError(f"Character '{c}' is reserved and must be escaped with the "
                              f"preceding '\\'")
        out.append(c)
        i += 1
    if open_marks:
        raise EntityError(f"Can't find end of the entity starting at '{open_marks[-1]}'")
    return "".join(out)


@dataclass(frozen=True)
class Sent:
    """One accepted sendMessage."""

    chat_id: str
    text: str
    parse_mode: str | None
    disable_notification: bool
    message_thread_id: int | None
    at: float
    visible: str


@dataclass(frozen=True)
class Failure:
    """An injected answer for the next sendMessage (to `chat_id`, or to any chat)."""

    status: int
    description: str
    retry_after: int | None = None
    chat_id: str | None = None


@dataclass
class FakeTelegramAPI:
    token: str = "123456:TESTtokenVALUE_abc"
    chats: set[str] | None = None          # None: any chat id exists
    now: Callable[[], float] = time.monotonic
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    paused_until: dict[str, float] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Condition()
        self._next_update_id = 1
        self._next_message_id = 1

    # -- test API ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What `api_url` is set to (PTB appends the token and the method)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def fail(self, status: int, description: str, *, retry_after: int | None = None,
             chat_id: str | int | None = None, times: int = 1) -> None:
        chat = None if chat_id is None else str(chat_id)
        self.failures += [Failure(status, description, retry_after, chat)] * times

    def push_command(self, text: str, *, chat_id: int, user_id: int,
                     chat_type: str = "private") -> None:
        """Queue one incoming message (a `/command ...`) for getUpdates."""
        uid = self._next_update_id
        self._next_update_id += 1
        command = text.split()[0] if text.startswith("/") else ""
        message: dict[str, Any] = {
            "message_id": 1000 + uid, "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, "type": chat_type, "first_name": "u"},
            "from": {"id": user_id, "is_bot": False, "first_name": "u"}}
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(command)}]
        self.updates.append({"update_id": uid, "message": message})
        asyncio.get_running_loop().create_task(self._notify())

    def texts(self, chat_id: str | int | None = None) -> list[str]:
        return [s.visible for s in self.sent if chat_id is None or s.chat_id == str(chat_id)]

    async def wait_sent(self, count: int, timeout: float = 5.0,
                        chat_id: str | int | None = None) -> list[Sent]:
        """Return once `count` messages (to `chat_id`, if given) were accepted."""
        def enough() -> bool:
            return len(self.texts(chat_id)) >= count
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(enough)
        return self.sent

    async def start(self) -> FakeTelegramAPI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            # Python 3.11's wait_closed does not wait for the handlers: do it here, so
            # none is left for the loop's shutdown to cancel.
            await asyncio.gather(*self._handlers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- methods -----------------------------------------------------------------------
    async def _answer(self, token: str, method: str,
                      params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, params))
        if token != self.token:
            return _error(401, "Unauthorized")
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 4242, "is_bot": True,
                                                "first_name": "alertbot",
                                                "username": "alertbot_test_bot"}}
        if method in ("deleteWebhook", "setMyCommands", "close", "logOut"):
            return 200, {"ok": True, "result": True}
        if method == "getWebhookInfo":
            return 200, {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                                "pending_update_count": 0}}
        if method == "getUpdates":
            return 200, {"ok": True, "result": await self._get_updates(params)}
        if method == "sendMessage":
            return self._send_message(params)
        return _error(404, "Not Found")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        # Long polling, capped so a stopping Application never waits long on us.
        wait = min(float(params.get("timeout") or 0), 0.2)
        if not self.updates and wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(lambda: bool(self.updates))
        return list(self.updates)

    def _send_message(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = str(params.get("chat_id", ""))
        if self.chats is not None and chat not in self.chats:
            return _error(400, "Bad Request: chat not found")
        now = self.now()
        if self.paused_until.get(chat, float("-inf")) > now:
            self.violations.append(f"message to {chat} during its 429 pause")
            left = self.paused_until[chat] - now
            return _error(429, f"Too Many Requests: retry after {left:.0f}",
                          retry_after=max(1, round(left)))
        for f in self.failures:
            if f.chat_id in (None, chat):
                self.failures.remove(f)
                if f.retry_after is not None:
                    self.paused_until[chat] = now + f.retry_after
                return _error(f.status, f.description, retry_after=f.retry_after)
        text = str(params.get("text", ""))
        mode = params.get("parse_mode") or None
        try:
            visible = (parse_html(text) if mode == "HTML" else
                       parse_markdown_v2(text) if mode == "MarkdownV2" else text)
        except EntityError as exc:
            return _error(400, f"Bad Request: can't parse entities: {exc}")
        if not visible.strip():
            return _error(400, "Bad Request: message text is empty")
        if utf16_len(visible) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        thread = params.get("message_thread_id")
        self.sent.append(Sent(chat, text, mode, _truthy(params.get("disable_notification")),
                              None if thread is None else int(thread), now, visible))
        asyncio.get_running_loop().create_task(self._notify())
        mid = self._next_message_id
        self._next_message_id += 1
        chat_obj = {"id": int(chat) if chat.lstrip("-").isdigit() else 1,
                    "type": "supergroup" if chat.startswith("-") else "private"}
        return 200, {"ok": True, "result": {"message_id": mid, "date": int(time.time()),
                                            "chat": chat_obj, "text": visible}}

    # -- HTTP --------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    return
                _, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                try:
                    status, payload = await self._route(path, headers, body)
                except Exception as exc:  # a bug in the fake must not hang the client
                    status, payload = _error(500, f"fake server error: {exc!r}")
                data = json.dumps(payload).encode()
                head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                        f"Content-Length: {len(data)}\r\n"
                        "Content-Type: application/json\r\n\r\n")
                writer.write(head.encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    async def _route(self, path: str, headers: dict[str, str],
                     body: bytes) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", path.split("?")[0])
        if m is None:
            return _error(404, "Not Found")
        if headers.get("content-type", "").startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = {k: _decode(v) if k in JSON_PARAMS else v
                      for k, v in parse_qsl(body.decode())}
        return await self._answer(m.group(1), m.group(2), params)


def _decode(value: str) -> Any:
    # PTB form-encodes each parameter; non-strings are JSON inside the form value.
    try:
        return json.loads(value)
    except ValueError:
        return value


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _error(status: int, description: str,
           retry_after: int | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return status, body
