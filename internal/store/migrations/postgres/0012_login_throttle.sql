-- glucoshare schema version 12: login throttling per account and client
-- address, with growing delays instead of a lock (docs/security.md).
--
-- login_throttle holds one counter per key instead of one row per failure.
-- A key names an account and a client address or session ("<id> <addr>"),
-- an account as a whole ("<id> *"), or, for names and ids that match no
-- account, one of a fixed number of buckets of a keyed hash ("? 3fa",
-- "* 0c1"), so that failures with unknown names cannot grow storage.
-- login_addresses remembers where each account logged in successfully, so
-- that those addresses keep working while others are slowed down.
-- server_keys holds the server's random keys (the bucket hash's key).
-- named_values.size is each value's name and value in bytes, so that an
-- account's named values can be bounded as a whole (core/profile.go).

DROP TABLE login_failures;
DROP TABLE login_locks;

CREATE TABLE login_throttle (
    key       TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    failures  INTEGER NOT NULL,
    until     BIGINT  NOT NULL,  -- attempts before this are refused
    forget_at BIGINT  NOT NULL   -- the row counts nothing from then on
);

CREATE TABLE login_addresses (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    addr       TEXT    NOT NULL,  -- an IPv4 address or an IPv6 /64
    last_at    BIGINT  NOT NULL,
    PRIMARY KEY (account_id, addr)
);

CREATE TABLE server_keys (
    name  TEXT NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);

ALTER TABLE named_values ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE named_values SET size = octet_length(name) + octet_length(value);
