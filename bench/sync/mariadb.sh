#!/usr/bin/env bash
# Sync from MariaDB against MariaDB's own replication, A B A B …:
#
#   snapshot  the 1 M-row citizen table: native = mariadb-dump --single-transaction piped
#             into a replica server (the usual way a MariaDB replica is seeded), lienthong =
#             `sync run --once` from the binlog source (read, validate, normalise, upsert
#             into the PostgreSQL replica)
#   backlog   1 M changes (50 updates + 50 inserts in each of 10,000 transactions) made while
#             the replica is stopped: native = the replica's IO and SQL threads catching up
#             (START SLAVE … MASTER_POS_WAIT), lienthong = `sync run --once` from its position
#
#   bash bench/sync/mariadb.sh [PAIRS]        (default 3; run.sh calls it after PostgreSQL)
#   BIN=path/to/lienthong bash bench/sync/mariadb.sh 1    (another build, for before/after)
#
# Needs MariaDB on :3306 with the row binlog (`bash scripts/test.sh` sets it up) and the
# PostgreSQL replica cluster on :5433 that run.sh creates. Starts a second MariaDB server of
# its own on :3307 (data in /var/lib/mysql-lt-bench, server id 2) as the native replica.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAIRS="${1:-3}"
ROOT="$(pwd)"
WORK="$ROOT/bench-out/sync"
mkdir -p "$WORK"
L="${BIN:-$ROOT/target/release/lienthong}"
[ -x "$L" ] || cargo build --release -q -p lienthong
log() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
src() { mariadb -uroot -h127.0.0.1 -P3306 "$@"; }
rep() { mariadb -uroot -h127.0.0.1 -P3307 "$@"; }
q() { psql -X -q -h 127.0.0.1 -U postgres -At "$@"; }
RESULTS="$WORK/mariadb.txt"
: > "$RESULTS"
rec() { echo "$*" | tee -a "$RESULTS" >&2; }

src -e "SELECT 1" >/dev/null || { log "MariaDB is not answering on :3306 (bash scripts/test.sh starts it)"; exit 1; }
[ "$(src -N -e "SELECT @@log_bin")" = 1 ] || { log "MariaDB on :3306 has no binlog (bash scripts/test.sh sets it up)"; exit 1; }

# --- the native replica: a second server ----------------------------------------------------
MDATA=/var/lib/mysql-lt-bench
if ! rep -e "SELECT 1" >/dev/null 2>&1; then
  if [ ! -d "$MDATA/mysql" ]; then
    log "creating the replica server's data in $MDATA"
    mkdir -p "$MDATA" && chown mysql:mysql "$MDATA"
    mariadb-install-db --no-defaults --user=mysql --datadir="$MDATA" \
      --auth-root-authentication-method=normal >"$WORK/mariadb-replica-install.log" 2>&1
  fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  log "starting the replica server on :3307"
  setsid nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MDATA" \
    --port=3307 --bind-address=127.0.0.1 --socket=/run/mysqld/lt-bench.sock \
    --pid-file="$MDATA/lt-bench.pid" --server-id=2 --relay-log=lt-bench-relay \
    --replicate-do-db=lt_bench_src --innodb-buffer-pool-size=1G \
    >"$WORK/mariadb-replica.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do rep -e "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
  rep -e "SELECT 1" >/dev/null || { log "the replica server did not start: $WORK/mariadb-replica.log"; exit 1; }
fi

# --- the source: the same 1 M rows as the PostgreSQL bench ---------------------------------
COLS="personal_id VARCHAR(32) PRIMARY KEY, full_name TEXT, birth_date TEXT, sex TEXT, ethnicity TEXT, religion TEXT, nationality TEXT, province_code TEXT, commune_code TEXT, address TEXT, phone TEXT, email TEXT, updated_at TEXT"
if [ "$(src -N -e "SELECT count(*) FROM lt_bench_src.citizen_template" 2>/dev/null || echo 0)" != 1000000 ]; then
  [ "$(q -p 5432 -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'lt_bench_src'")" = 1 ] \
    || { log "run bench/sync/run.sh first: it makes the 1 M-row source in PostgreSQL"; exit 1; }
  log "loading the 1 M-row template into MariaDB"
  q -p 5432 -d lt_bench_src -c "\\copy citizen_template TO '$WORK/template.tsv'"
  src -e "DROP DATABASE IF EXISTS lt_bench_src; CREATE DATABASE lt_bench_src CHARACTER SET utf8mb4"
  src lt_bench_src -e "CREATE TABLE citizen_template ($COLS)"
  src lt_bench_src --local-infile=1 -e "SET GLOBAL local_infile = 1; LOAD DATA LOCAL INFILE '$WORK/template.tsv' INTO TABLE citizen_template FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'"
  src lt_bench_src -e "CREATE TABLE citizen_keys (n INT PRIMARY KEY, personal_id VARCHAR(32) NOT NULL) AS SELECT ROW_NUMBER() OVER (ORDER BY personal_id) AS n, personal_id FROM citizen_template"
fi
# The backlog: 10,000 transactions of 50 updates and 50 inserts, as on PostgreSQL.
src lt_bench_src <<'SQL'
DROP PROCEDURE IF EXISTS lt_workload;
DELIMITER //
CREATE PROCEDURE lt_workload()
BEGIN
  DECLARE t INT DEFAULT 0;
  WHILE t < 10000 DO
    START TRANSACTION;
    UPDATE citizen c JOIN citizen_keys k ON k.personal_id = c.personal_id
       SET c.email = CONCAT('v', t, '@dancu.gov.vn'), c.updated_at = CAST(NOW(6) AS CHAR)
     WHERE k.n > t * 50 AND k.n <= t * 50 + 50;
    INSERT INTO citizen
      SELECT CONCAT('999', LPAD(t * 50 + g.seq, 9, '0')), r.full_name, r.birth_date, r.sex, r.ethnicity,
             r.religion, r.nationality, r.province_code, r.commune_code, r.address, r.phone, r.email,
             CAST(NOW(6) AS CHAR)
        FROM seq_1_to_50 g, (SELECT * FROM citizen_template ORDER BY personal_id LIMIT 1) r;
    COMMIT;
    SET t = t + 1;
  END WHILE;
END//
DELIMITER ;
SQL

reset_source() {
  src lt_bench_src -e "DROP TABLE IF EXISTS citizen; CREATE TABLE citizen ($COLS); INSERT INTO citizen SELECT * FROM citizen_template"
}

cat > "$WORK/sync-mariadb.toml" <<EOF
replica_url = "postgres://postgres@127.0.0.1:5433/lt_bench_rep"
poll_interval_ms = 100
[[pipelines]]
name = "bench-mariadb"
dataset = "citizen"
source = "mariadb"
source_url = "mysql://root@127.0.0.1:3306/lt_bench_src"
source_table = "citizen"
batch_rows_max = 5000
EOF

for pair in $(seq 1 "$PAIRS"); do
  # Native: seed the replica from a consistent dump, then let it replicate.
  rep -e "STOP SLAVE; RESET SLAVE ALL; DROP DATABASE IF EXISTS lt_bench_src; CREATE DATABASE lt_bench_src CHARACTER SET utf8mb4"
  rep -e "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = 3306, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = no"
  reset_source
  t0=$(now)
  mariadb-dump -uroot -h127.0.0.1 -P3306 --single-transaction --master-data=1 lt_bench_src citizen | rep lt_bench_src
  t1=$(now)
  rec "pair $pair mariadb-native snapshot_s $(elapsed "$t0" "$t1")"
  [ "$(rep -N -e "SELECT count(*) FROM lt_bench_src.citizen")" = 1000000 ] || log "WARNING: the native replica does not hold 1,000,000 rows"
  src lt_bench_src -e "CALL lt_workload()"
  read -r file pos _ < <(src -N -e "SHOW MASTER STATUS")
  t0=$(now)
  rep -e "START SLAVE"
  waited=$(rep -N -e "SELECT MASTER_POS_WAIT('$file', $pos, 1200)")
  t1=$(now)
  [ "$waited" != "" ] && [ "$waited" != "NULL" ] && [ "$waited" -ge 0 ] || log "WARNING: the native replica did not reach $file:$pos ($waited)"
  rec "pair $pair mariadb-native backlog_s $(elapsed "$t0" "$t1")"
  rep -e "STOP SLAVE"
  want=$(src -N -e "SELECT count(*) FROM lt_bench_src.citizen")
  got=$(rep -N -e "SELECT count(*) FROM lt_bench_src.citizen")
  [ "$got" = "$want" ] || log "WARNING: the native replica has $got rows, the source $want"

  # lienthong: the snapshot, then the same backlog from its position.
  reset_source
  q -p 5433 -d postgres -c "DROP DATABASE IF EXISTS lt_bench_rep WITH (FORCE)" -c "CREATE DATABASE lt_bench_rep"
  t0=$(now)
  "$L" sync run --config "$WORK/sync-mariadb.toml" --once > "$WORK/once.txt"
  t1=$(now)
  rec "pair $pair mariadb snapshot_s $(elapsed "$t0" "$t1") $(cat "$WORK/once.txt")"
  src lt_bench_src -e "CALL lt_workload()"
  t0=$(now)
  "$L" sync run --config "$WORK/sync-mariadb.toml" --once > "$WORK/once.txt"
  t1=$(now)
  rec "pair $pair mariadb backlog_s $(elapsed "$t0" "$t1") $(cat "$WORK/once.txt")"
  want=$(src -N -e "SELECT count(*) FROM lt_bench_src.citizen")
  got=$(q -p 5433 -d lt_bench_rep -c "SELECT count(*) FROM citizen")
  quarantined=$(q -p 5433 -d lt_bench_rep -c "SELECT count(DISTINCT record_key) FROM lt_quarantine WHERE state = 'open'")
  [ "$((got + quarantined))" = "$want" ] || log "WARNING: replica has $got rows + $quarantined quarantined, source $want"
done
# The binlog the bench wrote (a million-row reset and a million changes per side and pair).
src -e "FLUSH BINARY LOGS"
src -e "PURGE BINARY LOGS TO '$(src -N -e "SHOW MASTER STATUS" | cut -f1)'"

python3 - "$RESULTS" <<'PY'
import statistics, sys
lines = [l.split() for l in open(sys.argv[1]).read().splitlines()]
def med(side, metric):
    v = [float(l[4]) for l in lines if l[0] == "pair" and l[2] == side and l[3] == metric]
    return statistics.median(v) if v else None
print("\nMariaDB, medians over pairs (rows or changes/s; ratio = lienthong / native replica):")
for metric in ("snapshot_s", "backlog_s"):
    nat, lt = med("mariadb-native", metric), med("mariadb", metric)
    if nat and lt:
        print(f"  {metric[:-2]:9} native {1e6 / nat:>10,.0f}  lienthong {1e6 / lt:>10,.0f}  ratio {nat / lt:.2f}x")
PY
