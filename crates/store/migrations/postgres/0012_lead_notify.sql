-- How a rep is told of a lead given by hand (or by an automation) that no
-- rule gave first: the workspace's notices, the same shape as a rule's
-- `notify` ({webhook, secret, email, task}); nothing by default.
ALTER TABLE workspaces ADD COLUMN lead_notify TEXT NOT NULL DEFAULT '{}';
