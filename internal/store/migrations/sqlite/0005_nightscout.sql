-- glucoshare schema version 5 (SQLite): credentials of the Nightscout-
-- compatible API (internal/nightscout). Times are Unix milliseconds;
-- booleans are 0/1.
--
-- No secret or token is stored in a form a client could present. A secret
-- is kept as the hex SHA-256 of the SHA-1 hex that Nightscout clients send
-- in their api-secret header; a token as the hex SHA-256 of the token.
-- These keys are unique because the credential alone names the account.

CREATE TABLE nightscout_secrets (
    account_id TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret_key TEXT    NOT NULL UNIQUE,
    updated_at INTEGER NOT NULL
) STRICT;

-- subscription_id is set on a follower's token: it reads that
-- subscription's publisher within the subscription's permissions.
CREATE TABLE nightscout_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_key       TEXT    NOT NULL UNIQUE,
    read_only       INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    subscription_id TEXT    REFERENCES subscriptions (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX nightscout_tokens_account ON nightscout_tokens (account_id, created_at);
CREATE INDEX nightscout_tokens_subscription ON nightscout_tokens (subscription_id);
