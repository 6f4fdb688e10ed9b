-- glucoshare schema version 19 (PostgreSQL): the change log of version 18
-- is written only while an instance runs the cache
-- (glucoshare serve --db-cache-staleness; internal/store/hot_postgres.go).
--
-- Version 18's triggers wrote their entries on every write, whether or not
-- any instance read them: an upload cost one more row and its trigger's
-- queries on servers that never turn the cache on. Now an instance with
-- the cache holds a lease on the log: it sets change_log_lease.until a
-- minute ahead when it starts, and moves it on every ten seconds. Every
-- trigger function returns at once, writing nothing, unless its
-- transaction began before until (now() is the transaction's start). So
-- the log runs while some instance runs the cache, and stops by itself
-- about a minute after the last one stopped, or stalled.
--
-- The functions read until with a plain SELECT. A trigger function is
-- VOLATILE, and every statement of a VOLATILE PL/pgSQL function takes a
-- new snapshot at READ COMMITTED (glucoshare's writers run at READ
-- COMMITTED): a trigger sees a lease committed before it runs. The cache
-- relies on it when it starts: it waits for every transaction that might
-- have looked before its lease was committed to end, then takes the
-- snapshot it starts from (openPGHot explains why that is enough). A
-- writer at REPEATABLE READ or SERIALIZABLE reads until in its
-- transaction's snapshot, which may predate the lease.
--
-- Version 18's change_log_pruned is renamed, so that an instance of
-- glucoshare before version 19 that runs the cache, and relies on a log
-- that is always written, fails its polls and sends its reads to the
-- database (exact) until it is replaced, rather than miss the changes
-- made while no lease is held.
CREATE TABLE change_log_lease (
    only_row BOOLEAN     NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    until    TIMESTAMPTZ NOT NULL
);
INSERT INTO change_log_lease (until) VALUES ('-infinity');

ALTER TABLE change_log_pruned RENAME TO change_log_pruned_xid;

-- Pruning runs only on inserts into change_log, which only happen while
-- the log runs: it needs no test of the lease.
CREATE OR REPLACE FUNCTION change_log_prune() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pruned BIGINT;
BEGIN
    WITH gone AS (DELETE FROM change_log WHERE seq <= NEW.seq - 65536 RETURNING xid)
    SELECT MAX(xid) INTO pruned FROM gone;
    IF pruned IS NOT NULL THEN
        UPDATE change_log_pruned_xid SET xid = GREATEST(xid, pruned);
    END IF;
    RETURN NULL;
END $$;

-- The entries of a deleted account go whether or not the log runs: entries
-- written while it ran would otherwise keep its id.
CREATE OR REPLACE FUNCTION change_log_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM change_log WHERE account = OLD.id;
    END IF;
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (account, kind) VALUES ('', 'a');
    ELSE
        INSERT INTO change_log (account, kind) VALUES (OLD.id, 'a');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION change_log_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
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

-- Without the lease a store takes no lock on the account's row: the race
-- with a concurrent deletion that the lock settles (version 18) matters
-- only to a cache, and a cache starts from a snapshot taken after every
-- transaction that wrote without the lease has ended.
CREATE OR REPLACE FUNCTION change_log_readings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct    TEXT;
    twelfth BIGINT;
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
    FOR acct IN SELECT DISTINCT account_id FROM inserted LOOP
        PERFORM 1 FROM accounts WHERE id = acct FOR KEY SHARE;
        twelfth := (SELECT st FROM readings WHERE account_id = acct ORDER BY st DESC LIMIT 1 OFFSET 11);
        INSERT INTO change_log (account, kind, st, value, trend, offset_min, received_at)
        SELECT acct, 'r', st, value, trend, offset_min, received_at FROM inserted
        WHERE account_id = acct AND (twelfth IS NULL OR st >= twelfth) ORDER BY st;
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION change_log_readings_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct   TEXT;
    newest BIGINT;
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
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

CREATE OR REPLACE FUNCTION change_log_readings_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
    IF NEW.account_id <> OLD.account_id THEN
        INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION change_log_secret() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'DELETE' OR EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
        INSERT INTO change_log (account, kind) VALUES ('', 'a');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION change_log_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT until FROM change_log_lease) <= now() THEN
        RETURN NULL;
    END IF;
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
