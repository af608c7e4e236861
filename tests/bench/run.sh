#!/usr/bin/env bash
# tests/bench/run.sh — builds mailbus-broker and mailbus-bench, starts a broker on a fresh database
# in a temp dir and a free 127.0.0.1 port, runs the publish benchmark, stops the broker, prints
# the figures. Bounded: the bench stops after BENCH_TIME_LIMIT seconds per phase, and the whole
# run is killed after BENCH_DEADLINE seconds.
#
#   tests/bench/run.sh                       # 100000 messages of 512 octets, 1000 in flight
#   BENCH_COUNT=20000 tests/bench/run.sh --window 200
#
# Environment: BUILD_DIR (default build-bench, a release build), BENCH_COUNT, BENCH_SIZE,
# BENCH_WINDOW, BENCH_TIME_LIMIT (s, default 300), BENCH_DEADLINE (s, default 900),
# BENCH_SYNCHRONOUS (full or normal, default full), BENCH_CURVE (1: the broker uses CURVE on
# loopback too, --curve always, and the bench pins its key). Extra arguments go to mailbus-bench.
# tests/bench/curve.sh runs it with and without CURVE, alternated, and prints both side by side.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
COUNT="${BENCH_COUNT:-100000}"
SIZE="${BENCH_SIZE:-512}"
WINDOW="${BENCH_WINDOW:-1000}"
TIME_LIMIT="${BENCH_TIME_LIMIT:-300}"
DEADLINE="${BENCH_DEADLINE:-900}"
SYNCHRONOUS="${BENCH_SYNCHRONOUS:-full}"
CURVE=()
[ "${BENCH_CURVE:-0}" != "1" ] || CURVE=(--curve always)

if [ ! -d "$BUILD_DIR" ]; then
    meson setup "$BUILD_DIR" "$ROOT" --buildtype=release >/dev/null
fi
ninja -C "$BUILD_DIR" broker/mailbus-broker tests/mailbus-bench >/dev/null

TMP="$(mktemp -d /tmp/mailbus-bench-XXXXXX)"
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="tcp://127.0.0.1:$PORT"
mkdir -p "$TMP/var"
MAILBUS_LOG=warn "$BUILD_DIR/broker/mailbus-broker" --db "$TMP/var/mailbus.db" --bind "$ENDPOINT" \
    --synchronous "$SYNCHRONOUS" "${CURVE[@]}" >"$TMP/broker.log" 2>&1 &
BROKER_PID=$!
if [ ${#CURVE[@]} -gt 0 ]; then
    # the client pins the broker's public key, which the broker writes on its first start
    for _ in $(seq 1 100); do [ -s "$TMP/var/broker.key" ] && break; sleep 0.1; done
    export MAILBUS_SERVER_KEY="$TMP/var/broker.key"
fi

# ready when the bench's own client can identify (polled, with a deadline)
ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "broker exited:" >&2; cat "$TMP/broker.log" >&2; exit 1
    fi
    if "$BUILD_DIR/tests/mailbus-bench" -b "$ENDPOINT" -u alice@demo.test -p demo --count 1 --size 256 \
        --timeout 2 >/dev/null 2>&1; then
        ready=1; break
    fi
    sleep 0.2
done
[ -n "$ready" ] || { echo "broker not ready:" >&2; cat "$TMP/broker.log" >&2; exit 1; }

echo "mailbus-bench: $COUNT messages of $SIZE octets, window $WINDOW, synchronous=$SYNCHRONOUS, curve=${BENCH_CURVE:-0}, $(nproc) cores"
rc=0
timeout --signal=TERM "$DEADLINE" "$BUILD_DIR/tests/mailbus-bench" -b "$ENDPOINT" -u alice@demo.test -p demo \
    --to bob@demo.test --count "$COUNT" --size "$SIZE" --window "$WINDOW" --time-limit "$TIME_LIMIT" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "mailbus-bench exited $rc; broker log:" >&2
    tail -n 30 "$TMP/broker.log" >&2
fi
exit "$rc"
