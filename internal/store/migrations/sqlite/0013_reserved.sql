-- Placeholder for schema version 13, which another branch (the Nightscout API)
-- takes; the mirror links are version 14. Delete this file when that branch
-- is merged.
SELECT 1;
