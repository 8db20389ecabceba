#!/usr/bin/env bash
# Runs Swell's whole test suite: unit, property and integration tests on
# SQLite and PostgreSQL, and the web app's tests in headless Chromium.
# Starts (or installs, then starts) PostgreSQL when it is not running, and
# installs Chromium when missing; fails loudly when it cannot: no test is
# ever skipped for want of a database or a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_HOST=127.0.0.1
PG_PORT=5432
export SWELL_TEST_PG="${SWELL_TEST_PG:-postgres://postgres@${PG_HOST}:${PG_PORT}/postgres}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_ready() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

start_pg() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_ready && return 0; sleep 1; done
  return 1
}

if ! pg_ready; then
  echo "test.sh: PostgreSQL is not answering on ${PG_HOST}:${PG_PORT}; starting it"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL (Debian package postgresql)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  fi
  start_pg || true
fi
if ! pg_ready; then
  echo "test.sh: FATAL: PostgreSQL could not be started on ${PG_HOST}:${PG_PORT}" >&2
  exit 1
fi

# The tests connect as postgres without a password over TCP (trust auth, as
# on CI). A fresh Debian install asks for a password; allow loopback.
if ! psql "$SWELL_TEST_PG" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | tail -n 1)
  if [ -n "$hba" ]; then
    echo "test.sh: allowing trust auth on loopback in $hba"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$(dirname "$hba")")")" main reload
    sleep 1
  fi
fi
if ! psql "$SWELL_TEST_PG" -qAtc 'SELECT 1' >/dev/null 2>&1; then
  echo "test.sh: FATAL: cannot log in to PostgreSQL as postgres at $SWELL_TEST_PG" >&2
  exit 1
fi

# The web app's browser tests drive Debian's headless Chromium through
# chromedriver; install them when missing, as for PostgreSQL.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "test.sh: installing chromium and chromium-driver for the browser tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "test.sh: FATAL: /usr/bin/chromium and /usr/bin/chromedriver are needed by the browser tests" >&2
  exit 1
fi

# Databases left by an interrupted earlier run.
psql "$SWELL_TEST_PG" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'swell_test_%' OR datname LIKE 'swell_bench_%'" \
  | while read -r db; do psql "$SWELL_TEST_PG" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo ends with a per-binary line that
# is often an empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
