# What bench/sync/run.sh, snapshot.sh and backlog.sh share (sourced): psql on the source
# cluster, the citizen table's columns, the source table reset to the 1 M-row template, and
# the backlog's 1 M changes.
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
