#!/usr/bin/env bash
# Sync throughput: lienthong (PostgreSQL logical replication → dictionary validation and
# normalisation → replica in a second PostgreSQL cluster) against PostgreSQL's native
# publication/subscription between the same two clusters, A B A B …:
#
#   snapshot  1 M-row citizen table: native initial table sync vs lienthong's snapshot
#   backlog   1 M changes (50 updates + 50 inserts in each of 10,000 transactions) made while
#             the subscriber is stopped, then caught up; pg_recvlogical decoding the same
#             backlog is the walsender's ceiling
#   live      a writer inserting 5,000 rows/s for LIVE_S seconds (pgbench -R): apply lag
#             p50/p99 (source insert time → replica row time) and rows/s kept up
#   mariadb   the same 1 M rows and backlog from MariaDB (binlog source) into the replica,
#             against a MariaDB replica server seeded by mariadb-dump (bench/sync/mariadb.sh)
#
#   bash bench/sync/run.sh [PAIRS] [LIVE_S]        (defaults: 3 pairs, 30 s)
#
# Needs the test services (PostgreSQL 15 with wal_level=logical on :5432, MariaDB with the
# row binlog on :3306; `bash scripts/test.sh` sets both up). Creates a second cluster
# `15/bench` on :5433 (pg_createcluster) for the subscriber side and the replica.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAIRS="${1:-3}"
LIVE_S="${2:-30}"
ROOT="$(pwd)"
WORK="$ROOT/bench-out/sync"
mkdir -p "$WORK"
PGBIN=/usr/lib/postgresql/15/bin
SRC="host=127.0.0.1 port=5432 user=postgres dbname=lt_bench_src"
DST_PORT=5433
. bench/sync/common.sh
qd() { q -p $DST_PORT -d "$1" -c "$2"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
log() { printf '[bench] %s\n' "$*" >&2; }

cargo build --release -q -p lienthong
L="$ROOT/target/release/lienthong"

# The subscriber cluster.
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx bench; then
  log "creating PostgreSQL cluster 15/bench on :$DST_PORT"
  pg_createcluster 15 bench --port $DST_PORT >/dev/null
  echo "max_logical_replication_workers = 8" >> /etc/postgresql/15/bench/postgresql.conf
  echo "max_sync_workers_per_subscription = 2" >> /etc/postgresql/15/bench/postgresql.conf
fi
pg_ctlcluster --skip-systemctl-redirect 15 bench start 2>/dev/null || true
for _ in $(seq 1 30); do q -p $DST_PORT -d postgres -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
# Trust on loopback, like the main cluster.
HBA=/etc/postgresql/15/bench/pg_hba.conf
if ! grep -q "lienthong bench" "$HBA"; then
  sed -i '1i host all all 127.0.0.1/32 trust # lienthong bench' "$HBA"
  pg_ctlcluster --skip-systemctl-redirect 15 bench reload
fi


# The 1 M-row source (distinct personal ids from the synthetic register, seed 7).
if [ "$(q -p 5432 -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'lt_bench_src'")" != 1 ] \
  || [ "$(qs "SELECT count(*) FROM citizen_template" 2>/dev/null || echo 0)" != 1000000 ]; then
  log "generating 1 M citizens"
  "$L" synth --citizens 1030000 --seed 7 --out "$WORK/data" >/dev/null
  q -p 5432 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_src" -c "CREATE DATABASE lt_bench_src"
  qs "CREATE UNLOGGED TABLE stage (${COLS//PRIMARY KEY/})"
  q -p 5432 -d lt_bench_src -c "\\copy stage FROM '$WORK/data/citizen.csv' CSV HEADER"
  qs "CREATE TABLE citizen_template AS SELECT DISTINCT ON (personal_id) * FROM stage WHERE personal_id IS NOT NULL ORDER BY personal_id LIMIT 1000000"
  qs "DROP TABLE stage"
  qs "CREATE TABLE citizen_keys AS SELECT row_number() OVER () AS n, personal_id FROM citizen_template"
  qs "CREATE INDEX ON citizen_keys (n)"
fi


reset_dest() { # database
  if [ "$(q -p $DST_PORT -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]; then
    for sub in $(qd "$1" "SELECT subname FROM pg_subscription"); do
      qd "$1" "ALTER SUBSCRIPTION $sub DISABLE" >/dev/null
      qd "$1" "ALTER SUBSCRIPTION $sub SET (slot_name = NONE)" >/dev/null
      qd "$1" "DROP SUBSCRIPTION $sub" >/dev/null
    done
  fi
  q -p $DST_PORT -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

lsn_now() { qs "SELECT pg_current_wal_lsn()"; }
slot_flushed() { # slot target → 0 when confirmed_flush ≥ target
  [ "$(qs "SELECT coalesce(confirmed_flush_lsn >= '$2', false) FROM pg_replication_slots WHERE slot_name = '$1'")" = t ]
}

cat > "$WORK/sync.toml" <<EOF
replica_url = "postgres://postgres@127.0.0.1:$DST_PORT/lt_bench_rep"
poll_interval_ms = 100
[[pipelines]]
name = "bench"
dataset = "citizen"
source = "postgres"
source_url = "postgres://postgres@127.0.0.1:5432/lt_bench_src"
source_table = "citizen"
slot = "lt_bench"
publication = "bench_pub"
batch_rows_max = 5000
EOF

RESULTS="$WORK/results.txt"
: > "$RESULTS"
rec() { echo "$*" | tee -a "$RESULTS" >&2; }

for pair in $(seq 1 "$PAIRS"); do
  # --- A: native publication/subscription -------------------------------------------------
  reset_source
  reset_dest lt_bench_native
  qd lt_bench_native "CREATE TABLE citizen ($COLS)"
  t0=$(now)
  qd lt_bench_native "CREATE SUBSCRIPTION bench_sub CONNECTION '$SRC' PUBLICATION bench_pub WITH (copy_data = true, slot_name = 'bench_sub')"
  until [ "$(qd lt_bench_native "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do sleep 0.05; done
  t1=$(now)
  rec "pair $pair native snapshot_s $(elapsed "$t0" "$t1")"
  qd lt_bench_native "ALTER SUBSCRIPTION bench_sub DISABLE"
  sleep 1
  workload
  target=$(lsn_now)
  t0=$(now)
  qd lt_bench_native "ALTER SUBSCRIPTION bench_sub ENABLE"
  until slot_flushed bench_sub "$target"; do sleep 0.05; done
  t1=$(now)
  rec "pair $pair native backlog_s $(elapsed "$t0" "$t1")"
  qd lt_bench_native "DROP SUBSCRIPTION bench_sub"

  # --- B: lienthong ------------------------------------------------------------------------
  reset_source
  reset_dest lt_bench_rep
  t0=$(now)
  "$L" sync run --config "$WORK/sync.toml" --once > "$WORK/once.txt"
  t1=$(now)
  rec "pair $pair lienthong snapshot_s $(elapsed "$t0" "$t1") $(cat "$WORK/once.txt")"
  # The walsender's ceiling on the same backlog: a second slot decoded by pg_recvlogical.
  qs "SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')" >/dev/null
  workload
  target=$(lsn_now)
  t0=$(now)
  "$L" sync run --config "$WORK/sync.toml" --once > "$WORK/once.txt"
  t1=$(now)
  want=$(qs "SELECT count(*) FROM citizen")
  got=$(qd lt_bench_rep "SELECT count(*) FROM citizen")
  quarantined=$(qd lt_bench_rep "SELECT count(DISTINCT record_key) FROM lt_quarantine WHERE state = 'open'")
  [ "$((got + quarantined))" = "$want" ] || log "WARNING: replica has $got rows + $quarantined quarantined, source $want"
  rec "pair $pair lienthong backlog_s $(elapsed "$t0" "$t1") $(cat "$WORK/once.txt")"
  t0=$(now)
  "$PGBIN/pg_recvlogical" -h 127.0.0.1 -U postgres -d lt_bench_src --slot bench_recv --start \
    --endpos "$target" -o proto_version=1 -o publication_names=bench_pub -f /dev/null
  t1=$(now)
  rec "pair $pair pg_recvlogical backlog_s $(elapsed "$t0" "$t1")"
  qs "SELECT pg_drop_replication_slot('bench_recv')" >/dev/null
done

# --- live: 5,000 inserted rows/s for LIVE_S s ---------------------------------------------
cat > "$WORK/live.sql" <<'EOF'
INSERT INTO citizen SELECT '888' || lpad(nextval('live_seq')::text, 9, '0'), full_name, birth_date, sex, ethnicity, religion, nationality, province_code, commune_code, address, phone, email, clock_timestamp()::text FROM live_row, generate_series(1, 10);
EOF
live_lag() { # database table → "p50 p99 rows" of (applied_at - updated_at) in ms over live rows
  qd "$1" "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), count(*) FROM (SELECT extract(epoch FROM applied_at - CAST(updated_at AS timestamptz)) * 1000 AS ms FROM $2 WHERE personal_id LIKE '888%') x" | tr '|' ' '
}
for side in native lienthong; do
  reset_source
  qs "CREATE SEQUENCE IF NOT EXISTS live_seq"
  qs "DROP TABLE IF EXISTS live_row; CREATE TABLE live_row AS SELECT * FROM citizen_template LIMIT 1"
  if [ $side = native ]; then
    reset_dest lt_bench_native
    qd lt_bench_native "CREATE TABLE citizen ($COLS, applied_at timestamptz DEFAULT clock_timestamp())"
    qd lt_bench_native "CREATE SUBSCRIPTION bench_sub CONNECTION '$SRC' PUBLICATION bench_pub WITH (copy_data = true, slot_name = 'bench_sub')"
    until [ "$(qd lt_bench_native "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do sleep 0.2; done
  else
    reset_dest lt_bench_rep
    # The replica table as lienthong creates it, plus the arrival time.
    qd lt_bench_rep "CREATE TABLE citizen (personal_id text, full_name text, birth_date text, sex text, ethnicity text, religion text, nationality text, province_code text, commune_code text, address text, phone text, email text, updated_at text, lt_change text NOT NULL, applied_at timestamptz DEFAULT clock_timestamp(), PRIMARY KEY (personal_id))"
    "$L" sync run --config "$WORK/sync.toml" --once > /dev/null
    "$L" sync run --config "$WORK/sync.toml" > "$WORK/live-run.log" 2>&1 &
    SYNC_PID=$!
    sleep 2
  fi
  "$PGBIN/pgbench" -n -h 127.0.0.1 -U postgres -d lt_bench_src -f "$WORK/live.sql" -R $((5000 / 10)) -T "$LIVE_S" -c 2 -j 1 > "$WORK/pgbench-$side.txt" 2>&1
  sleep 5
  if [ $side = native ]; then
    rec "live native lag_ms_p50_p99_rows $(live_lag lt_bench_native citizen)"
    qd lt_bench_native "DROP SUBSCRIPTION bench_sub"
  else
    kill -INT "$SYNC_PID"; wait "$SYNC_PID" || true
    rec "live lienthong lag_ms_p50_p99_rows $(live_lag lt_bench_rep citizen)"
  fi
  rec "live $side writer $(grep -E '^tps' "$WORK/pgbench-$side.txt" | head -1)"
done

# --- MariaDB → replica, against MariaDB's own replica (bench/sync/mariadb.sh) -------------
if mariadb -uroot -h127.0.0.1 -e "SELECT 1" >/dev/null 2>&1; then
  bash bench/sync/mariadb.sh "$PAIRS" || log "WARNING: the MariaDB part failed"
fi

# --- medians and ratios --------------------------------------------------------------------
python3 - "$RESULTS" <<'PY'
import statistics, sys
lines = [l.split() for l in open(sys.argv[1]).read().splitlines()]
def med(side, metric):
    v = [float(l[4]) for l in lines if l[0] == "pair" and l[2] == side and l[3] == metric]
    return statistics.median(v) if v else None
rows, changes = 1_000_000, 1_000_000
print("\nmedians over pairs (rows/s; ratio = lienthong / native):")
for metric, n in (("snapshot_s", rows), ("backlog_s", changes)):
    nat, lt = med("native", metric), med("lienthong", metric)
    if nat and lt:
        print(f"  {metric[:-2]:9} native {n / nat:>10,.0f}  lienthong {n / lt:>10,.0f}  ratio {nat / lt:.2f}x")
rl = med("pg_recvlogical", "backlog_s")
lt = med("lienthong", "backlog_s")
if rl and lt:
    print(f"  walsender ceiling (pg_recvlogical) {changes / rl:,.0f} changes/s; lienthong at {rl / lt:.0%} of it")
for l in lines:
    if l[0] == "live" and l[2].startswith("lag"):
        print(f"  live {l[1]:9} lag p50 {l[3]} ms  p99 {l[4]} ms  rows {l[5]}")
PY
