-- PostgreSQL only (the row locks its foreign keys take on every insert);
-- SQLite checks a key with one b-tree probe and keeps them.
SELECT 1;
