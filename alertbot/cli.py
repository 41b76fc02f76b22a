"""The `alertbot` command line: run | check | replay | demo | schema | silence | outbox | health.

Each command lives in `alertbot/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`; this module only builds the argparse tree and dispatches, importing
a command's module lazily (fast `check`, no heavy imports for `--help`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "run": "run the service",
    "check": "validate the config and every rule file",
    "replay": "feed recorded events through the engine and pipeline",
    "demo": "offline demo against local simulators of all four node types",
    "schema": "print the JSON Schema of rule files",
    "silence": "add, list or remove silences",
    "outbox": "list or retry undelivered notifications",
    "health": "liveness check for container health checks (exit 0/1)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(f"alertbot.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"alertbot.commands.{name}":
                raise
            p.set_defaults(_missing=name)
            continue
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"alertbot {args.command}: not available yet", file=sys.stderr)
        return 2
    try:
        code: int = args._module.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
