"""`alertbot check`: validate the config and every rule file, report every problem located.

Prints each problem as `FILE:LINE:COL: message` (sorted, warnings marked `warning:`) and
exits 1 on any error; otherwise prints `N rules in M files OK` and exits 0. Problems go
to stdout because they are this command's own output (CI and editors parse them).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config",
                        help="config file (default: $ALERTBOT_CONFIG, else ./alertbot.yaml)")


def run(args: argparse.Namespace) -> int:
    from ..loader import check

    problems, loaded = check(args.config)
    for problem in problems:
        print(problem)
    if loaded is None:
        errors = sum(1 for p in problems if not p.warning)
        print(f"{errors} problem{'s' if errors != 1 else ''} found")
        return 1
    # Always plural: the summary's fixed shape `N rules in M files OK` is what scripts match.
    print(f"{len(loaded.rules)} rules in {len(loaded.rule_files)} files OK")
    return 0
