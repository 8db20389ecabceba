-- A claim leases a trace without moving it: the lease has a column of its
-- own, in no index, and the claimed trace stays 'scheduled' at its due
-- time. It used to set the state to 'running' and due_at to the lease's
-- end, which rewrote the queue index's entry twice a trace.
ALTER TABLE traces ADD COLUMN lease_until BIGINT;
UPDATE traces SET state = 'scheduled', lease_until = due_at WHERE state = 'running';
