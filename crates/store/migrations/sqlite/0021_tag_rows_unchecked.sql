-- PostgreSQL only (a tag row's foreign key to its contact dropped); SQLite
-- keeps the key.
SELECT 1;
