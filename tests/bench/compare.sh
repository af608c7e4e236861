#!/usr/bin/env bash
# tests/bench/compare.sh — mailbus side by side with what a user would pick instead, on this
# machine, in one run: Redis streams (AOF, appendfsync always), Mosquitto (QoS 1, persistence
# on), NATS JetStream (file storage, client: the npm package "nats") and a private Postfix (SMTP
# ingest, fed by Postfix's smtp-source). Installs the peers from Debian with apt-get when they
# are missing (no system daemon is left running: every server is a private instance on
# 127.0.0.1 in a temp dir), builds mailbus in release mode, then runs tests/bench/compare.py:
# ROUNDS interleaved rounds, every figure as min/median/max with mailbus's ratio to each peer,
# the servers' RSS during the pipelined publish (memory), 1,000 watchers on one server
# (watchers: mailbus WATCH, Redis XREAD BLOCK, Mosquitto QoS 1 subscriptions; the clients speak
# the peers' protocols themselves, no client library needed), the login storms of
# mailbus-bench-login (login), then the scale curve and its PNG (scale.png in --out).
#
#   tests/bench/compare.sh --quick           # a few minutes: small counts, scale to 50,000
#   tests/bench/compare.sh                   # the full run (scale to 1,000,000: ~30 min or more)
#   tests/bench/compare.sh --rounds 5 --scale-max 100000 --skip smtp --out docs
#   tests/bench/compare.sh --quick --skip publish,fifty,smtp,memory,scale   # watchers and login only
#
# Environment: BUILD_DIR (default build-bench). Needs root (or sudo) for apt-get and for the
# private Postfix (its daemons run as the postfix user). Bounded: every bench program is killed
# after 300 s (the scale fill after 900 s), and the whole run after COMPARE_DEADLINE s (7200).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
DEADLINE="${COMPARE_DEADLINE:-7200}"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(redis-server redis-tools mosquitto mosquitto-clients nats-server postfix gnuplot-nox python3-zmq)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm for the NATS client (a machine may have them from elsewhere than Debian)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "compare: installing ${missing[*]}"
    # the same guard as .ci/install: no daemon starts while packages install, Postfix unconfigured
    echo 'postfix postfix/main_mailer_type select No configuration' | $sudo debconf-set-selections
    policy=/usr/sbin/policy-rc.d
    made_policy=""
    if [ ! -e "$policy" ]; then
        made_policy=1
        trap '$sudo rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for s in redis-server mosquitto nats-server postfix; do
        command -v systemctl >/dev/null && $sudo systemctl disable --now "$s" >/dev/null 2>&1 || true
    done
    [ -z "$made_policy" ] || { $sudo rm -f "$policy"; trap - EXIT; }
fi

if [ ! -d "$BUILD_DIR" ]; then
    meson setup "$BUILD_DIR" "$ROOT" --buildtype=release >/dev/null
fi
ninja -C "$BUILD_DIR" broker/mailbus-broker gateway/mailbus-gateway subscriber/mailbus-sub \
    publisher/mailbus-pub tests/mailbus-bench tests/mailbus-bench-login >/dev/null

# the NATS client: nats.js from npm, into the build dir (not the source tree)
if [ ! -d "$BUILD_DIR/npm/node_modules/nats" ]; then
    mkdir -p "$BUILD_DIR/npm"
    (cd "$BUILD_DIR/npm" && timeout 300 npm install --no-audit --no-fund --silent nats@2) ||
        echo "compare: npm install nats failed: NATS is skipped"
fi

cd "$ROOT"
PYTHONPATH="$ROOT/tests" MAILBUS_BUILD_DIR="$BUILD_DIR" timeout --signal=TERM "$DEADLINE" \
    /usr/bin/python3 "$ROOT/tests/bench/compare.py" "$@"
