-- glucoshare schema version 1 (PostgreSQL). Times are Unix milliseconds.
-- Columns that are sorted for clients use COLLATE "C" (byte order), the
-- order SQLite's BINARY gives.

CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at BIGINT  NOT NULL
);

CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    name_key      TEXT    COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    compat        TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    serial        TEXT    NOT NULL DEFAULT '',   -- '' = no receiver
    receiver_id   TEXT    NOT NULL DEFAULT '',
    -- the serial when held exclusively, else NULL: the unique index lets
    -- one account at most hold a serial, across server instances
    serial_claim  TEXT    UNIQUE,
    monitoring    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE sessions (
    id             TEXT   NOT NULL PRIMARY KEY,
    account_id     TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    application_id TEXT   NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    ended_at       BIGINT                        -- NULL while open
);

CREATE INDEX sessions_account_last_used ON sessions (account_id, last_used_at);

CREATE TABLE login_failures (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);

CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE login_locks (
    key   TEXT   NOT NULL PRIMARY KEY,
    until BIGINT NOT NULL
);

-- The primary key makes EGV dedupe idempotent across instances.
CREATE TABLE readings (
    account_id  TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    st          BIGINT  NOT NULL,
    value       INTEGER NOT NULL,
    trend       INTEGER NOT NULL,
    offset_min  INTEGER NOT NULL,
    received_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, st)
);

CREATE TABLE account_images (
    account_id   TEXT  NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    content_type TEXT  NOT NULL,
    declared_as  TEXT  NOT NULL DEFAULT '',
    data         BYTEA NOT NULL
);

CREATE TABLE runtime_info (
    account_id TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    info       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, role)
);

CREATE TABLE named_values (
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    partition_id TEXT NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (account_id, partition_id, name)
);
