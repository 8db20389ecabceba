-- E-mail end to end: templates, broadcasts and their messages, the outbox,
-- what recipients did with a message (opens, clicks, unsubscribes, bounces)
-- and the addresses that must not be sent to again.

-- A template of one channel: its content is the channel's template as JSON
-- (e-mail: subject, preheader, html, text; SMS: body; ZNS: template id and
-- parameters).
CREATE TABLE templates (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    name         TEXT NOT NULL,
    channel      TEXT NOT NULL,                   -- 'email', 'sms' or 'zns'
    content      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX templates_workspace ON templates (workspace_id, id);

-- A one-shot send of a template to an audience.
CREATE TABLE broadcasts (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    name         TEXT NOT NULL,
    template_id  BIGINT NOT NULL REFERENCES templates(id),
    audience     TEXT NOT NULL,                     -- lists, segments, filter, exclusions
    sender       TEXT NOT NULL,                     -- from name and address, reply-to
    state        TEXT NOT NULL,                   -- draft, scheduled, sending, paused, sent, cancelled
    send_at      BIGINT,                          -- when to start (NULL: when asked)
    local_time   TEXT,                            -- 'HH:MM' in each contact's zone, on send_at's date
    ab           TEXT,                              -- variants, sample share, wait, metric; winner once chosen
    recipients   BIGINT NOT NULL DEFAULT 0,       -- messages made when the send started
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX broadcasts_workspace ON broadcasts (workspace_id, id);
CREATE INDEX broadcasts_state ON broadcasts (state, send_at);

-- One message to one person: a broadcast's recipient (or, later, a
-- campaign step's). Its id is what tracking tokens name. At most one per
-- (source, contact): the guard against sending twice.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    source       TEXT NOT NULL,                   -- 'broadcast', 'test'
    source_id    BIGINT NOT NULL,
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    channel      TEXT NOT NULL,                   -- 'email'
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
-- The sender's queue: due queued messages of a source, in order.
CREATE INDEX messages_queue ON messages (source, source_id, state, due_at, id);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_address ON messages (workspace_id, address);
CREATE INDEX messages_contact ON messages (contact_id);

-- The built-in transport: every message kept whole, newest first.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    message_pk   BIGINT,                          -- messages.id (NULL for test sends)
    message_id   TEXT NOT NULL,
    sender       TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    raw          BLOB NOT NULL,                    -- the MIME message as sent
    created_at   BIGINT NOT NULL
);
CREATE INDEX outbox_workspace ON outbox (workspace_id, id);

-- What happened to a message after it left: opens, clicks, unsubscribes,
-- bounces, complaints. Figures are counted from here; opens and clicks are
-- also written to events so filters see them.
CREATE TABLE message_events (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    message_pk   BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,                   -- open, click, unsubscribe, bounce, complaint
    link         INTEGER,                         -- the link's number, for clicks
    url          TEXT,                            -- where the click went
    machine      BOOLEAN NOT NULL DEFAULT FALSE,  -- an open by a privacy proxy or scanner
    detail       TEXT,                            -- user agent, or the bounce's status and diagnostic
    at           BIGINT NOT NULL
);
CREATE INDEX message_events_message ON message_events (message_pk, kind);

-- Addresses never to send e-mail to again, and why.
CREATE TABLE suppressions (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    address      TEXT NOT NULL,                   -- lower-cased e-mail address
    reason       TEXT NOT NULL,                   -- hard_bounce, soft_bounces, complaint, manual
    detail       TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, address)
);

-- Every bounce and complaint received, for the three-soft-bounces rule and
-- for people who ask why an address was suppressed.
CREATE TABLE bounces (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    address      TEXT NOT NULL,
    message_pk   BIGINT REFERENCES messages(id) ON DELETE SET NULL,
    kind         TEXT NOT NULL,                   -- hard, soft, complaint
    status       TEXT,                            -- enhanced status code, 5.1.1
    diagnostic   TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX bounces_address ON bounces (workspace_id, address, at);

-- Values the server keeps for itself, such as the key that signs tracking
-- tokens when none is configured.
CREATE TABLE settings (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL
);
