-- glucoshare schema version 4 (PostgreSQL): read tokens of the web dashboard.
-- A token lets a watch face, widget or e-ink display fetch glucose images
-- of one publisher without a session. A publisher's own token has no
-- subscription_id; a follower's token names its subscription, whose state
-- and permissions are checked at every fetch. Only the hex SHA-256 of the
-- token is stored. Times are Unix milliseconds.
CREATE TABLE read_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    publisher_id    TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subscription_id TEXT    REFERENCES subscriptions (id) ON DELETE CASCADE,
    token_hash      TEXT    NOT NULL UNIQUE,
    label           TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL
);

CREATE INDEX read_tokens_account ON read_tokens (account_id, created_at);
