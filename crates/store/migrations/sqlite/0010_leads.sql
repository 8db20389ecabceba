-- Leads at work: the duplicate window, the rule that assigned a lead (its
-- reassignment time), tasks about a lead, and the notices that tell a rep
-- a lead is theirs.

-- A lead from a person who already sent one this many days ago is a repeat.
ALTER TABLE workspaces ADD COLUMN lead_duplicate_days BIGINT NOT NULL DEFAULT 30;

ALTER TABLE leads ADD COLUMN rule_id BIGINT REFERENCES assignment_rules(id) ON DELETE SET NULL; -- the rule that assigned it; NULL: by hand or not at all
-- Repeats are looked up by person and time; reassignment scans `new` leads by time.
CREATE INDEX leads_contact_created ON leads (workspace_id, contact_id, created_at);
CREATE INDEX leads_new_assigned ON leads (status, assigned_at);

ALTER TABLE tasks ADD COLUMN lead_id BIGINT REFERENCES leads(id) ON DELETE CASCADE; -- the lead the task is about

-- A rep to be told of a lead (a signed webhook or an e-mail), written in the
-- assignment's transaction and delivered after it, with retries.
CREATE TABLE lead_notices (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id),
    lead_id       BIGINT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel       TEXT NOT NULL,                  -- webhook, email
    target        TEXT NOT NULL,                  -- the URL or the e-mail address
    secret        TEXT,                           -- the webhook's signing secret
    payload       TEXT NOT NULL,                  -- JSON sent (webhook) or told (e-mail)
    state         TEXT NOT NULL DEFAULT 'pending',-- pending, sent, failed
    attempts      BIGINT NOT NULL DEFAULT 0,
    due_at        BIGINT NOT NULL,                -- next attempt
    reason        TEXT,                           -- why the last attempt failed
    created_at    BIGINT NOT NULL,
    sent_at       BIGINT
);
CREATE INDEX lead_notices_due ON lead_notices (state, due_at);
CREATE INDEX lead_notices_lead ON lead_notices (lead_id);

-- A form that receives Facebook Lead Ads webhooks: the token Facebook echoes
-- when subscribing, and the app secret its payloads are signed with.
ALTER TABLE lead_forms ADD COLUMN facebook_verify_token TEXT;
ALTER TABLE lead_forms ADD COLUMN facebook_app_secret TEXT;
