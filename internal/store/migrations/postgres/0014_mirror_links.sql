-- glucoshare schema version 14: mirrors of hosted Share accounts
-- (docs/mirror.md).
--
-- mirror_links holds at most one link per glucoshare account: the Share
-- server to read from (a region name or a base URL), the sharer's user name
-- and password, and the poller's state. The password, and the upstream
-- session once there is one, are sealed under the operator's --secret-key
-- (package secretkey) and bound to the account id and gen, so that neither
-- reads back from the database or a backup without the key. gen grows with
-- every re-link, so that a poll of the old credentials that ends after a
-- re-link records nothing.
--
-- A poller claims a due link (next_poll_at <= now) by setting claim_holder
-- and claim_until in one conditional UPDATE, so that two instances never
-- poll one link together; a claim whose holder died ends at claim_until.

CREATE TABLE mirror_links (
    account_id       TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    server           TEXT    NOT NULL,             -- us, ous, jp or a base URL
    username         TEXT    NOT NULL,
    password_sealed  BYTEA   NOT NULL,
    upstream_account TEXT    NOT NULL DEFAULT '',  -- the upstream account id, learnt at the first login
    session_sealed   BYTEA,                        -- NULL until a login
    gen              BIGINT  NOT NULL,
    broken           INTEGER NOT NULL DEFAULT 0,   -- 1: the upstream refused the credentials; no polls
    next_poll_at     BIGINT  NOT NULL,
    claim_holder     TEXT    NOT NULL DEFAULT '',
    claim_until      BIGINT  NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,   -- consecutive failed polls, for the backoff
    lag_ms           BIGINT  NOT NULL,             -- observed delay from a reading's time to its appearance upstream
    last_success_at  BIGINT  NOT NULL DEFAULT 0,
    last_reading_st  BIGINT  NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    last_error_at    BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL
);

CREATE INDEX mirror_links_due ON mirror_links (next_poll_at) WHERE broken = 0;
