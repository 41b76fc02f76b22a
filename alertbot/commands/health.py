"""`alertbot health`: liveness probe for container health checks (exit 0 alive, 1 not).

Asks the running service's `/healthz` on `http.listen` from the config (or `--url`).
Liveness only: a node being down never makes this fail, so the orchestrator never
restarts alertbot for someone else's outage.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config",
                        help="config file (default: $ALERTBOT_CONFIG, else ./alertbot.yaml)")
    parser.add_argument("--url", help="health URL (default: http://<http.listen>/healthz)")
    parser.add_argument("--timeout", type=float, default=3.0)


def run(args: argparse.Namespace) -> int:
    url = args.url
    if url is None:
        from ..httpserver import parse_listen
        from ..loader import load

        try:
            listen = load(args.config).config.http.listen
        except Exception as exc:  # a broken config must still answer "unhealthy", clearly
            print(f"alertbot health: cannot read config: {exc}", file=sys.stderr)
            return 1
        host, port = parse_listen(listen)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:
            body = resp.read().decode(errors="replace").strip()
            print(body or "ok")
            return 0 if resp.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: HTTP {exc.code} {exc.read().decode(errors='replace').strip()}")
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url} unreachable ({exc})")
        return 1
