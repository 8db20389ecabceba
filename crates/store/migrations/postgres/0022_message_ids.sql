-- SQLite only (its messages table rebuilt with AUTOINCREMENT ids, so that
-- ids can be reserved); PostgreSQL reserves ids from the table's sequence.
SELECT 1;
