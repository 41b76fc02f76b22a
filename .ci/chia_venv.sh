#!/usr/bin/env bash
# Usage: .ci/chia_venv.sh DIR
# Creates a separate virtual environment at DIR with chia-blockchain==2.7.5 (the REAL
# daemon the Chia watcher's tests run against; ~250 MB, about 40 s from PyPI) and prints
# how long it took. Idempotent: does nothing when DIR/bin/chia already reports 2.7.5.
# Afterwards: export ALERTBOT_CHIA_BIN=DIR/bin/chia
set -euo pipefail
VERSION=2.7.5
DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
start=$(date +%s)
if [ -x "$DIR/bin/chia" ] && [ "$("$DIR/bin/chia" version 2>/dev/null | tail -n 1)" = "$VERSION" ]; then
    echo "chia_venv: $DIR already has chia-blockchain $VERSION (0 s)"
    exit 0
fi
"$PYTHON" -m venv "$DIR"
"$DIR/bin/pip" install --quiet --disable-pip-version-check "chia-blockchain==$VERSION"
got=$("$DIR/bin/chia" version | tail -n 1)
if [ "$got" != "$VERSION" ]; then
    echo "chia_venv: expected chia $VERSION in $DIR, found '$got'" >&2
    exit 1
fi
echo "chia_venv: installed chia-blockchain $VERSION into $DIR in $(( $(date +%s) - start )) s"
