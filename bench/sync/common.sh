# What bench/sync/run.sh, snapshot.sh and backlog.sh share (sourced): psql on the source
# cluster, the citizen table's columns, the source table reset to the 1 M-row template, the
# backlog's 1 M changes, and one timed `sync run --once`.
q() { psql -X -q -h 127.0.0.1 -U postgres -At "$@"; }
qs() { q -p 5432 -d lt_bench_src -c "$1"; }
COLS="personal_id text PRIMARY KEY, full_name text, birth_date text, sex text, ethnicity text, religion text, nationality text, province_code text, commune_code text, address text, phone text, email text, updated_at text"

reset_source() {
  qs "DROP PUBLICATION IF EXISTS bench_pub"
  qs "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'bench%' OR slot_name LIKE 'lt_bench%'" >/dev/null
  qs "DROP TABLE IF EXISTS citizen"
  qs "CREATE TABLE citizen ($COLS)"
  qs "INSERT INTO citizen SELECT * FROM citizen_template"
  qs "CREATE PUBLICATION bench_pub FOR TABLE citizen"
  qs "CHECKPOINT"
}

# 1 M changes: 10,000 transactions of 50 updates and 50 inserts.
workload() {
  qs "DO \$\$ DECLARE r citizen_template%ROWTYPE; BEGIN
    SELECT * INTO r FROM citizen_template LIMIT 1;
    FOR t IN 0..9999 LOOP
      UPDATE citizen c SET email = 'v' || t || '@dancu.gov.vn', updated_at = clock_timestamp()::text
        FROM citizen_keys k WHERE k.personal_id = c.personal_id AND k.n > t * 50 AND k.n <= t * 50 + 50;
      INSERT INTO citizen SELECT '999' || lpad((t * 50 + g)::text, 9, '0'), r.full_name, r.birth_date, r.sex, r.ethnicity, r.religion, r.nationality, r.province_code, r.commune_code, r.address, r.phone, r.email, clock_timestamp()::text
        FROM generate_series(1, 50) g;
      COMMIT;
    END LOOP; END \$\$"
}

# One `sync run --once` of bench-out/sync/sync.toml with BINARY, timed: lienthong's CPU and
# peak RSS, the wall time and the whole machine's busy CPU; with PERF set, recorded by
# `perf record -g` into bench-out/sync/LABEL.perf instead of timed by /usr/bin/time.
timed_once() { # LABEL BINARY
  local busy b0 b1 t0 t1
  busy() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8}' /proc/stat; }
  b0=$(busy)
  t0=$(date +%s.%N)
  if [ -n "${PERF:-}" ]; then
    perf record -F 999 -g -o "bench-out/sync/$1.perf" "$2" sync run --config bench-out/sync/sync.toml --once
  else
    /usr/bin/time -f "lienthong CPU: %U s user, %S s system; peak RSS %M KB" "$2" sync run --config bench-out/sync/sync.toml --once
  fi
  t1=$(date +%s.%N)
  b1=$(busy)
  awk -v a="$t0" -v b="$t1" -v j=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" -v l="$1" \
    'BEGIN { printf "%s wall %.2f s; machine busy CPU %.1f s\n", l, b - a, j / hz }'
}
