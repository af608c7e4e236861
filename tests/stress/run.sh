#!/usr/bin/env bash
# The plain test suite on a machine made slow on purpose, to find a test that assumes a fast
# one before CI does: N busy loops hold the cores (default 2), and every fsync/fdatasync of the
# tests' processes waits MAILBUS_SLOW_FSYNC_MS (default 5) first. Not part of CI: a test that
# fails here and passes alone has a timing assumption (docs/CODE.md, "Tests that hold on a slow
# machine"). Usage: bash tests/stress/run.sh [HOGS] [meson test arguments...]
set -euo pipefail
cd "$(dirname "$0")/../.."
hogs=${1:-2}
shift || true
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build
lib=$(mktemp -d /tmp/mailbus-stress-XXXXXX)
cc -O2 -shared -fPIC -Wall -Wextra -Werror -o "$lib/slow_fsync.so" tests/stress/slow_fsync.c -ldl
pids=()
for _ in $(seq "$hogs"); do
  timeout 7200 sh -c 'while :; do :; done' &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$lib"' EXIT
status=0
LD_PRELOAD="$lib/slow_fsync.so" meson test -C build --no-rebuild --print-errorlogs "$@" || status=$?
exit "$status"
