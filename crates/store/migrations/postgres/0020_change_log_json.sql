-- The change log is written a row per change and read whole, never
-- searched inside, so it keeps its JSON as text (`json`, checked on the way
-- in). As `jsonb`, every entry was parsed into the binary form and had its
-- keys sorted, a tenth of the server's time in an import of new contacts,
-- whose every entry names every field.
ALTER TABLE changes ALTER COLUMN changes TYPE json USING changes::json;
