-- Foundation: workspaces, API keys, entity types, contacts, records, the
-- change log and events. Instants are BIGINT milliseconds since the epoch on
-- both backends, so audience SQL is the same on each; dates are 'YYYY-MM-DD'.

CREATE TABLE workspaces (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,            -- shown to people; `swell key create --workspace NAME`
    timezone     TEXT NOT NULL DEFAULT 'Asia/Ho_Chi_Minh', -- default zone of its contacts
    locale       TEXT NOT NULL DEFAULT 'vi',      -- default locale of its contacts and UI
    phone_region TEXT NOT NULL DEFAULT 'VN',      -- region for numbers written without +CC
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    label        TEXT,                            -- what the key is for
    prefix       TEXT NOT NULL,                   -- first characters, to recognise a key in lists
    secret_hash  TEXT NOT NULL UNIQUE,            -- SHA-256 of the whole key (keys are 190-bit random)
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT                           -- set when revoked; a revoked key answers 401
);

-- Custom field schemas. The row named 'contact' is the contact attribute
-- schema; built-in record types may have a row for their extra fields;
-- every other row is a type the workspace defined.
CREATE TABLE entity_types (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    name         TEXT NOT NULL,                   -- [a-z][a-z0-9_]*
    label        TEXT,
    fields       TEXT NOT NULL DEFAULT '[]',     -- [FieldDef]: key, type, values, label
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    external_id  TEXT,                            -- the integrator's id; first upsert key
    email        TEXT,                            -- trimmed, lower-cased; second upsert key
    phone        TEXT,                            -- E.164; third upsert key
    name         TEXT,
    given_name   TEXT,
    family_name  TEXT,
    birthday     TEXT,                            -- YYYY-MM-DD
    timezone     TEXT NOT NULL,                   -- IANA zone; the workspace's unless given
    locale       TEXT,
    owner        TEXT,                            -- the owning user (sales rep), by email
    score        BIGINT NOT NULL DEFAULT 0,
    tags         TEXT NOT NULL DEFAULT '[]',     -- sorted; mirrored in contact_tags for filters
    attrs        TEXT NOT NULL DEFAULT '{}',     -- custom attributes, checked against the schema
    search       TEXT NOT NULL DEFAULT '',        -- folded name, email, phone: accent-free search
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX contacts_external_id ON contacts (workspace_id, external_id);
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, email);
CREATE UNIQUE INDEX contacts_phone ON contacts (workspace_id, phone);
CREATE INDEX contacts_workspace ON contacts (workspace_id, id);

-- One row per (contact, tag), so `has tag "vip"` is an index probe.
CREATE TABLE contact_tags (
    workspace_id BIGINT NOT NULL,
    tag          TEXT NOT NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (workspace_id, tag, contact_id)
);
CREATE INDEX contact_tags_contact ON contact_tags (contact_id);

CREATE TABLE companies (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    external_id  TEXT,
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL, -- the main contact person
    name         TEXT,
    domain       TEXT,
    industry     TEXT,
    phone        TEXT,
    city         TEXT,
    country      TEXT,
    data         TEXT NOT NULL DEFAULT '{}',     -- custom fields of the workspace's schema
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX companies_external_id ON companies (workspace_id, external_id);
CREATE INDEX companies_contact ON companies (contact_id);
CREATE INDEX companies_workspace ON companies (workspace_id, id);

CREATE TABLE leads (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    external_id  TEXT,
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL, -- the person the lead is about
    name         TEXT,
    email        TEXT,
    phone        TEXT,
    status       TEXT NOT NULL DEFAULT 'new',     -- new, contacted, qualified, won, lost
    source       TEXT,
    region       TEXT,
    product      TEXT,
    value        REAL,                -- expected deal value
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX leads_external_id ON leads (workspace_id, external_id);
CREATE INDEX leads_contact ON leads (contact_id);
CREATE INDEX leads_workspace ON leads (workspace_id, id);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    external_id  TEXT,                            -- the shop's order number
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL, -- the customer
    total        REAL,
    currency     TEXT,
    status       TEXT,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,                 -- when the order was placed (given by the shop)
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_external_id ON orders (workspace_id, external_id);
CREATE INDEX orders_contact ON orders (contact_id, created_at);
CREATE INDEX orders_workspace ON orders (workspace_id, id);

-- Records of the types a workspace defines.
CREATE TABLE records (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    entity_type  TEXT NOT NULL,                   -- entity_types.name
    external_id  TEXT,
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    data         TEXT NOT NULL DEFAULT '{}',     -- every field, checked against the type's schema
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX records_external_id ON records (workspace_id, entity_type, external_id);
CREATE INDEX records_contact ON records (contact_id, entity_type);
CREATE INDEX records_workspace ON records (workspace_id, entity_type, id);

-- Every create, update and delete of a contact or record, written in the
-- same transaction as the change. Change-triggered campaigns read it.
CREATE TABLE changes (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    entity       TEXT NOT NULL,                   -- 'contact', 'order', ... or a custom type
    record_id    BIGINT NOT NULL,
    op           TEXT NOT NULL,                   -- create, update, delete
    changes      TEXT NOT NULL,                  -- {"field": [old, new], ...}
    at           BIGINT NOT NULL
);
CREATE INDEX changes_record ON changes (workspace_id, entity, record_id, id);

-- Append-only behaviour: page views, opens, custom track events.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    contact_id   BIGINT REFERENCES contacts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    at           BIGINT NOT NULL,                 -- when it happened (the sender's timestamp)
    properties   TEXT NOT NULL DEFAULT '{}',
    received_at  BIGINT NOT NULL
);
-- "events of contact X named N since T" is one range scan.
CREATE INDEX events_contact_name_at ON events (contact_id, name, at);
CREATE INDEX events_workspace ON events (workspace_id, id);
