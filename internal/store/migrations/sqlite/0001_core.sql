-- glucoshare schema version 1 (SQLite). Times are Unix milliseconds;
-- booleans are 0/1. STRICT tables reject values of the wrong type.

CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT;

CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    compat        TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    serial        TEXT    NOT NULL DEFAULT '',   -- '' = no receiver
    receiver_id   TEXT    NOT NULL DEFAULT '',
    -- the serial when held exclusively, else NULL: the unique index lets
    -- one account at most hold a serial, across server instances
    serial_claim  TEXT    UNIQUE,
    monitoring    INTEGER NOT NULL DEFAULT 0 CHECK (monitoring IN (0, 1))
) STRICT;

CREATE TABLE sessions (
    id             TEXT    NOT NULL PRIMARY KEY,
    account_id     TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    application_id TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    ended_at       INTEGER                       -- NULL while open
) STRICT;

CREATE INDEX sessions_account_last_used ON sessions (account_id, last_used_at);

CREATE TABLE login_failures (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE login_locks (
    key   TEXT    NOT NULL PRIMARY KEY,
    until INTEGER NOT NULL
) STRICT;

-- The primary key makes EGV dedupe idempotent across instances; WITHOUT
-- ROWID clusters an account's readings by ST for the latest-first scans.
CREATE TABLE readings (
    account_id  TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    st          INTEGER NOT NULL,
    value       INTEGER NOT NULL,
    trend       INTEGER NOT NULL,
    offset_min  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, st)
) STRICT, WITHOUT ROWID;

CREATE TABLE account_images (
    account_id   TEXT NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    declared_as  TEXT NOT NULL DEFAULT '',
    data         BLOB NOT NULL
) STRICT;

CREATE TABLE runtime_info (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    info       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, role)
) STRICT;

-- TEXT compares with BINARY (byte order) by default.
CREATE TABLE named_values (
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    partition_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (account_id, partition_id, name)
) STRICT, WITHOUT ROWID;
