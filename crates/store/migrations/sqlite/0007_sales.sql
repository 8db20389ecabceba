-- Sales: the people who use a workspace (admins, marketers, sales reps), the
-- ads hierarchy that brings leads, the hand-off of leads to reps, ad spend,
-- and the marketing campaigns that group sends, automations and ads.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,                  -- lower-cased; signs in with it
    phone         TEXT,                           -- E.164
    role          TEXT NOT NULL,                  -- admin, marketer, sales
    active        BOOLEAN NOT NULL DEFAULT 1,
    working_hours TEXT,                           -- JSON {"days": [1..7], "from": "08:00", "to": "17:30"} in the workspace zone; NULL: any time
    regions       TEXT NOT NULL DEFAULT '[]',     -- JSON list of regions the rep covers
    products      TEXT NOT NULL DEFAULT '[]',     -- JSON list of products the rep covers
    lead_cap      BIGINT,                         -- most open leads at once; NULL: no cap
    password_hash TEXT,                           -- argon2 PHC string; NULL: cannot sign in
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_workspace ON users (workspace_id, id);

-- A key may act for one user: a sales rep's key sees only their leads.
ALTER TABLE api_keys ADD COLUMN user_id BIGINT REFERENCES users(id);

-- Grouping of broadcasts, automated campaigns and ad campaigns; `code`
-- matches utm_campaign / pk_campaign on tracked events.
CREATE TABLE marketing_campaigns (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    code          TEXT NOT NULL,
    starts_on     TEXT,                           -- YYYY-MM-DD
    ends_on       TEXT,
    budget        REAL,
    owner_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX marketing_campaigns_code ON marketing_campaigns (workspace_id, code);
ALTER TABLE broadcasts ADD COLUMN marketing_campaign_id BIGINT REFERENCES marketing_campaigns(id) ON DELETE SET NULL;
ALTER TABLE campaigns ADD COLUMN marketing_campaign_id BIGINT REFERENCES marketing_campaigns(id) ON DELETE SET NULL;

CREATE TABLE ad_accounts (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    platform      TEXT NOT NULL DEFAULT 'facebook', -- facebook, google, tiktok, zalo, ...
    account_id    TEXT NOT NULL,                  -- the platform's id of the account
    name          TEXT,
    running       BOOLEAN NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ad_accounts_key ON ad_accounts (workspace_id, platform, account_id);

CREATE TABLE ad_campaigns (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    ad_account_id BIGINT NOT NULL REFERENCES ad_accounts(id),
    name          TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT 1,
    marketing_campaign_id BIGINT REFERENCES marketing_campaigns(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ad_campaigns_key ON ad_campaigns (ad_account_id, name);
CREATE INDEX ad_campaigns_workspace ON ad_campaigns (workspace_id, id);

CREATE TABLE ads (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    ad_campaign_id BIGINT NOT NULL REFERENCES ad_campaigns(id),
    name          TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ads_key ON ads (ad_campaign_id, name);
CREATE INDEX ads_workspace ON ads (workspace_id, id);

-- Spend and reach of one ad on one day; a re-import of the day replaces it.
CREATE TABLE ad_metrics (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    ad_id         BIGINT NOT NULL REFERENCES ads(id),
    day           TEXT NOT NULL,                  -- YYYY-MM-DD
    spend         REAL NOT NULL DEFAULT 0,
    impressions   BIGINT NOT NULL DEFAULT 0,
    clicks        BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ad_metrics_key ON ad_metrics (ad_id, day);
CREATE INDEX ad_metrics_workspace ON ad_metrics (workspace_id, day);

-- Leads: where they came from, who has them, how far they went.
ALTER TABLE leads ADD COLUMN ad_id BIGINT REFERENCES ads(id);
ALTER TABLE leads ADD COLUMN owner_id BIGINT REFERENCES users(id);
ALTER TABLE leads ADD COLUMN assigned_at BIGINT;
ALTER TABLE leads ADD COLUMN first_contacted_at BIGINT;   -- first move out of `new`
ALTER TABLE leads ADD COLUMN status_changed_at BIGINT;
ALTER TABLE leads ADD COLUMN lost_reason TEXT;
ALTER TABLE leads ADD COLUMN order_id BIGINT REFERENCES orders(id);   -- the order a won lead became
ALTER TABLE leads ADD COLUMN duplicate_of BIGINT REFERENCES leads(id); -- a repeat within the window
ALTER TABLE leads ADD COLUMN form_id BIGINT;
CREATE INDEX leads_owner ON leads (workspace_id, owner_id, status);
CREATE INDEX leads_ad ON leads (workspace_id, ad_id);

-- Everything that happened to a lead: created, assigned, reassigned,
-- status changes, notes and calls; who and when.
CREATE TABLE lead_history (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    lead_id       BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    at            BIGINT NOT NULL,
    user_id       BIGINT REFERENCES users(id),    -- who; NULL: Swell itself
    kind          TEXT NOT NULL,                  -- created, duplicate, assigned, reassigned, status, note, call
    from_value    TEXT,
    to_value      TEXT,
    note          TEXT
);
CREATE INDEX lead_history_lead ON lead_history (lead_id, id);

-- How new leads reach reps: tried in `position` order; the first whose
-- filter the lead passes and that has an eligible rep takes it.
CREATE TABLE assignment_rules (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    position      BIGINT NOT NULL,
    name          TEXT NOT NULL,
    strategy      TEXT NOT NULL,                  -- round_robin, weighted
    filter        TEXT,                           -- JSON filter tree over the lead; NULL: every lead
    reps          TEXT NOT NULL,                  -- JSON [{"user": id, "weight": n}]
    working_hours BOOLEAN NOT NULL DEFAULT 0,     -- only reps inside their working hours
    reassign_after_minutes BIGINT,                -- a lead still `new` this long goes to the next rep
    notify        TEXT NOT NULL DEFAULT '{}',     -- JSON {"webhook": url, "email": true, "task": true}
    cursor        BIGINT NOT NULL DEFAULT 0,      -- round-robin position / weighted turn counter
    active        BOOLEAN NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX assignment_rules_workspace ON assignment_rules (workspace_id, position);

-- Public web forms that post leads; the key in the form's URL is stored hashed.
CREATE TABLE lead_forms (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    ad_id         BIGINT REFERENCES ads(id),      -- the source its leads are counted to
    per_minute    BIGINT NOT NULL DEFAULT 30,     -- rate limit per client address
    created_at    BIGINT NOT NULL
);
