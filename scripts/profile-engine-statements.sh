#!/usr/bin/env bash
# The server's time per statement of the automation engine on PostgreSQL:
# loads pg_stat_statements into the test server (a restart), runs
# `swell bench engine --participants N` (default 200,000), prints the
# statements that took the most time with their microseconds a row, then
# unloads it (another restart). Behind the per-row figures in the README's
# automation section.
# Usage: scripts/profile-engine-statements.sh [participants]. Needs root (or
# sudo) for pg_ctlcluster, psql, and a built `swell` (SWELL, default
# target/release/swell). Run it on a machine doing nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
PARTICIPANTS="${1:-200000}"
SWELL="${SWELL:-target/release/swell}"
ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
restart() {
  as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" main restart
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 1; done
  return 1
}
unload() {
  psql "$ADMIN" -qc "DROP EXTENSION IF EXISTS pg_stat_statements" -c "ALTER SYSTEM RESET shared_preload_libraries" || true
  restart
}
trap unload EXIT
psql "$ADMIN" -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
restart
psql "$ADMIN" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
 SWELL_LOG=warn "$SWELL" bench engine --participants "$PARTICIPANTS" --postgres-only | grep -E "traces/s|processed in"
# One line per statement shape and database (the one-worker and the
# two-worker run each have their own): total ms, calls, rows, µs a row.
psql "$ADMIN" -qAt -F ' | ' -c "
  SELECT round(total_exec_time::numeric) AS ms, calls, rows,
         round((total_exec_time / greatest(rows, 1) * 1000)::numeric, 1) AS us_per_row,
         left(regexp_replace(query, '\s+', ' ', 'g'), 110)
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25"
