-- Automated campaigns: a campaign watches for records that match and walks
-- each of them (a participant) through a tree of timed activities. Every
-- step of every participant is a trace; the scheduled traces are the
-- scheduler's queue.

CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    entity        TEXT NOT NULL,                  -- 'contact' or a record type
    filter        TEXT,                           -- JSON tree of the entry filter (NULL: everyone)
    trigger       TEXT NOT NULL,                  -- JSON: {"kind": ..., settings}
    reentry       TEXT NOT NULL,                  -- once, each
    state         TEXT NOT NULL,                  -- draft, running, paused, stopped
    reason        TEXT,                           -- why paused (budget reached)
    hook_key      TEXT UNIQUE,                    -- SHA-256 of the inbound webhook's secret
    hook_signing  TEXT,                           -- key that signs inbound webhook bodies (optional)
    budget        REAL,                           -- spend cap; the campaign pauses when reached
    spent         REAL NOT NULL DEFAULT 0,
    change_cursor BIGINT NOT NULL DEFAULT 0,      -- last change the record triggers looked at
    schedule      TEXT NOT NULL DEFAULT '{}',     -- recurring: last occurrence run, per zone
    next_run_at   BIGINT,                         -- recurring: when to look again
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    launched_at   BIGINT
);
CREATE INDEX campaigns_workspace ON campaigns (workspace_id, id);
CREATE INDEX campaigns_state ON campaigns (state);

-- One step of a campaign's tree. Edits bump `version` and keep the old
-- definition in activity_versions; a trace records the version it ran.
CREATE TABLE activities (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    campaign_id  BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    parent_id    BIGINT REFERENCES activities(id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,                   -- email, sms, zalo, inapp, message, webhook, action, split
    config       TEXT NOT NULL DEFAULT '{}',      -- template ids, the action, the URL, the shares
    trigger      TEXT NOT NULL,                   -- start, after_parent, opened, not_opened, clicked, ...
    delay_ms     BIGINT NOT NULL DEFAULT 0,
    filter       TEXT,                            -- JSON tree: participants failing it are rejected
    validity_ms  BIGINT,                          -- a trace not run this long after it was due is cancelled
    share        INTEGER,                         -- under a split: this child's share
    version      INTEGER NOT NULL DEFAULT 1,
    position     INTEGER NOT NULL DEFAULT 0,
    deleted_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX activities_campaign ON activities (campaign_id, id);

CREATE TABLE activity_versions (
    activity_id  BIGINT NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    definition   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (activity_id, version)
);

-- A record that entered a campaign. `entry` tells entries apart when the
-- campaign lets people in again ('' when it does not): the change, launch,
-- webhook call or occurrence that let it in, so entering twice for the
-- same cause is impossible.
CREATE TABLE participants (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    campaign_id  BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    record_id    BIGINT NOT NULL,
    contact_id   BIGINT,
    entry        TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,                   -- running, completed, exited
    test         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (campaign_id, record_id, entry)
);
CREATE INDEX participants_campaign ON participants (campaign_id, id);
CREATE INDEX participants_record ON participants (campaign_id, record_id);

-- A participant at an activity. The queue is the traces that are waiting,
-- scheduled or running, by due_at: for a running trace due_at is when its
-- worker's lease ends, for a waiting one (an "opened" branch) the end of
-- its wait.
CREATE TABLE traces (
    id             INTEGER PRIMARY KEY,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id),
    campaign_id    BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    participant_id BIGINT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    activity_id    BIGINT NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
    version        INTEGER,                       -- the activity's version it ran
    parent_id      BIGINT,                        -- the parent activity's trace
    state          TEXT NOT NULL,                 -- waiting, scheduled, running, processed, rejected, cancelled, failed
    due_at         BIGINT,
    deadline       BIGINT,                        -- cancelled when not run by then
    attempts       INTEGER NOT NULL DEFAULT 0,
    reason         TEXT,
    channel        TEXT,                          -- the channel a message went out on
    message_pk     BIGINT,                        -- messages.id of what it sent
    cost           REAL,
    test           BOOLEAN NOT NULL DEFAULT FALSE,
    processed_at   BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX traces_queue ON traces (due_at) WHERE state IN ('waiting', 'scheduled', 'running');
CREATE INDEX traces_participant ON traces (participant_id, id);
CREATE INDEX traces_activity ON traces (activity_id, state);
CREATE INDEX traces_parent ON traces (parent_id);
CREATE INDEX traces_campaign ON traces (campaign_id, id);

-- Things to do for a person, made by campaigns ("call this lead").
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE CASCADE,
    owner        TEXT,
    title        TEXT NOT NULL,
    note         TEXT,
    due_at       BIGINT,
    done_at      BIGINT,
    trace_id     BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX tasks_workspace ON tasks (workspace_id, id);
CREATE INDEX tasks_owner ON tasks (workspace_id, owner, done_at);

-- Banners and pop-ups shown inside the workspace's app.
CREATE TABLE inapp_messages (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    contact_id   BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    message_pk   BIGINT REFERENCES messages(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,                   -- banner, popup
    title        TEXT,
    body         TEXT NOT NULL,
    url          TEXT,
    image        TEXT,
    expires_at   BIGINT,
    viewed_at    BIGINT,
    clicked_at   BIGINT,
    dismissed_at BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX inapp_contact ON inapp_messages (contact_id, id);

-- SMS and Zalo providers of a workspace, and what a message costs on each
-- channel (e-mail too).
CREATE TABLE channel_settings (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    channel      TEXT NOT NULL,                   -- email, sms, zalo, inapp
    config       TEXT NOT NULL DEFAULT '{}',      -- the HTTP provider
    unit_cost    REAL NOT NULL DEFAULT 0,
    currency     TEXT NOT NULL DEFAULT 'VND',
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, channel)
);
