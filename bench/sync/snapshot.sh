#!/usr/bin/env bash
# One lienthong snapshot of the sync bench's 1 M-row PostgreSQL source, measured alone: the
# quick check for a change on the snapshot path (run bench/sync/run.sh once first: it makes
# the source, the :5433 cluster and sync.toml). Prints lienthong's CPU and peak RSS, the
# wall time and the whole machine's busy CPU.
#
#   bash bench/sync/snapshot.sh [BINARY]       (default target/release/lienthong)
#   PERF=1 bash bench/sync/snapshot.sh         (perf record -g into bench-out/sync/snapshot.perf)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=bench-out/sync
B="${1:-target/release/lienthong}"
[ -f "$WORK/sync.toml" ] || { echo "run bench/sync/run.sh first" >&2; exit 1; }
. bench/sync/common.sh
reset_source
q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_rep WITH (FORCE)" -c "CREATE DATABASE lt_bench_rep"
timed_once snapshot "$B"
