-- Audiences: marketing lists with their members, and saved segments. The
-- filter compiler (crates/store/src/audience) reads these; on SQLite its
-- text-folding function `swell_fold` is registered on every connection by
-- the store (see audience::sqlite_fn), so nothing here defines it.

CREATE TABLE lists (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    slug         TEXT NOT NULL,                   -- what filters name: in list "newsletter"
    name         TEXT NOT NULL,                   -- shown to people
    kind         TEXT NOT NULL DEFAULT 'static',  -- 'static' (members added) or 'rule' (members follow `filter`)
    filter       TEXT,                            -- JSON filter over contacts, for 'rule' lists; NULL for static
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (workspace_id, slug)
);

-- One row per (list, contact). `in list "x"` is true only for 'subscribed'.
CREATE TABLE list_members (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    list_id      BIGINT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    contact_id   BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    status       TEXT NOT NULL,                   -- 'subscribed', 'unsubscribed' or 'pending' (confirmation)
    changed_at   BIGINT NOT NULL,                 -- when the status last changed
    PRIMARY KEY (list_id, contact_id)             -- also the index of the `in list` probe
);
-- A contact's memberships (preference page, contact deletion).
CREATE INDEX list_members_contact ON list_members (contact_id);
-- The subscribed members of a list, in id order (broadcast batches).
CREATE INDEX list_members_status ON list_members (list_id, status, contact_id);

-- Saved dynamic filters over contacts.
CREATE TABLE segments (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    slug         TEXT NOT NULL,                   -- what filters name: in segment "hot-leads"
    name         TEXT NOT NULL,                   -- shown to people
    filter       TEXT NOT NULL,                   -- JSON filter over contacts (Filter's serde form)
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (workspace_id, slug)
);

-- Anniversary conditions compile one branch per time zone in use:
-- `SELECT DISTINCT timezone` reads this index only.
CREATE INDEX contacts_timezone ON contacts (workspace_id, timezone);
