-- PostgreSQL only (the change log's JSON kept as text); SQLite keeps all
-- JSON as text already.
SELECT 1;
