"""Delivery throughput benchmark: store.enqueue → DeliveryWorker → webhook → local receiver.

A minimal HTTP/1.1 receiver (200 "ok", keep-alive) runs in a child process on
127.0.0.1 so it does not share the measuring event loop. The parent enqueues N
notifications into a SQLite outbox on disk (WAL, in batches of `--batch` per
transaction, as the pipeline writes one batch per tick), spread over `--notifiers`
webhook notifiers (each its own lane), then runs `DeliveryWorker.drain()` and prints
notifications/s for the enqueue step and for delivery (send + outbox delete).
Run: `python bench/notify.py [-n 5000] [--notifiers 1] [--sign]`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alertbot.clock import SystemClock
from alertbot.model import Alert, Notification, Severity
from alertbot.notifiers.http import NotifierContext
from alertbot.notifiers.settings import WebhookSettings
from alertbot.notifiers.webhook import build
from alertbot.pipeline.delivery import DeliveryWorker
from alertbot.store import SQLiteStore

RECEIVER = r"""
import asyncio, sys
async def serve(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line.strip():
                return
            length = 0
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def notifications(n: int, names: list[str], now: float) -> list[Notification]:
    out = []
    for i in range(n):
        name = names[i % len(names)]
        alert = Alert(rule=f"rule{i % 100}", status="firing", reason="first",
                      severity=Severity.warning, fingerprint=f"fp{i:08d}", episode=1,
                      labels={"symbol": "BTC/USD"}, text=f"price above {i}",
                      starts_at=now, ends_at=None, event=None, notify=(name,))
        out.append(Notification(Notification.make_id(alert, name), alert, name, now))
    return out


async def bench(args: argparse.Namespace, port: int, db: Path) -> None:
    names = [f"hook{i}" for i in range(args.notifiers)]
    extra = {"secret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="} if args.sign else {}
    notifiers = {name: build(name, WebhookSettings.model_validate(
        {"kind": "webhook", "url": f"http://127.0.0.1:{port}/in", **extra}),
        NotifierContext()) for name in names}
    store = SQLiteStore(db)
    clock = SystemClock()
    batch = notifications(args.n, names, clock.now())
    t0 = time.perf_counter()
    for i in range(0, len(batch), args.batch):
        store.enqueue(batch[i:i + args.batch], clock.now())
    t1 = time.perf_counter()
    worker = DeliveryWorker(store, notifiers, clock=clock)
    ok = await worker.drain(max_wait=600)
    t2 = time.perf_counter()
    await worker.aclose()
    left = len(store.outbox_list())
    store.close()
    print(f"notifications: {args.n} over {args.notifiers} webhook notifier(s)"
          f"{' (signed)' if args.sign else ''}; drained={ok} left={left}")
    print(f"enqueue (batches of {args.batch}): {args.n / (t1 - t0):,.0f} notifications/s")
    print(f"delivery (send + outbox delete): {args.n / (t2 - t1):,.0f} notifications/s "
          f"({t2 - t1:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="notifications (default 5000)")
    parser.add_argument("--notifiers", type=int, default=1, help="webhook notifiers/lanes")
    parser.add_argument("--batch", type=int, default=100, help="rows per enqueue")
    parser.add_argument("--sign", action="store_true", help="Standard Webhooks signing")
    args = parser.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(bench(args, port, Path(tmp) / "alertbot.db"))
    finally:
        receiver.terminate()
        receiver.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
