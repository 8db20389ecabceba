-- The messages table again, its ids now AUTOINCREMENT: SQLite then keeps
-- the highest id ever given in sqlite_sequence and never gives a lower one,
-- so the engine can reserve a block of ids there (one small write) and
-- render a campaign step's e-mails, whose tracking links carry the id,
-- before their rows exist. Each row is then written once, sent, with its
-- outbox entry, where it was written `sending` first and marked `sent`
-- after. ALTER TABLE cannot add AUTOINCREMENT: the table is copied into a
-- new one, with foreign keys off (the runner turns them off for this
-- migration, so that dropping the old table cascades nowhere).
CREATE TABLE messages_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    source       TEXT NOT NULL,                   -- 'broadcast', 'trace', 'test'
    source_id    BIGINT NOT NULL,
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    channel      TEXT NOT NULL,                   -- 'email', 'sms', 'zns', 'inapp'
    address      TEXT,                            -- where it goes (NULL: skipped for no address)
    variant      INTEGER NOT NULL DEFAULT 0,      -- A/B variant (0 when none)
    state        TEXT NOT NULL,                   -- held, queued, sending, sent, failed, skipped
    reason       TEXT,                            -- why skipped or failed (the server's reply)
    due_at       BIGINT NOT NULL,                 -- not before
    attempts     INTEGER NOT NULL DEFAULT 0,
    message_id   TEXT,                            -- the Message-ID header
    sent_at      BIGINT,
    created_at   BIGINT NOT NULL,
    UNIQUE (source, source_id, contact_id)
);
INSERT INTO messages_new (id, workspace_id, source, source_id, contact_id, channel, address, variant, state,
                          reason, due_at, attempts, message_id, sent_at, created_at)
SELECT id, workspace_id, source, source_id, contact_id, channel, address, variant, state,
       reason, due_at, attempts, message_id, sent_at, created_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_queue ON messages (source, source_id, state, due_at, id);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_address ON messages (workspace_id, address);
CREATE INDEX messages_contact ON messages (contact_id);
CREATE INDEX messages_sent ON messages (workspace_id, sent_at);
