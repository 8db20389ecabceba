-- Two of the trace indexes serve only traces still to run: cancelling a
-- removed step's pending traces (by activity) and resuming the branches that
-- wait on a message (by parent). Indexing every trace for them made each
-- trace's insert, claim and end write an entry into both (on PostgreSQL an
-- update that moves a row writes a new entry into every index); partial,
-- they hold the pending traces only.
DROP INDEX traces_activity;
CREATE INDEX traces_activity_pending ON traces (activity_id) WHERE state IN ('waiting', 'scheduled');
DROP INDEX traces_parent;
CREATE INDEX traces_parent_waiting ON traces (parent_id) WHERE state = 'waiting';
