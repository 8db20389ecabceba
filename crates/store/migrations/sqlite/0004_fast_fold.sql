-- On SQLite `swell_fold` is a function the store registers on every
-- connection (audience::sqlite_fn); its ASCII fast path lives there, so
-- this version changes nothing here.
SELECT 1;
