-- PostgreSQL only (a participant's page room for its one update, and the
-- message's contact key, which locked the contact's row); SQLite has
-- neither cost.
SELECT 1;
