#!/usr/bin/env bash
# Build deploy/Dockerfile without a container engine, using buildah, and smoke-test the
# image: `alertbot check` on the example config, then `alertbot run` in the background
# and `alertbot health` until it answers.
#
# Where Docker Hub is out of reach, the base image is made locally: debootstrap
# (Debian bookworm, minbase + python3 + python3-venv) imported into buildah as
# localhost/alertbot-base:bookworm and passed as `--build-arg BASE=...`, so the
# Dockerfile's own default (python:3.11-slim) stays what real users get.
#
# Usage: deploy/build_image.sh [--require] [--rebuild-base] [--tag IMAGE] [--no-smoke]
#                              [--demo SECONDS]
#   --require       exit 1 (not 0) when buildah/debootstrap/root are missing
#   --rebuild-base  make the debootstrap base again even if it exists
#   --tag IMAGE     name of the built image [localhost/alertbot:latest]
#   --no-smoke      build only
#   --demo SECONDS  also play `alertbot demo` (simulators, real sources) in the image
# Environment: ALERTBOT_BASE_IMAGE uses that base instead of making one (e.g.
# docker.io/library/python:3.11-slim where it can be pulled); DEBIAN_MIRROR
# [http://deb.debian.org/debian]; HEALTH_WAIT seconds to wait for health [60];
# BUILD_CA_BUNDLE: CA bundle pip trusts during the build, for a TLS-intercepting
# proxy [the host's /etc/ssl/certs/ca-certificates.crt; "none" to use the image's own].
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE_TAG=localhost/alertbot-base:bookworm
IMAGE=localhost/alertbot:latest
REQUIRE=0 REBUILD_BASE=0 SMOKE=1 DEMO=0
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HEALTH_WAIT=${HEALTH_WAIT:-60}
ISOLATION=chroot

while (($#)); do
    case $1 in
        --require) REQUIRE=1 ;;
        --rebuild-base) REBUILD_BASE=1 ;;
        --tag) IMAGE=$2; shift ;;
        --no-smoke) SMOKE=0 ;;
        --demo) DEMO=$2; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "build_image.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[build_image %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
skip() {
    if ((REQUIRE)); then log "FAILED: $*"; exit 1; fi
    log "SKIPPED: $* (pass --require to make this an error)"; exit 0
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

command -v buildah >/dev/null || skip "buildah not found (Debian: apt-get install buildah debootstrap)"

TMP=$(mktemp -d /var/tmp/alertbot-image.XXXXXX)
CONTAINERS=()
PIDS=()
cleanup() {
    local pid c
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; done
    for c in "${CONTAINERS[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

make_base() {
    [[ $(id -u) == 0 ]] || skip "making the debootstrap base needs root (or set ALERTBOT_BASE_IMAGE)"
    command -v debootstrap >/dev/null || skip "debootstrap not found (apt-get install debootstrap)"
    local t0 rootfs ctr mnt
    t0=$(now)
    rootfs=$TMP/rootfs
    log "debootstrap bookworm (minbase + python3 python3-venv ca-certificates) from $MIRROR"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$MIRROR" > "$TMP/debootstrap.log" 2>&1 \
        || { tail -20 "$TMP/debootstrap.log" >&2; skip "debootstrap failed"; }
    # Package caches and lists are dead weight in an image that never runs apt.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/var/log/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    ctr=$(buildah from scratch)
    CONTAINERS+=("$ctr")
    mnt=$(buildah mount "$ctr")
    cp -a "$rootfs/." "$mnt/"
    buildah umount "$ctr" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 --label org.opencontainers.image.base.name=debian:bookworm \
        "$ctr"
    buildah commit --quiet "$ctr" "$BASE_TAG" >/dev/null
    log "base $BASE_TAG made in $(since "$t0") s"
}

if [[ -n ${ALERTBOT_BASE_IMAGE:-} ]]; then
    BASE=$ALERTBOT_BASE_IMAGE
elif ((REBUILD_BASE)) || ! image_exists "$BASE_TAG"; then
    make_base
    BASE=$BASE_TAG
else
    BASE=$BASE_TAG
    log "reusing base $BASE_TAG (--rebuild-base to make it again)"
fi

# The host may sit behind a proxy whose CA only the host trusts: lend its bundle to the
# build's RUN steps (a bind mount, so it is not stored in any layer).
CA_BUNDLE=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
CA_ARGS=()
if [[ $CA_BUNDLE != none && -f $CA_BUNDLE ]]; then
    CA_ARGS=(-v "$CA_BUNDLE:/etc/ssl/build-ca.crt:ro" --build-arg PIP_CERT=/etc/ssl/build-ca.crt)
fi

T0=$(now)
log "buildah bud --isolation $ISOLATION --format docker --build-arg BASE=$BASE -f deploy/Dockerfile -t $IMAGE"
buildah bud --isolation "$ISOLATION" --format docker --layers --build-arg "BASE=$BASE" "${CA_ARGS[@]}" \
    -f "$REPO/deploy/Dockerfile" -t "$IMAGE" "$REPO" >&2
BUILD_S=$(since "$T0")
log "image $IMAGE built in $BUILD_S s"
((SMOKE)) || exit 0

# --- smoke test ---------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
CONFIG=$TMP/config
mkdir -p "$CONFIG"
cp -r "$REPO/rules" "$CONFIG/rules"
# chroot isolation shares the host's network namespace, so listen on a free loopback
# port instead of the example's 0.0.0.0:9464; everything else is the example verbatim.
sed "s|listen: \"0.0.0.0:9464\"|listen: \"127.0.0.1:$PORT\"|" \
    "$REPO/deploy/config.example.yaml" > "$CONFIG/alertbot.yaml"
grep -q "127.0.0.1:$PORT" "$CONFIG/alertbot.yaml" || { log "cannot set the smoke port"; exit 1; }
chmod -R a+rX "$CONFIG"
ENVS=(--env TELEGRAM_TOKEN=123456:smoke-test-not-a-token --env TELEGRAM_CHAT_ID=-1001)

new_container() {  # sets NEW (not echoed: a $(...) subshell would lose CONTAINERS+=)
    NEW=$(buildah from --pull-never "$IMAGE")
    CONTAINERS+=("$NEW")
}
in_image() {  # in_image CONTAINER CMD...: run CMD in CONTAINER with the config mounted
    local c=$1; shift
    buildah run --isolation "$ISOLATION" "${ENVS[@]}" -v "$CONFIG:/config:ro" "$c" -- "$@"
}

new_container; SRV=$NEW
uid=$(in_image "$SRV" id -u)
[[ $uid != 0 ]] || { log "FAILED: the image runs as root"; exit 1; }
log "image user: uid $uid"
if in_image "$SRV" sh -c 'command -v gcc || command -v cc || command -v make' >&2 2>/dev/null; then
    log "FAILED: the final image contains build tools"; exit 1
fi
log "alertbot check -c /config/alertbot.yaml:"
in_image "$SRV" alertbot check -c /config/alertbot.yaml >&2

T1=$(now)
# Not via in_image: `$!` must be buildah's own pid, not a subshell's.
buildah run --isolation "$ISOLATION" "${ENVS[@]}" -v "$CONFIG:/config:ro" "$SRV" -- \
    alertbot run -c /config/alertbot.yaml --no-watch --log-format json > "$TMP/run.log" 2>&1 &
PIDS+=($!)
# Probe with the image's own HEALTHCHECK command (as an engine would), not a copy of it.
mapfile -d '' HEALTH_CMD < <(buildah inspect --type image "$IMAGE" | python3 -c '
import json, sys
test = (json.load(sys.stdin)["Docker"]["config"].get("Healthcheck") or {}).get("Test") or []
if test[:1] == ["CMD"]:
    sys.stdout.write("".join(arg + "\0" for arg in test[1:]))')
((${#HEALTH_CMD[@]})) || { log "FAILED: the image has no HEALTHCHECK (built without --format docker?)"; exit 1; }
log "HEALTHCHECK command: ${HEALTH_CMD[*]}"
new_container; PROBE=$NEW
healthy=0 out="(not asked)"
for ((i = 0; i < HEALTH_WAIT * 2; i++)); do
    if out=$(in_image "$PROBE" "${HEALTH_CMD[@]}" 2>&1); then
        healthy=1; break
    fi
    kill -0 "${PIDS[0]}" 2>/dev/null || break
    sleep 0.5
done
if ((!healthy)); then
    log "FAILED: alertbot health never answered within ${HEALTH_WAIT}s: $out"
    tail -30 "$TMP/run.log" >&2
    exit 1
fi
log "alertbot health answered after $(since "$T1") s: $out"

# buildah's chroot runtime answers its own SIGTERM by SIGKILLing the command, so the
# graceful path (drain, exit 0) is tested by signalling alertbot's process itself.
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1"); do echo "$child"; descendants "$child"; done
}
service_pid=
for pid in $(descendants "${PIDS[0]}"); do
    if [[ $(ps -o args= -p "$pid") == */python3*alertbot\ run* ]]; then service_pid=$pid; fi
done
[[ -n $service_pid ]] || { log "FAILED: cannot find the alertbot run process"; exit 1; }
T2=$(now)
kill -TERM "$service_pid"
rc=0
wait "${PIDS[0]}" || rc=$?
PIDS=()
log "alertbot run (pid $service_pid) stopped by SIGTERM in $(since "$T2") s, exit $rc"
grep -q 'SIGTERM received' "$TMP/run.log" || { log "FAILED: no 'SIGTERM received' in the log"; rc=1; }
if in_image "$PROBE" "${HEALTH_CMD[@]}" >/dev/null 2>&1; then
    log "FAILED: the health check still passes with alertbot stopped"; exit 1
fi
state=$(in_image "$SRV" ls -A /data | tr '\n' ' ')
[[ -n $state ]] || { log "FAILED: nothing written to the /data volume (state_dir)"; exit 1; }
log "health fails once stopped, as it should; /data holds: $state"
leftovers=$(in_image "$SRV" sh -c 'ls -d /src /wheels /root/.cache 2>/dev/null || true')
[[ -z $leftovers ]] || { log "FAILED: build leftovers in the final image: $leftovers"; exit 1; }
if ((DEMO)); then
    log "alertbot demo --duration $DEMO in the image"
    in_image "$SRV" alertbot demo --duration "$DEMO" > "$TMP/demo.out" 2> "$TMP/demo.err" \
        || { log "FAILED: alertbot demo"; tail -20 "$TMP/demo.err" >&2; exit 1; }
    grep -A10 'summary' "$TMP/demo.err" >&2 || true
    grep -q 'RESOLVED' "$TMP/demo.out" || { log "FAILED: the demo resolved nothing"; exit 1; }
    log "demo: $(grep -c FIRING "$TMP/demo.out") firing, $(grep -c RESOLVED "$TMP/demo.out") resolved"
fi
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)
((rc == 0)) || { log "FAILED: alertbot run exited $rc"; tail -20 "$TMP/run.log" >&2; exit 1; }
log "OK: $IMAGE ($size) builds, passes check, answers health, stops on SIGTERM (exit 0)"
