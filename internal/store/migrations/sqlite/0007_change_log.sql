-- glucoshare schema version 7 (SQLite): the change log behind the
-- in-memory cache of sessions and latest readings (internal/store/hot.go).
--
-- Triggers append the id of every account whose session rows, account row
-- or newest readings change, whichever process writes, so that each server
-- evicts exactly what changed when it notices a new commit. AUTOINCREMENT
-- makes seq grow in commit order and never reuse a value, so a server that
-- finds a gap after its last seq knows it missed entries and drops its
-- whole cache. account '' means "drop everything".

CREATE TABLE change_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT    NOT NULL,  -- an account id; no foreign key, see accounts_deleted
    -- 'a': the account row or its sessions changed; 't': only the last
    -- use (st) of session changed; 'r': the reading in the columns below
    -- was stored; 'x': readings changed otherwise.
    kind    TEXT    NOT NULL CHECK (kind IN ('a', 't', 'r', 'x')),
    session     TEXT,
    st          INTEGER,
    value       INTEGER,
    trend       INTEGER,
    offset_min  INTEGER,
    received_at INTEGER
) STRICT;

-- The log keeps its newest 65,536 entries at most.
CREATE TRIGGER change_log_prune AFTER INSERT ON change_log
WHEN NEW.seq % 1024 = 0
BEGIN
    DELETE FROM change_log WHERE seq <= NEW.seq - 65536;
END;

CREATE TRIGGER accounts_changed AFTER UPDATE ON accounts
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.id, 'a');
END;

-- A deleted account leaves no trace of its id behind: its entries go, and
-- every server drops its whole cache instead (account '').
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts
BEGIN
    DELETE FROM change_log WHERE account = OLD.id;
    INSERT INTO change_log (account, kind) VALUES ('', 'a');
END;

-- A new session is not cached before its first use, so inserts need no
-- entry; touches (which caches apply in place), ends and deletions do. Rows removed by the cascade of an
-- account's deletion are covered by accounts_deleted.
CREATE TRIGGER sessions_touched AFTER UPDATE ON sessions
WHEN OLD.id = NEW.id AND OLD.account_id = NEW.account_id AND OLD.ended_at IS NEW.ended_at
 AND OLD.created_at = NEW.created_at AND OLD.application_id = NEW.application_id
BEGIN
    INSERT INTO change_log (account, kind, session, st) VALUES (NEW.account_id, 't', NEW.id, NEW.last_used_at);
END;

CREATE TRIGGER sessions_changed AFTER UPDATE ON sessions
WHEN NOT (OLD.id = NEW.id AND OLD.account_id = NEW.account_id AND OLD.ended_at IS NEW.ended_at
      AND OLD.created_at = NEW.created_at AND OLD.application_id = NEW.application_id)
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'a');
END;

CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
WHEN EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id)
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'a');
END;

-- The cache holds an account's 12 newest readings (hotReadings in hot.go).
-- A reading inserted or deleted below the 12 newest does not change them,
-- so back-fills of old readings and retention write no entries. A stored
-- reading travels in its entry, so that caches add it without a query.
CREATE TRIGGER readings_inserted AFTER INSERT ON readings
WHEN NEW.st >= COALESCE((SELECT st FROM readings WHERE account_id = NEW.account_id
                         ORDER BY st DESC LIMIT 1 OFFSET 11), NEW.st)
BEGIN
    INSERT INTO change_log (account, kind, st, value, trend, offset_min, received_at)
    VALUES (NEW.account_id, 'r', NEW.st, NEW.value, NEW.trend, NEW.offset_min, NEW.received_at);
END;

CREATE TRIGGER readings_updated AFTER UPDATE ON readings
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
    INSERT INTO change_log (account, kind) SELECT NEW.account_id, 'x' WHERE NEW.account_id <> OLD.account_id;
END;

CREATE TRIGGER readings_deleted AFTER DELETE ON readings
WHEN EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id)
 AND OLD.st >= COALESCE((SELECT st FROM readings WHERE account_id = OLD.account_id
                         ORDER BY st DESC LIMIT 1 OFFSET 11), OLD.st)
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
END;
