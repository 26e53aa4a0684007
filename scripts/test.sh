#!/usr/bin/env bash
# The test command (README's second command; .ci/run calls exactly this).
# Brings up the services the tests use (PostgreSQL :5432, MariaDB :3306, NATS JetStream :4222),
# installing any that is missing, exports LIENTHONG_TEST_*_URL, then runs rustfmt, clippy,
# the fuzz-target build and every test. Under CI=true a service that cannot be brought up fails
# the run; elsewhere it is reported and the tests that need it say so.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 i
  for i in $(seq 1 60); do port_open "$port" && return 0; sleep 1; done
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then return 1; fi
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2 && APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

service_failed() {
  if [ "${CI:-}" = "true" ]; then log "FAIL: $1"; exit 1; fi
  log "warning: $1 (tests needing it will report it)"
}

ensure_postgres() {
  port_open 5432 && return 0
  log "PostgreSQL not answering on :5432; starting it"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql || true
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  fi
  wait_port 5432 || service_failed "PostgreSQL could not be started"
}

# Sync reads PostgreSQL's logical replication: wal_level=logical and enough slots for the
# tests running in parallel. Changing them needs a restart; nothing else is changed.
ensure_postgres_logical() {
  command -v psql >/dev/null || return 0
  local q="psql -h 127.0.0.1 -U postgres -d postgres -Atc"
  local level slots
  level=$($q "SHOW wal_level" 2>/dev/null || true)
  slots=$($q "SHOW max_replication_slots" 2>/dev/null || echo 0)
  if [ "$level" != logical ] || [ "${slots:-0}" -lt 64 ]; then
    log "PostgreSQL: setting wal_level=logical, max_replication_slots=64, max_wal_senders=64 (restart)"
    $q "ALTER SYSTEM SET wal_level = logical" >&2
    $q "ALTER SYSTEM SET max_replication_slots = 64" >&2
    $q "ALTER SYSTEM SET max_wal_senders = 64" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart >&2 || true
    wait_port 5432 || service_failed "PostgreSQL did not come back after the restart"
  fi
  # Slots left by interrupted test runs would hold WAL and use up the slots.
  $q "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name LIKE 'lt_test_%' AND NOT active" >/dev/null 2>&1 || true
}

# Fault tests restart a PostgreSQL of their own (cluster 15/fault on :5434), never the
# shared one: created once with wal_level=logical and loopback trust, like the main one.
ensure_fault_cluster() {
  command -v pg_createcluster >/dev/null || { service_failed "pg_createcluster missing (postgresql-common)"; return 0; }
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$version" ] || { service_failed "no PostgreSQL cluster to copy for the fault cluster"; return 0; }
  if [ ! -d "/etc/postgresql/$version/fault" ]; then
    log "creating PostgreSQL cluster $version/fault on :5434 for the fault tests"
    pg_createcluster "$version" fault --port 5434 >/dev/null
    cat >> "/etc/postgresql/$version/fault/postgresql.conf" <<CONF
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
CONF
    sed -i '1i host all all 127.0.0.1/32 trust # lienthong fault tests' "/etc/postgresql/$version/fault/pg_hba.conf"
  fi
  port_open 5434 || pg_ctlcluster --skip-systemctl-redirect "$version" fault start >&2 || true
  wait_port 5434 || service_failed "PostgreSQL fault cluster could not be started"
  export LIENTHONG_TEST_FAULT_PG_URL="postgres://postgres@127.0.0.1:5434/postgres"
  export LIENTHONG_TEST_FAULT_PG_CLUSTER="$version/fault"
}

# Sync reads MariaDB's row-based binlog (with column names in its table maps).
MARIADB_ARGS=(--user=mysql --log-bin=mariadb-bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL --server-id=1)

start_mariadb() {
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- "${MARIADB_ARGS[@]}" >&2 || true
  wait_port 3306 || service_failed "MariaDB could not be started"
}

ensure_mariadb() {
  if ! port_open 3306; then
    log "MariaDB not answering on :3306; starting it with the row-based binlog"
    [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server || true
    start_mariadb
    return 0
  fi
  local binlog
  binlog=$(mariadb -uroot -h127.0.0.1 -N -e "SELECT CONCAT(@@log_bin, @@binlog_format, @@binlog_row_metadata)" 2>/dev/null || true)
  if [ "$binlog" != "1ROWFULL" ] && [ "$binlog" != "ONROWFULL" ]; then
    log "MariaDB: restarting with the row-based binlog (log_bin, binlog_format=ROW, binlog_row_metadata=FULL)"
    local pid
    pid=$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)
    mariadb-admin -uroot -h127.0.0.1 shutdown >&2 || true
    for _ in $(seq 1 60); do
      { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || break
      sleep 1
    done
    start_mariadb
  fi
}

ensure_nats() {
  port_open 4222 && return 0
  log "NATS not answering on :4222; starting it with JetStream"
  [ -x /usr/sbin/nats-server ] || apt_install nats-server || true
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >&2 || true
  wait_port 4222 || service_failed "NATS JetStream could not be started"
}

ensure_chromium() {
  # The dashboard test drives Debian's Chromium headless.
  command -v chromium >/dev/null && return 0
  log "installing chromium for the browser test"
  apt_install chromium || service_failed "chromium could not be installed"
}

ensure_promtool() {
  # The shipped Prometheus alerting rules are checked and unit-tested with promtool.
  command -v promtool >/dev/null && return 0
  log "installing promtool (Debian's prometheus package) for the alerting rules' test"
  apt_install prometheus || service_failed "promtool could not be installed"
}

ensure_sdjwt_reference() {
  # The e-documents' interoperability test runs the IETF SD-JWT reference implementation
  # (PyPI sd-jwt, pinned) from a virtual environment beside the build.
  local venv="$PWD/target/sdjwt-reference"
  if ! "$venv/bin/python" -c "import sd_jwt" 2>/dev/null; then
    log "installing the SD-JWT reference implementation (sd-jwt 0.10.4) in $venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; } \
      || service_failed "a Python virtual environment could not be made"
    "$venv/bin/pip" install --quiet --disable-pip-version-check sd-jwt==0.10.4 \
      || service_failed "the SD-JWT reference implementation could not be installed"
  fi
  export LIENTHONG_TEST_SDJWT_PYTHON="$venv/bin/python"
}

ensure_tools() {
  # The join guide's test runs its commands as written: bash, curl, sqlite3 and psql.
  local missing=()
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  command -v curl >/dev/null || missing+=(curl)
  command -v psql >/dev/null || missing+=(postgresql-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} for the join guide's test"
  apt_install "${missing[@]}" || service_failed "${missing[*]} could not be installed"
}

ensure_tools
ensure_postgres
ensure_postgres_logical
ensure_fault_cluster
ensure_mariadb
ensure_nats
ensure_chromium
ensure_promtool
ensure_sdjwt_reference
export LIENTHONG_TEST_POSTGRES_URL="${LIENTHONG_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export LIENTHONG_TEST_MARIADB_URL="${LIENTHONG_TEST_MARIADB_URL:-mysql://root@127.0.0.1:3306/test}"
export LIENTHONG_TEST_NATS_URL="${LIENTHONG_TEST_NATS_URL:-nats://127.0.0.1:4222}"
for p in 5432 3306 4222; do port_open "$p" || log "warning: nothing answers on :$p"; done

log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "building fuzz targets (fuzz/)"
# Same target directory as the workspace: the shared dependencies are built once.
cargo build --manifest-path fuzz/Cargo.toml --bins --target-dir target
out=$(mktemp)
# Every test that cannot run for a missing service or program appends a line here
# (lienthong-testkit); under CI=true such a test fails instead.
LIENTHONG_TEST_SKIPS=$(mktemp)
export LIENTHONG_TEST_SKIPS
if cargo nextest --version >/dev/null 2>&1; then
  # Each test in a process of its own, in a shuffled order (the seed is printed;
  # LIENTHONG_TEST_SEED replays it): a test that passes only after another one set
  # something up, in its process or outside it, fails at once instead of now and then.
  log "cargo nextest (one process per test, shuffled order) and the doc tests"
  python3 scripts/nextest_shuffled.py 2>&1 | tee "$out"
  cargo test --workspace --doc 2>&1 | tee -a "$out"
  # The shuffled run's own count, then cargo's lines for the doc tests; a test that returned
  # early for a missing service passed in nextest's eyes: it is moved to skipped.
  missing=$(cut -f1 "$LIENTHONG_TEST_SKIPS" | sort -u | wc -l)
  awk -v missing="$missing" '/^\[test\] shuffled run/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^skipped/) s += $(i-1) } }
       /^test result:/ { p += $4; f += $6; s += $8 }
       END { printf "tests: %d passed, %d failed, %d skipped\n", p - missing, f, s + missing }' "$out"
else
  log "cargo test (cargo-nextest not found)"
  cargo test --workspace 2>&1 | tee "$out"
  # One closing line over all test binaries (cargo prints one per binary, doc tests last).
  missing=$(cut -f1 "$LIENTHONG_TEST_SKIPS" | sort -u | wc -l)
  awk -v missing="$missing" '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p - missing, f, s + missing }' "$out"
fi
rm -f "$out"
if [ -s "$LIENTHONG_TEST_SKIPS" ]; then
  log "skipped for a missing service or program:"
  sort -u "$LIENTHONG_TEST_SKIPS" | sed 's/^/[test]   /' >&2
  if [ "${CI:-}" = "true" ]; then rm -f "$LIENTHONG_TEST_SKIPS"; log "FAIL: tests skipped under CI=true"; exit 1; fi
fi
rm -f "$LIENTHONG_TEST_SKIPS"
