-- A contact's search text starts with its folded name and U+0300 (a
-- combining mark, which folding removes, so no folded text holds one), then
-- the folded e-mail, phone and external id, each followed by a space:
-- `name contains` reads the name's part without folding the name again.
UPDATE contacts SET search = COALESCE(swell_fold(name), '') || char(768)
    || COALESCE(swell_fold(email) || ' ', '')
    || COALESCE(swell_fold(phone) || ' ', '')
    || COALESCE(swell_fold(external_id) || ' ', '');
