"""The Chia full node HTTPS RPC, as the watcher's sync poll uses it (httpx, mutual TLS).

`POST {full_node_url}/{endpoint}` with body `{}` and the full node's private
certificate (protocols/chia.md §5). Chia answers handled errors with HTTP 200 and
`success: false` (+ `error`, `structuredError`), an unknown route with a 404 text page
and a non-JSON body with a 500 text page; every one of those, a timeout, a refused
connection and a TLS failure becomes a `SourceError` whose message names the URL, so
the poll reports a `source_error` and the watcher carries on.
"""

from __future__ import annotations

import ssl

import httpx
import orjson

from ..errors import SourceError
from .chia_protocol import failure_text
from .chia_tls import client_context


def _cause_is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def call(base_url: str, endpoint: str, *, ssl_dir: str, timeout: float,
               transport: httpx.AsyncBaseTransport | None = None) -> dict[str, object]:
    """One RPC call; the decoded answer when `success` is true, else SourceError."""
    url = f"{base_url.rstrip('/')}/{endpoint}"
    # A test transport never opens a socket, so it needs no certificates.
    verify: ssl.SSLContext | bool = (client_context(ssl_dir, "full_node")
                                     if transport is None else True)
    try:
        async with httpx.AsyncClient(verify=verify, timeout=timeout,
                                     transport=transport) as client:
            response = await client.post(url, content=b"{}",
                                         headers={"Content-Type": "application/json"})
    except httpx.TimeoutException:
        raise SourceError(f"full node RPC {url} did not answer within {timeout:g}s",
                          kind="timeout") from None
    except httpx.HTTPError as exc:
        kind = "tls" if _cause_is_tls(exc) else "rpc"
        raise SourceError(f"full node RPC {url} failed: {type(exc).__name__}: {exc}",
                          kind=kind) from None
    if response.status_code != 200:
        text = response.text.strip()[:120]
        raise SourceError(f"full node RPC {url}: HTTP {response.status_code} ({text})",
                          kind="rpc")
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise SourceError(f"full node RPC {url}: answer is not JSON", kind="rpc") from None
    if not isinstance(body, dict):
        raise SourceError(f"full node RPC {url}: answer is not an object", kind="rpc")
    if body.get("success") is not True:
        raise SourceError(f"full node RPC {url}: {failure_text(endpoint, body)}", kind="rpc")
    return body
