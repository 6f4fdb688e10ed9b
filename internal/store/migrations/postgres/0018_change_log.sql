-- glucoshare schema version 18 (PostgreSQL): the change log behind the
-- optional per-instance cache of sessions and newest readings
-- (glucoshare serve --db-cache-staleness; internal/store/hot_postgres.go).
--
-- The same entries as SQLite's change log (versions 7, 15 and 16), so that
-- the same code applies them: triggers append the id of every account whose
-- account row, sessions, newest readings or entries documents change, and
-- an entry for account '' when any API secret changes ("drop everything").
-- They are written whether or not any instance runs the cache, so that an
-- instance may turn it on at any time.
--
-- Sequence values are not handed out in commit order, so seq cannot tell a
-- reader which entries it has not seen yet. Each entry records instead the
-- id of the transaction that wrote it (pg_current_xact_id(), the top-level
-- transaction's), and a reader remembers the snapshot it last read in: the
-- entries it has not seen are exactly those of transactions at or after
-- that snapshot's xmax or in progress at it (its xip list). seq orders a
-- transaction's entries, and the entries of transactions that changed the
-- same row (they serialise on its lock, and take their seq after it).
CREATE TABLE change_log (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         BIGINT  NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    account     TEXT    NOT NULL,  -- an account id; no foreign key, see accounts_deleted
    -- 'a': the account row or its sessions changed; 't': only the last
    -- use (st) of session changed; 'r': the reading in the columns below
    -- was stored; 'x': readings changed otherwise.
    kind        TEXT    NOT NULL CHECK (kind IN ('a', 't', 'r', 'x')),
    session     TEXT,
    st          BIGINT,
    value       INTEGER,
    trend       INTEGER,
    offset_min  INTEGER,
    received_at BIGINT
);

CREATE INDEX change_log_xid ON change_log (xid);

-- The newest transaction id whose entries were pruned. A reader whose last
-- snapshot did not see all of them may have missed entries, and drops its
-- whole cache.
CREATE TABLE change_log_pruned (
    only_row BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    xid      BIGINT  NOT NULL
);
INSERT INTO change_log_pruned (xid) VALUES (0);

-- The log keeps about its newest 65,536 entries: every 1,024th entry
-- deletes the 1,024 or so that fell out, a row deleted per row written.
CREATE FUNCTION change_log_prune() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pruned BIGINT;
BEGIN
    WITH gone AS (DELETE FROM change_log WHERE seq <= NEW.seq - 65536 RETURNING xid)
    SELECT MAX(xid) INTO pruned FROM gone;
    IF pruned IS NOT NULL THEN
        UPDATE change_log_pruned SET xid = GREATEST(xid, pruned);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER change_log_prune AFTER INSERT ON change_log
FOR EACH ROW WHEN (NEW.seq % 1024 = 0) EXECUTE FUNCTION change_log_prune();

CREATE FUNCTION change_log_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A deleted account leaves no trace of its id behind: its entries
        -- go, and every instance drops its whole cache instead (account '').
        DELETE FROM change_log WHERE account = OLD.id;
        INSERT INTO change_log (account, kind) VALUES ('', 'a');
    ELSE
        INSERT INTO change_log (account, kind) VALUES (OLD.id, 'a');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_changed AFTER UPDATE OR DELETE ON accounts
FOR EACH ROW EXECUTE FUNCTION change_log_account();

-- A new session is not cached before its first use, so inserts need no
-- entry; touches (which caches apply in place), ends and deletions do. Rows
-- removed by the cascade of an account's deletion are covered by its entry.
CREATE FUNCTION change_log_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
            INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'a');
        END IF;
    ELSIF OLD.id = NEW.id AND OLD.account_id = NEW.account_id AND OLD.ended_at IS NOT DISTINCT FROM NEW.ended_at
      AND OLD.created_at = NEW.created_at AND OLD.application_id = NEW.application_id THEN
        INSERT INTO change_log (account, kind, session, st) VALUES (NEW.account_id, 't', NEW.id, NEW.last_used_at);
    ELSE
        INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'a');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
FOR EACH ROW EXECUTE FUNCTION change_log_session();

-- The cache holds an account's 12 newest readings (hotReadings in hot.go).
-- A reading stored or deleted below the 12 newest does not change them, so
-- back-fills of old readings and retention write no entries. A stored
-- reading travels in its entry, so that caches add it without a query.
-- The triggers run once per statement, on its rows (a back-fill stores
-- hundreds at once), after it: what they judge is the state the statement
-- leaves.
--
-- Unlike SQLite's, PostgreSQL's writers run at once, so "below the 12
-- newest" may be judged on a state that a concurrent deletion of newer
-- readings is changing: after both commit, the reading is among the 12
-- newest, and a cache filled between the two commits would miss it. So
-- the two lock the account's row first (a store FOR KEY SHARE, as its
-- foreign key check does anyway: stores do not wait for each other; a
-- deletion FOR UPDATE, until it commits) and then judge in a new snapshot
-- (every statement of a PL/pgSQL function takes one at READ COMMITTED): a
-- store and a deletion of the same account's readings see each other's
-- commit, or the later one commits after the earlier and its own entry
-- covers both. Row locks rather than advisory ones, which a copy storing
-- the readings of thousands of accounts in one transaction would hold
-- until the shared lock table ran out.
CREATE FUNCTION change_log_readings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct    TEXT;
    twelfth BIGINT;
BEGIN
    FOR acct IN SELECT DISTINCT account_id FROM inserted LOOP
        PERFORM 1 FROM accounts WHERE id = acct FOR KEY SHARE;
        twelfth := (SELECT st FROM readings WHERE account_id = acct ORDER BY st DESC LIMIT 1 OFFSET 11);
        INSERT INTO change_log (account, kind, st, value, trend, offset_min, received_at)
        SELECT acct, 'r', st, value, trend, offset_min, received_at FROM inserted
        WHERE account_id = acct AND (twelfth IS NULL OR st >= twelfth) ORDER BY st;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER readings_inserted AFTER INSERT ON readings
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION change_log_readings_inserted();

-- Rows removed by the cascade of an account's deletion are covered by its
-- entry.
CREATE FUNCTION change_log_readings_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct   TEXT;
    newest BIGINT;
BEGIN
    FOR acct, newest IN SELECT d.account_id, MAX(d.st) FROM deleted d
                        WHERE EXISTS (SELECT 1 FROM accounts WHERE id = d.account_id)
                        GROUP BY d.account_id LOOP
        PERFORM 1 FROM accounts WHERE id = acct FOR UPDATE;
        IF newest >= COALESCE((SELECT st FROM readings WHERE account_id = acct
                               ORDER BY st DESC LIMIT 1 OFFSET 11), newest) THEN
            INSERT INTO change_log (account, kind) VALUES (acct, 'x');
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER readings_deleted AFTER DELETE ON readings
REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION change_log_readings_deleted();

CREATE FUNCTION change_log_readings_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
    IF NEW.account_id <> OLD.account_id THEN
        INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER readings_updated AFTER UPDATE ON readings
FOR EACH ROW EXECUTE FUNCTION change_log_readings_updated();

-- Any change to an API secret drops every cache (account ''): a new secret
-- of one account could match a key that a cache holds for another.
CREATE FUNCTION change_log_secret() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' OR EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
        INSERT INTO change_log (account, kind) VALUES ('', 'a');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER nightscout_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON nightscout_secrets
FOR EACH ROW EXECUTE FUNCTION change_log_secret();

-- The cache also knows whether an account has entries stored as documents
-- (mbg, cal, …), and whether any of its readings came from a mirror link:
-- either changes the account's entries ('x').
CREATE FUNCTION change_log_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
        IF NEW.account_id <> OLD.account_id THEN
            INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
        END IF;
    ELSIF EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
        INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ns_entries_inserted AFTER INSERT ON ns_documents
FOR EACH ROW WHEN (NEW.collection = 'entries') EXECUTE FUNCTION change_log_entries();

CREATE TRIGGER ns_entries_updated AFTER UPDATE ON ns_documents
FOR EACH ROW WHEN (NEW.collection = 'entries' OR OLD.collection = 'entries')
EXECUTE FUNCTION change_log_entries();

CREATE TRIGGER ns_entries_deleted AFTER DELETE ON ns_documents
FOR EACH ROW WHEN (OLD.collection = 'entries') EXECUTE FUNCTION change_log_entries();

CREATE TRIGGER mirrored_readings_changed AFTER INSERT OR DELETE ON mirrored_readings
FOR EACH ROW EXECUTE FUNCTION change_log_entries();
