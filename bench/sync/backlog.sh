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
timed_once backlog "$B"
