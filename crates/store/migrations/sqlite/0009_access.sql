-- Access: who is signed in to the web app, and who changed what through it.

-- A signed-in browser. The cookie carries a random token; only its SHA-256
-- is kept, so a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,               -- hex SHA-256 of the cookie's token
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,                  -- the token every form and non-GET request must echo
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL                 -- unix ms; a session past it is gone
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Changes made by people through the web app, newest read first.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    user_id       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at            BIGINT NOT NULL,                -- unix ms
    action        TEXT NOT NULL,                  -- create, update, delete, send, sign_in, ...
    entity        TEXT NOT NULL,                  -- template, broadcast, segment, user, ...
    entity_id     TEXT,                           -- the entity's id or slug
    detail        TEXT                            -- JSON: what changed
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);

-- The dashboard's week: sends, engagement, leads and orders by time within
-- a workspace, read by range instead of scanning the tables.
CREATE INDEX messages_sent ON messages (workspace_id, sent_at);
CREATE INDEX message_events_at ON message_events (workspace_id, at);
CREATE INDEX leads_created ON leads (workspace_id, created_at);
CREATE INDEX orders_created ON orders (workspace_id, created_at);
CREATE INDEX participants_contact ON participants (workspace_id, contact_id);
