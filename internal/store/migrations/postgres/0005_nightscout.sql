-- glucoshare schema version 5 (PostgreSQL): credentials of the Nightscout-
-- compatible API (internal/nightscout). Times are Unix milliseconds.
--
-- No secret or token is stored in a form a client could present. A secret
-- is kept as the hex SHA-256 of the SHA-1 hex that Nightscout clients send
-- in their api-secret header; a token as the hex SHA-256 of the token.
-- These keys are unique because the credential alone names the account.

CREATE TABLE nightscout_secrets (
    account_id TEXT   NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret_key TEXT   NOT NULL UNIQUE,
    updated_at BIGINT NOT NULL
);

-- subscription_id is set on a follower's token: it reads that
-- subscription's publisher within the subscription's permissions.
CREATE TABLE nightscout_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_key       TEXT    NOT NULL UNIQUE,
    read_only       BOOLEAN NOT NULL DEFAULT FALSE,
    subscription_id TEXT    REFERENCES subscriptions (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL
);

CREATE INDEX nightscout_tokens_account ON nightscout_tokens (account_id, created_at);
CREATE INDEX nightscout_tokens_subscription ON nightscout_tokens (subscription_id);
