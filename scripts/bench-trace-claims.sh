#!/usr/bin/env bash
# Reproduces the figures behind migration 0018 (PostgreSQL): 200,000 traces
# claimed 1,000 at a time and each batch ended, first with the claim that
# moved a trace (state 'running', due_at the lease's end) on pages filled
# whole, then with the lease column on pages half filled, as now. Prints the
# time of each loop and how many of its updates were heap-only.
# Usage: scripts/bench-trace-claims.sh [postgres://server-url] (default: the
# test server on 127.0.0.1:5432). Needs a built `swell` (SWELL, default
# target/release/swell) and psql.
set -euo pipefail
DB=swell_bench_trace_claims
source "$(dirname "$0")/bench-scratch-db.sh"

fill() { # $1: fillfactor
  run "TRUNCATE traces; ALTER TABLE traces SET (fillfactor = $1);
       INSERT INTO traces (workspace_id, campaign_id, participant_id, activity_id, state, due_at, test, created_at)
         SELECT 1, 1, i, 1, 'scheduled', 1000, false, 0 FROM generate_series(1, 200000) i"
  run "VACUUM ANALYZE traces"
  run "SELECT pg_stat_reset()" >/dev/null
}
hot() {
  sleep 1 # the statistics collector
  run "SELECT n_tup_hot_upd || ' of ' || n_tup_upd FROM pg_stat_user_tables WHERE relname = 'traces'"
}
loop() { # $1: the claim's SET, $2: its extra condition, $3: the end's extra SET
  timed "DO \$\$ DECLARE ids bigint[]; BEGIN FOR i IN 1..200 LOOP
    WITH c AS (UPDATE traces SET $1, attempts = attempts + 1
               WHERE id IN (SELECT id FROM traces WHERE state IN ('waiting', 'scheduled', 'running') AND due_at <= 2000
                            AND $2 ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING id)
      SELECT array_agg(id) INTO ids FROM c;
    UPDATE traces SET state = 'processed', due_at = NULL, processed_at = 3 $3 WHERE id = ANY(ids);
  END LOOP; END \$\$"
}

fill 100
printf 'claim moving the trace, pages full:  %s ms, ' "$(loop "state = 'running', due_at = 5000" "state <> 'waiting'" "")"
printf 'heap-only updates %s\n' "$(hot)"
fill 50
printf 'claim by lease column, pages half:   %s ms, ' \
  "$(loop "lease_until = 5000" "state = 'scheduled' AND (lease_until IS NULL OR lease_until <= 2000)" "")"
printf 'heap-only updates %s\n' "$(hot)"
