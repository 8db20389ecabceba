# Sourced by the scripts/bench-*.sh that time SQL by hand: a scratch
# PostgreSQL database with Swell's schema, dropped on exit, and two helpers.
# Set DB (the database's name) before sourcing; the first argument of the
# sourcing script is the server's URL (default: the test server on
# 127.0.0.1:5432). Needs a built `swell` (SWELL, default
# target/release/swell) and psql.
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/.."
SERVER="${1:-postgres://postgres@127.0.0.1:5432}"
SWELL="${SWELL:-target/release/swell}"
psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
trap 'psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
"$SWELL" migrate --db "$SERVER/$DB" >/dev/null 2>&1

# Runs SQL in the scratch database.
run() {
  psql "$SERVER/$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"
}
# Milliseconds one statement takes (psql's \timing, inside one session).
timed() {
  psql "$SERVER/$DB" -qAt -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
