-- swell_fold for ASCII text is lower(): no decomposition, no marks to drop.
-- `octet_length = char_length` tells ASCII apart in a UTF8 database without
-- a regular expression, so most values (URLs, codes, e-mail addresses) skip
-- the slow path that `contains` and `starts_with` used to take for every row.
-- Not STRICT (NULL still gives NULL): a STRICT body with CASE is not
-- inlined, and a per-row SQL function call costs more than the folding.
CREATE OR REPLACE FUNCTION swell_fold(t TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN octet_length(t) = char_length(t) THEN lower(t)
        ELSE lower(translate(
            regexp_replace(normalize(t, NFD),
                '[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]', '', 'g'),
            'đĐðÐøØłŁß', 'ddddoolls'))
        END
    $$;
