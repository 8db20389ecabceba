-- Traces waiting for an engagement ("not opened after 3 days") by when the
-- wait ends. Every claim first ends the waits that are over; through the
-- queue index that read every due trace of every state (0.2 s a claim with
-- a million participants queued) to find the few waiting ones.
CREATE INDEX traces_waiting ON traces (due_at) WHERE state = 'waiting';
