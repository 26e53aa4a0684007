# What bench/sync/run.sh and bench/sync/snapshot.sh share (sourced): psql on the source
# cluster, the citizen table's columns, and the source table reset to the 1 M-row template.
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
