-- glucoshare schema version 13: a placeholder. Issue 19's migration is
-- number 15; 0013 belongs to another branch (the Nightscout API v2/v3 and the
-- Dexcom mirror). Delete this file when merging with that branch.
SELECT 1;
