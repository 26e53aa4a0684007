#!/usr/bin/env bash
# lienthong's MariaDB backlog catch-up, several builds on the same backlog: the quick
# before/after check for a change on the binlog path (run bench/sync/mariadb.sh once first:
# it loads the template, the workload procedure and sync-mariadb.toml). One snapshot, one
# workload (1 M changes); then, per binary given, the replica is cloned from the
# post-snapshot copy (CREATE DATABASE … TEMPLATE) and `sync run --once` catches up, timed,
# with lienthong's CPU and peak RSS.
#
#   bash bench/sync/mariadb_backlog.sh OLD NEW OLD NEW …     (paths to lienthong binaries)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=bench-out/sync
[ "$#" -ge 1 ] || { echo "usage: $0 BINARY…" >&2; exit 2; }
[ -f "$WORK/sync-mariadb.toml" ] || { echo "run bench/sync/mariadb.sh first" >&2; exit 1; }
src() { mariadb -uroot -h127.0.0.1 -P3306 "$@"; }
q() { psql -X -q -h 127.0.0.1 -U postgres -At "$@"; }
COLS="personal_id VARCHAR(32) PRIMARY KEY, full_name TEXT, birth_date TEXT, sex TEXT, ethnicity TEXT, religion TEXT, nationality TEXT, province_code TEXT, commune_code TEXT, address TEXT, phone TEXT, email TEXT, updated_at TEXT"
src lt_bench_src -e "DROP TABLE IF EXISTS citizen; CREATE TABLE citizen ($COLS); INSERT INTO citizen SELECT * FROM citizen_template"
q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_rep WITH (FORCE)" -c "DROP DATABASE IF EXISTS lt_bench_tpl WITH (FORCE)" -c "CREATE DATABASE lt_bench_rep"
"$1" sync run --config "$WORK/sync-mariadb.toml" --once >/dev/null
q -p 5433 -d postgres -c "CREATE DATABASE lt_bench_tpl TEMPLATE lt_bench_rep"
src lt_bench_src -e "CALL lt_workload()"
for b in "$@"; do
  q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_rep WITH (FORCE)" -c "CREATE DATABASE lt_bench_rep TEMPLATE lt_bench_tpl" -c "CHECKPOINT"
  t0=$(date +%s.%N)
  /usr/bin/time -f "$b: CPU %U s user, %S s system; peak RSS %M KB" "$b" sync run --config "$WORK/sync-mariadb.toml" --once >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v n="$b" 'BEGIN { printf "%s: backlog wall %.2f s\n", n, b - a }'
done
q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_tpl WITH (FORCE)"
