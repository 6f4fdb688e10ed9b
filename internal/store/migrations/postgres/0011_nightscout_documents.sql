-- glucoshare schema version 11 (PostgreSQL): the Nightscout document store
-- and the keys of Nightscout credentials (internal/nightscout,
-- internal/core). Times are Unix milliseconds.

-- Treatments, device status, profiles, food, activity, settings and the
-- entries that are not sgv readings, of every account in one table. The
-- body is the document as compact JSON text, not jsonb: the same bytes on
-- both engines (glucoshare copy verifies them by checksum) and in the
-- order the client wrote them; queries on other members cast it. The
-- columns beside it copy what the Nightscout APIs search by, so that an
-- index serves those searches: the date (from created_at, date, dateString
-- or startDate), the client's identifier (API v3; the _id when it gave
-- none) and the event type (treatments' eventType, entries' type).
CREATE TABLE ns_documents (
    account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    collection   TEXT    COLLATE "C" NOT NULL,
    id           TEXT    COLLATE "C" NOT NULL,  -- the Nightscout _id, 24 hex digits
    identifier   TEXT    COLLATE "C" NOT NULL,
    date_ms      BIGINT,                        -- NULL: no date parsed
    event_type   TEXT    COLLATE "C",           -- NULL: none, or not a string
    srv_created  BIGINT  NOT NULL,
    srv_modified BIGINT  NOT NULL,
    deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    size         BIGINT  NOT NULL,              -- what it counts against the account's limit
    body         TEXT    NOT NULL,
    PRIMARY KEY (account_id, collection, id)
);

CREATE UNIQUE INDEX ns_documents_identifier ON ns_documents (account_id, collection, identifier);
CREATE INDEX ns_documents_date ON ns_documents (account_id, collection, date_ms);
CREATE INDEX ns_documents_type ON ns_documents (account_id, collection, event_type, date_ms);
CREATE INDEX ns_documents_modified ON ns_documents (account_id, collection, srv_modified);

-- What each account's documents take, kept in step with every write, so
-- that the storage limit is checked without summing the account's rows.
CREATE TABLE ns_usage (
    account_id TEXT   NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    documents  BIGINT NOT NULL,
    bytes      BIGINT NOT NULL
);

-- The public handle of an account's Nightscout site (/ns/{handle}/…), and
-- whether it may be read without a credential.
CREATE TABLE nightscout_sites (
    account_id     TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    handle         TEXT    COLLATE "C" NOT NULL UNIQUE,
    anonymous_read BOOLEAN NOT NULL DEFAULT FALSE
);

-- How each credential's lookup key was made (core/nightscout_keys.go):
-- 'sha256' SHA-256 of its SHA-1 (schema 5's secrets), 'token-sha256'
-- SHA-256 of the token itself (schema 5's tokens, re-keyed when next
-- used), 'hmac:<key id>' an HMAC with a key derived from --secret-key.
ALTER TABLE nightscout_secrets ADD COLUMN key_id TEXT NOT NULL DEFAULT 'sha256';
ALTER TABLE nightscout_tokens ADD COLUMN key_id TEXT NOT NULL DEFAULT 'token-sha256';
-- A token's name, shown as its subject (Nightscout's "sub").
ALTER TABLE nightscout_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
