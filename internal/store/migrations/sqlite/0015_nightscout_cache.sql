-- glucoshare schema version 15 (SQLite): the in-memory cache
-- (internal/store/hot.go) also answers which account an API secret names,
-- so a change to any API secret must reach every server's cache. Secrets
-- change rarely (set, replaced, re-keyed once under a new --secret-key),
-- and a new secret of one account could match a key that a cache holds for
-- another (ErrConflict), so every change drops the whole cache (account ''),
-- which is exact whatever was cached. Rows removed with their account are
-- covered by accounts_deleted.

CREATE TRIGGER nightscout_secrets_inserted AFTER INSERT ON nightscout_secrets
BEGIN
    INSERT INTO change_log (account, kind) VALUES ('', 'a');
END;

CREATE TRIGGER nightscout_secrets_updated AFTER UPDATE ON nightscout_secrets
BEGIN
    INSERT INTO change_log (account, kind) VALUES ('', 'a');
END;

CREATE TRIGGER nightscout_secrets_deleted AFTER DELETE ON nightscout_secrets
WHEN EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id)
BEGIN
    INSERT INTO change_log (account, kind) VALUES ('', 'a');
END;

-- The cache also knows whether an account has entries stored as documents
-- (mbg, cal, … : everything but sgv), so that its newest readings can
-- answer the entries' newest-first list. A change to them is a change to
-- the account's entries ('x': its cached readings and that knowledge go).
CREATE TRIGGER ns_entries_inserted AFTER INSERT ON ns_documents
WHEN NEW.collection = 'entries'
BEGIN
    INSERT INTO change_log (account, kind) VALUES (NEW.account_id, 'x');
END;

CREATE TRIGGER ns_entries_updated AFTER UPDATE ON ns_documents
WHEN NEW.collection = 'entries' OR OLD.collection = 'entries'
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
    INSERT INTO change_log (account, kind) SELECT NEW.account_id, 'x' WHERE NEW.account_id <> OLD.account_id;
END;

CREATE TRIGGER ns_entries_deleted AFTER DELETE ON ns_documents
WHEN OLD.collection = 'entries' AND EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id)
BEGIN
    INSERT INTO change_log (account, kind) VALUES (OLD.account_id, 'x');
END;
