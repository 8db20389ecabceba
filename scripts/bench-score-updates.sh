#!/usr/bin/env bash
# Reproduces the figure behind leaving contacts' pages full (PostgreSQL):
# how many of the engine's score updates would be heap-only with a tenth of
# each page kept free (`fillfactor = 90`). 100,000 contacts, then their
# scores updated 1,000 neighbouring ids to a transaction, as a batch of the
# engine's add-to-score step does.
# Usage: scripts/bench-score-updates.sh [postgres://server-url] (default:
# the test server on 127.0.0.1:5432). Needs a built `swell` (SWELL, default
# target/release/swell) and psql.
set -euo pipefail
DB=swell_bench_score_updates
source "$(dirname "$0")/bench-scratch-db.sh"
run "ALTER TABLE contacts SET (fillfactor = 90);
     INSERT INTO workspaces (id, name, created_at) VALUES (1, 'w', 0);
     INSERT INTO contacts (workspace_id, email, name, timezone, search, created_at, updated_at)
       SELECT 1, 'person' || i || '@example.com', 'Nguyễn Văn An', 'Asia/Ho_Chi_Minh',
              'nguyen van an person' || i || '@example.com', 0, 0
       FROM generate_series(1, 100000) i;"
run "DO \$\$ BEGIN
       FOR b IN 0..99 LOOP
         UPDATE contacts SET score = score + 1, updated_at = 1
         WHERE id IN (SELECT id FROM contacts ORDER BY id OFFSET b * 1000 LIMIT 1000);
         COMMIT;
       END LOOP;
     END \$\$"
sleep 1 # the statistics, reported
run "SELECT n_tup_upd || ' updates, ' || n_tup_hot_upd || ' heap-only ('
            || round(100.0 * n_tup_hot_upd / n_tup_upd, 1) || '%)'
     FROM pg_stat_user_tables WHERE relname = 'contacts'"
