-- glucoshare schema version 13 (SQLite): deleted readings, for API v3's
-- history (internal/nightscout/v3.go).
--
-- A reading never changes once stored (the first write wins), so its
-- received_at is its srvModified. What API v3's history must also report
-- is a reading deleted through the Nightscout API: a tombstone keeps its
-- time and when it went, so that a client syncing by srvModified learns of
-- it once. A reading stored again after its deletion is live again (the
-- history query skips tombstones of readings that exist). Retention's
-- purge and a permanent deletion leave none, as Nightscout reports
-- neither.
CREATE TABLE reading_tombstones (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    st         INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, st)
) STRICT, WITHOUT ROWID;

CREATE INDEX reading_tombstones_deleted ON reading_tombstones (account_id, deleted_at);

-- History and lastModified read an account's readings by when they were
-- received (their srvModified).
CREATE INDEX readings_received ON readings (account_id, received_at);
