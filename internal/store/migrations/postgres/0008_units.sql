-- glucoshare schema version 8: the units an account reads glucose values
-- in ('mg/dL' or 'mmol/L'; '' = not chosen, shown as mg/dL). Stored values
-- stay in mg/dL, as the Share protocol carries them.

ALTER TABLE accounts ADD COLUMN units TEXT NOT NULL DEFAULT ''
    CHECK (units IN ('', 'mg/dL', 'mmol/L'));
