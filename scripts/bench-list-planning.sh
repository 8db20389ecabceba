#!/usr/bin/env bash
# Reproduces the figure behind `automation/batch.rs` (PostgreSQL): the time
# to parse and plan the engine's statement that records 1,000 traces' ends,
# written as a multi-row VALUES list with the ids again as an IN list (as it
# was) and written with one array per column (as it is), five times each
# (`EXPLAIN`, so nothing runs). Values are literals here where the engine
# binds parameters; the store plans either afresh on each execution.
# Usage: scripts/bench-list-planning.sh [postgres://server-url] (default:
# the test server on 127.0.0.1:5432). Needs a built `swell` (SWELL, default
# target/release/swell) and psql.
set -euo pipefail
DB=swell_bench_list_planning
source "$(dirname "$0")/bench-scratch-db.sh"
rows=$(seq 1 1000 | sed "s/.*/(&, 'processed', NULL::text, 1, 'email', &, 0.0)/" | paste -sd,)
ids=$(seq 1 1000 | paste -sd,)
list="EXPLAIN UPDATE traces SET state = v.column2, reason = v.column3, version = v.column4,
    channel = v.column5, message_pk = v.column6, cost = v.column7, processed_at = 5, due_at = NULL
  FROM (VALUES $rows) AS v WHERE traces.id = v.column1 AND traces.id IN ($ids)"
array="'{$ids}'"
arrays="EXPLAIN UPDATE traces SET state = v.state, reason = v.reason, version = v.version,
    channel = v.channel, message_pk = v.message_pk, cost = v.cost, processed_at = 5, due_at = NULL
  FROM unnest($array::bigint[], array_fill('processed'::text, ARRAY[1000]), array_fill(NULL::text, ARRAY[1000]),
              array_fill(1::bigint, ARRAY[1000]), array_fill('email'::text, ARRAY[1000]), $array::bigint[],
              array_fill(0.0::float8, ARRAY[1000]))
       AS v(id, state, reason, version, channel, message_pk, cost)
  WHERE traces.id = v.id AND traces.id = ANY($array::bigint[])"
for shape in list arrays; do
  printf '%-7s' "$shape:"
  for _ in 1 2 3 4 5; do printf ' %s' "$(timed "${!shape}")"; done
  echo ' ms'
done
