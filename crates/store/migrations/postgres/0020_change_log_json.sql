-- The change log is written a row per change and read whole, never
-- searched inside, so it keeps its JSON as text (`json`, checked on the way
-- in). As `jsonb`, every entry was parsed into the binary form and had its
-- keys sorted, which an import of new contacts, whose every entry names
-- every field, paid for each row: `swell bench import --rows 1000000` on
-- PostgreSQL went from 43,472 rows/s to 51,661-55,785.
ALTER TABLE changes ALTER COLUMN changes TYPE json USING changes::json;
