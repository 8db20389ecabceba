-- A foreign key on PostgreSQL checks each inserted row by locking the row it
-- points at (FOR KEY SHARE). When every row of a bulk write points at the
-- same few rows (its workspace, its campaign, its activity), every insert
-- takes that one lock again, and concurrent writers turn it into a
-- multixact: a third to a half of the cost of inserting a contact, a change
-- or a trace. `scripts/bench-foreign-keys.sh` on a 2-core machine: 20,000
-- traces took 347 ms with their four keys and 105 ms without; contacts 187
-- and 130, change-log rows 120 and 61.
--
-- The tables written a row per contact, per change or per step lose those
-- keys. Nothing is lost in integrity: workspaces are never deleted, every
-- query is scoped to its workspace by the store, and deleting a campaign
-- deletes its traces and participants first, in one transaction (see
-- `Store::delete_campaign`). SQLite checks a key with one b-tree probe and
-- no lock, so its schema keeps them.
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_workspace_id_fkey;
ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_workspace_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_workspace_id_fkey;
ALTER TABLE records DROP CONSTRAINT IF EXISTS records_workspace_id_fkey;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_workspace_id_fkey;
ALTER TABLE list_members DROP CONSTRAINT IF EXISTS list_members_workspace_id_fkey;
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_workspace_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_workspace_id_fkey;
ALTER TABLE message_events DROP CONSTRAINT IF EXISTS message_events_workspace_id_fkey;
ALTER TABLE participants DROP CONSTRAINT IF EXISTS participants_workspace_id_fkey;
ALTER TABLE participants DROP CONSTRAINT IF EXISTS participants_campaign_id_fkey;
ALTER TABLE traces DROP CONSTRAINT IF EXISTS traces_workspace_id_fkey;
ALTER TABLE traces DROP CONSTRAINT IF EXISTS traces_campaign_id_fkey;
ALTER TABLE traces DROP CONSTRAINT IF EXISTS traces_activity_id_fkey;
ALTER TABLE traces DROP CONSTRAINT IF EXISTS traces_participant_id_fkey;
