-- SMTP relays a workspace sends through, set in the web app's settings.
-- A workspace without any sends through the server's own ([[smtp]] in
-- swell.toml), or keeps its messages in the outbox. The password has to be
-- given to the relay, so it is kept as given (never shown back).
CREATE TABLE smtp_servers (
    id              INTEGER PRIMARY KEY,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id),
    name            TEXT NOT NULL,
    host            TEXT NOT NULL,
    port            BIGINT NOT NULL,
    tls             TEXT NOT NULL,                -- none, starttls, tls
    accept_invalid_certs BOOLEAN NOT NULL DEFAULT 0,
    username        TEXT,
    password        TEXT,
    weight          BIGINT NOT NULL DEFAULT 1,
    max_connections BIGINT NOT NULL DEFAULT 8,
    rate_per_second BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX smtp_servers_name ON smtp_servers (workspace_id, name);
