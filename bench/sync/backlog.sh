#!/usr/bin/env bash
# One lienthong backlog catch-up of the sync bench's PostgreSQL source, measured alone: the
# quick check for a change on the stream path (run bench/sync/run.sh once first: it makes
# the source, the :5433 cluster and sync.toml). Resets the source and the replica, takes the
# snapshot (with SNAPSHOT_BIN, default the binary measured), makes run.sh's 1 M changes
# while the pipeline is stopped, then times `sync run --once` catching up. Prints
# lienthong's CPU and peak RSS, the wall time and the whole machine's busy CPU.
#
#   bash bench/sync/backlog.sh [BINARY]        (default target/release/lienthong)
#   PERF=1 bash bench/sync/backlog.sh          (perf record -g into bench-out/sync/backlog.perf)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=bench-out/sync
B="${1:-target/release/lienthong}"
[ -f "$WORK/sync.toml" ] || { echo "run bench/sync/run.sh first" >&2; exit 1; }
. bench/sync/common.sh
reset_source
q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_rep WITH (FORCE)" -c "CREATE DATABASE lt_bench_rep"
"${SNAPSHOT_BIN:-$B}" sync run --config "$WORK/sync.toml" --once >/dev/null
workload
qs "CHECKPOINT"
busy() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8}' /proc/stat; }
b0=$(busy)
t0=$(date +%s.%N)
if [ -n "${PERF:-}" ]; then
  perf record -F 999 -g -o "$WORK/backlog.perf" "$B" sync run --config "$WORK/sync.toml" --once
else
  /usr/bin/time -f "lienthong CPU: %U s user, %S s system; peak RSS %M KB" "$B" sync run --config "$WORK/sync.toml" --once
fi
t1=$(date +%s.%N)
b1=$(busy)
awk -v a="$t0" -v b="$t1" -v j=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "backlog wall %.2f s; machine busy CPU %.1f s\n", b - a, j / hz }'
