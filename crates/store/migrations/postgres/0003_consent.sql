-- Consent: per-channel opt-out on the contact, a workspace blocklist, and
-- list removal that keeps a person out of a rule-based list.

ALTER TABLE contacts ADD COLUMN email_optout BOOLEAN NOT NULL DEFAULT FALSE; -- no marketing email, whatever the list
ALTER TABLE contacts ADD COLUMN sms_optout BOOLEAN NOT NULL DEFAULT FALSE;   -- no marketing SMS
ALTER TABLE contacts ADD COLUMN zalo_optout BOOLEAN NOT NULL DEFAULT FALSE;  -- no Zalo ZNS messages

-- Addresses and phone numbers never to send to, whoever they belong to.
CREATE TABLE blocklist (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    kind         TEXT NOT NULL,                   -- 'email' or 'phone'
    value        TEXT NOT NULL,                   -- normalised: lower-cased email, E.164 phone
    reason       TEXT,                            -- why, for the people who read the list
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, value)
);

-- Who put a member on a list: 'manual' (API, CSV, a subscribe form) or
-- 'rule' (a rule-based list's filter). A refresh drops rule members that no
-- longer match and never touches manual ones or people removed by hand.
ALTER TABLE list_members ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';
