-- glucoshare schema version 16 (SQLite): which readings came from a mirror
-- link (docs/mirror.md), for the Nightscout API's device field.
--
-- A reading is marked by the poll that stored it, in that poll's
-- transaction, with the Share server of the link ("us", "ous", "jp" or a
-- base URL). A reading stored first by an upload is not marked when a poll
-- reads it again: readings are stored once and the first source wins.
-- The mark goes with its reading (the foreign key on readings cascades),
-- so retention's purge, a deletion through the Nightscout API and the
-- account's deletion leave none behind; unlinking keeps them, as it keeps
-- the readings.
CREATE TABLE mirrored_readings (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    st         INTEGER NOT NULL,
    server     TEXT    NOT NULL,
    PRIMARY KEY (account_id, st),
    FOREIGN KEY (account_id, st) REFERENCES readings (account_id, st) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The in-memory cache answers an account's newest entries from its cached
-- readings only while none of them is marked (schema version 15): a mark
-- made or removed changes the account's entries ('x').
CREATE TRIGGER mirrored_readings_inserted AFTER INSERT ON mirrored_readings
BEGIN
    INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
END;

CREATE TRIGGER mirrored_readings_deleted AFTER DELETE ON mirrored_readings
WHEN EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id)
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
END;
