-- glucoshare schema version 17 (SQLite): readings indexed by reception only when late.
--
-- readings_received (version 13) indexed every reading by when it was
-- received, for API v3's history and lastModified (srvModified). Its
-- entry cost a live upload a second B-tree insert and a second page
-- written per commit, about a third of what the database does for it.
-- A reading received within an hour of its time is found by its time
-- instead (the primary key): one received at or after T has a time at or
-- after T minus an hour. Only late readings (back-fills, an uploader
-- catching up after an outage) need the index by reception. The query
-- side is splitByLateness in internal/store/docquery.go, whose
-- lateAfterMS must equal the 3600000 below.
DROP INDEX readings_received;

CREATE INDEX readings_late ON readings (account_id, received_at)
    WHERE received_at > st + 3600000;
