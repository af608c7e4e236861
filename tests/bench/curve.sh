#!/usr/bin/env bash
# tests/bench/curve.sh — what CURVE costs: the publish benchmark (tests/bench/run.sh) with the
# broker's loopback endpoint plain and with CURVE (--curve always, the client pinning the key),
# alternated ROUNDS times in one run so both see the same machine, then min/median/max of each
# and CURVE's share of the plain figure. Bounded: run.sh's own limits apply to every round.
#
#   tests/bench/curve.sh                 # 3 rounds of 100000 messages of 512 octets, 1000 in flight
#   ROUNDS=5 BENCH_COUNT=50000 tests/bench/curve.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROUNDS="${ROUNDS:-3}"
OUT="$(mktemp -d /tmp/mailbus-curve-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    for curve in 0 1; do
        BENCH_CURVE=$curve bash "$HERE/run.sh" | tee -a "$OUT/log" | grep '^acks/s=' | sed "s/^/curve=$curve /" >>"$OUT/figures"
    done
done
/usr/bin/python3 - "$OUT/figures" <<'PY'
import re, statistics, sys
rows = {"0": [], "1": []}
for line in open(sys.argv[1]):
    m = re.match(r"curve=(\d) acks/s=(\S+) p50_ms=(\S+) p99_ms=(\S+) drain/s=(\S+)", line)
    if m:
        rows[m.group(1)].append([float(x) for x in m.groups()[1:]])
names = ["durable acks/s", "ack p50 ms", "ack p99 ms", "drain msgs/s"]
print("%-16s %28s %28s %8s" % ("", "plain (min/median/max)", "CURVE (min/median/max)", "CURVE/plain"))
for i, name in enumerate(names):
    plain = [r[i] for r in rows["0"]]
    curve = [r[i] for r in rows["1"]]
    if not plain or not curve:
        continue
    fmt = lambda v: "%.0f/%.0f/%.0f" % (min(v), statistics.median(v), max(v)) if i in (0, 3) else \
        "%.1f/%.1f/%.1f" % (min(v), statistics.median(v), max(v))
    print("%-16s %28s %28s %7.2fx" % (name, fmt(plain), fmt(curve), statistics.median(curve) / statistics.median(plain)))
PY
