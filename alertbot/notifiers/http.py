"""The one httpx home of the notifiers: client factory, status → DeliveryError, scrubbing.

Webhook and Slack (and any later HTTP notifier) build their client with `make_client`
and send with `post`, which turns every httpx outcome into either success or a
`DeliveryError` that says whether a retry can help (5xx, 408, 425, 429, timeouts and
connection errors retry; every other 4xx dead-letters) and, for 429/503, after how long
(`Retry-After` as seconds or an HTTP date). Error texts pass through `Scrubber`, which
removes the notifier's secrets (URL paths, tokens, signing keys) so nothing secret
reaches a log record or an exception. `NotifierContext` is what every notifier factory
receives as `ctx`.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..clock import Clock, SystemClock
from ..errors import DeliveryError
from ..metrics import Metrics, NullMetrics

log = logging.getLogger(__name__)

USER_AGENT = "alertbot"
MAX_BODY_IN_ERROR = 300
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(slots=True)
class NotifierContext:
    """What a notifier factory `(name, settings, ctx)` receives.

    `transport` lets tests inject `httpx.MockTransport` (or any transport); None means
    httpx's default network transport.
    """

    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = field(default_factory=NullMetrics)
    transport: httpx.AsyncBaseTransport | None = None


def make_client(ctx: NotifierContext | None, timeout: float) -> httpx.AsyncClient:
    """An AsyncClient with one overall timeout and alertbot's user agent; TLS verified."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        transport=None if ctx is None else ctx.transport,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


# ---------------------------------------------------------------------------- secrets


class Scrubber:
    """Replaces every known secret substring in a text by `***`.

    Built from a notifier's secrets: whole URLs, their paths and query strings (a Slack
    webhook's path is the secret) and plain tokens. Short fragments (< 6 chars) are
    ignored so that "/" or "" never masks the whole message.
    """

    def __init__(self, secrets: Iterable[str | None] = (), *,
                 register: bool = True) -> None:
        found: set[str] = set()
        for s in secrets:
            if s:
                found.update(_secret_parts(s))
        # Longest first so a URL is masked whole before its path is.
        self._secrets = sorted((s for s in found if len(s) >= 6), key=len, reverse=True)
        if register:
            _LIBRARY_SCRUBBER.add(self._secrets)

    def add(self, secrets: Iterable[str]) -> None:
        merged = set(self._secrets) | set(secrets)
        self._secrets = sorted(merged, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "***")
        return text


class _ScrubFilter(logging.Filter):
    """Masks notifier secrets in httpx's own log records (it logs every request URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = _LIBRARY_SCRUBBER(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


_LIBRARY_SCRUBBER = Scrubber(register=False)
for _name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11",
              "httpcore.http2"):
    logging.getLogger(_name).addFilter(_ScrubFilter())


def _secret_parts(secret: str) -> set[str]:
    parts = {secret}
    if "://" in secret:
        u = urlsplit(secret)
        parts.update({u.path, u.query, u.path.lstrip("/")})
        if u.path:
            parts.add(u.path + ("?" + u.query if u.query else ""))
        if u.password:
            parts.add(u.password)
    return parts


def safe_url(url: str, *, secret_path: bool) -> str:
    """The URL as it may appear in logs: scheme and host, path masked when it is a secret."""
    u = urlsplit(url)
    if secret_path:
        return f"{u.scheme}://{u.hostname or ''}/***"
    host = u.hostname or ""
    if u.port:
        host = f"{host}:{u.port}"
    return f"{u.scheme}://{host}{u.path}"


# ---------------------------------------------------------------------------- retry-after


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), ≥ 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


# ---------------------------------------------------------------------------- status table


def classify_status(status: int) -> bool | None:
    """None for success (2xx); otherwise whether a retry can help."""
    if 200 <= status < 300:
        return None
    return status >= 500 or status in RETRY_STATUSES


def error_for_response(response: httpx.Response, what: str, scrub: Scrubber,
                       now: float) -> DeliveryError | None:
    """None for 2xx; else the DeliveryError the status calls for (body in the text)."""
    retry = classify_status(response.status_code)
    if retry is None:
        return None
    body = scrub(response.text[:MAX_BODY_IN_ERROR].strip())
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    message = f"{what}: HTTP {response.status_code}" + (f": {body}" if body else "")
    return DeliveryError(message, retry=retry, retry_after=retry_after,
                         status=response.status_code)


async def post(client: httpx.AsyncClient, url: str, *, what: str, scrub: Scrubber,
               now: float, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
    """POST once; return the 2xx response or raise a scrubbed DeliveryError.

    `what` names the destination in messages (never the secret URL itself).
    """
    try:
        response = await client.post(url, content=content, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{what}: timed out ({type(exc).__name__})",
                            retry=True) from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"{what}: connection failed: {scrub(_describe(exc))}",
                            retry=True) from None
    except httpx.HTTPError as exc:  # InvalidURL and friends: configuration, not transient
        raise DeliveryError(f"{what}: {scrub(_describe(exc))}", retry=False) from None
    error = error_for_response(response, what, scrub, now)
    if error is not None:
        raise error
    return response


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def secret_value(value: Any) -> str | None:
    """Plain text of a pydantic SecretStr (or a str, or None)."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)
