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
