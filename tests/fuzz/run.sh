#!/usr/bin/env bash
# Runs each libFuzzer harness of tests/fuzz for a bounded time, as .ci/test does
# (docs/FUZZING.md). Builds build-fuzz with clang (-Dfuzzing=true, ASan+UBSan) when needed.
#   tests/fuzz/run.sh [SECONDS [HARNESS...]]     default: MAILBUS_FUZZ_SECONDS or 30, every harness
# Each fuzzer starts from its committed corpus (tests/fuzz/corpus/<name>/, read only) and writes
# the new inputs it finds into a temporary directory, removed afterwards: nothing is committed
# automatically. A crash, leak, timeout or failed check fails the run; the reproducer is kept
# and printed. Exit status: 0, 1 when a fuzzer failed, 0 with a note when clang or libFuzzer
# is missing (the corpora are still replayed by `meson test --suite fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-${MAILBUS_FUZZ_SECONDS:-30}}
[ $# -gt 0 ] && shift
case $seconds in
  '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS [HARNESS...]]" >&2; exit 64 ;;
esac

# libFuzzer is there when a trivial fuzzer links (Debian 12: clang and libclang-rt-14-dev)
probe=$(mktemp -d /tmp/mailbus-fuzz-probe-XXXXXX)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput (const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/probe.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null; then
  rm -rf "$probe"
  echo "fuzz: clang with libFuzzer not found, fuzzing skipped (install clang libclang-rt-14-dev)"
  exit 0
fi
rm -rf "$probe"

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz >/dev/null

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for exe in build-fuzz/tests/fuzz/fuzz-*; do
    [ -f "$exe" ] && [ -x "$exe" ] && harnesses+=("${exe##*/fuzz-}")
  done
fi

work=$(mktemp -d /tmp/mailbus-fuzz-XXXXXX)
status=0
for name in "${harnesses[@]}"; do
  exe=build-fuzz/tests/fuzz/fuzz-$name
  log=$work/$name.log
  mkdir -p "$work/$name"
  echo "fuzz: $name for ${seconds}s"
  rc=0
  "$exe" -max_total_time="$seconds" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
    -artifact_prefix="$work/$name-" "$work/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  # libFuzzer's last status line (cov: edges, ft: features, corp: inputs/bytes) and its totals
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed "s/^/fuzz: $name /" || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" | sed "s/^/fuzz: $name /" || true
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz: $name FAILED (exit $rc):"
    tail -n 60 "$log"
    for artifact in "$work/$name"-*; do
      [ -f "$artifact" ] || continue
      echo "fuzz: reproducer $artifact (replay: $exe $artifact):"
      od -A d -c "$artifact" | head -n 40
    done
  fi
done
if [ "$status" -eq 0 ]; then
  rm -rf "$work"
  echo "fuzz: ${#harnesses[@]} harnesses, no crash"
else
  echo "fuzz: logs and reproducers kept in $work"
fi
exit "$status"
