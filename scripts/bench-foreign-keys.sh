#!/usr/bin/env bash
# Reproduces the figures behind migrations 0016 and 0021 (PostgreSQL): the
# time to insert 20,000 traces, contacts, change-log rows and tag rows (one
# for each of the contacts just inserted) with the foreign keys those
# migrations dropped put back, then without them, in a scratch database.
# Usage: scripts/bench-foreign-keys.sh [postgres://server-url] (default: the
# test server on 127.0.0.1:5432). Needs a built `swell` (SWELL, default
# target/release/swell) and psql.
set -euo pipefail
DB=swell_bench_foreign_keys
source "$(dirname "$0")/bench-scratch-db.sh"
run "INSERT INTO workspaces (id, name, created_at) VALUES (1, 'w', 0);
     INSERT INTO campaigns (id, workspace_id, name, entity, trigger, reentry, state, created_at, updated_at)
       VALUES (1, 1, 'c', 'contact', '{}', 'once', 'running', 0, 0);
     INSERT INTO activities (id, workspace_id, campaign_id, name, kind, trigger, created_at, updated_at)
       VALUES (1, 1, 1, 'a', 'action', 'start', 0, 0);
     INSERT INTO participants (workspace_id, campaign_id, record_id, state, created_at, updated_at)
       SELECT 1, 1, i, 'running', 0, 0 FROM generate_series(1, 40000) i;
     ANALYZE;"

insert_all() { # $1: first row number
  local a=$1 b=$(($1 + 19999))
  printf 'traces %s ms, ' "$(timed "INSERT INTO traces (workspace_id, campaign_id, participant_id, activity_id, state, due_at, test, created_at)
    SELECT 1, 1, i, 1, 'scheduled', 0, false, 0 FROM generate_series($a, $b) i")"
  printf 'contacts %s ms, ' "$(timed "INSERT INTO contacts (workspace_id, email, timezone, search, created_at, updated_at)
    SELECT 1, 'p' || i || '@x.vn', 'UTC', 'p' || i, 0, 0 FROM generate_series($a, $b) i")"
  printf 'changes %s ms, ' "$(timed "INSERT INTO changes (workspace_id, entity, record_id, op, changes, at)
    SELECT 1, 'contact', i, 'create', '{\"email\": [null, \"x\"]}', 0 FROM generate_series($a, $b) i")"
  printf 'tags %s ms\n' "$(timed "INSERT INTO contact_tags (workspace_id, tag, contact_id)
    SELECT 1, 'vip', id FROM contacts ORDER BY id DESC LIMIT 20000")"
}

run "ALTER TABLE traces ADD CONSTRAINT fk_ws FOREIGN KEY (workspace_id) REFERENCES workspaces(id),
       ADD CONSTRAINT fk_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns(id),
       ADD CONSTRAINT fk_activity FOREIGN KEY (activity_id) REFERENCES activities(id),
       ADD CONSTRAINT fk_participant FOREIGN KEY (participant_id) REFERENCES participants(id);
     ALTER TABLE contacts ADD CONSTRAINT fk_ws FOREIGN KEY (workspace_id) REFERENCES workspaces(id);
     ALTER TABLE changes ADD CONSTRAINT fk_ws FOREIGN KEY (workspace_id) REFERENCES workspaces(id);
     ALTER TABLE contact_tags ADD CONSTRAINT fk_contact FOREIGN KEY (contact_id) REFERENCES contacts(id);"
printf '20,000 rows each, with the foreign keys:    '
insert_all 1
run "ALTER TABLE traces DROP CONSTRAINT fk_ws, DROP CONSTRAINT fk_campaign, DROP CONSTRAINT fk_activity,
       DROP CONSTRAINT fk_participant;
     ALTER TABLE contacts DROP CONSTRAINT fk_ws;
     ALTER TABLE changes DROP CONSTRAINT fk_ws;
     ALTER TABLE contact_tags DROP CONSTRAINT fk_contact;"
printf '20,000 rows each, without them (as now):    '
insert_all 20001
