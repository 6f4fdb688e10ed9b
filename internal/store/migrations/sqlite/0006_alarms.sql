-- glucoshare schema version 6 (SQLite): followers' webhooks and the outbox
-- of webhook deliveries (docs/protocol.md, "Alerts and alarms"; alarms themselves are in 0002).

CREATE TABLE webhooks (
    id         TEXT    NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX webhooks_account ON webhooks (account_id);

-- One row per request to send. A row is due while delivered_at and
-- failed_at are NULL and next_at has come; claiming moves next_at forward.
CREATE TABLE webhook_deliveries (
    id           TEXT    NOT NULL PRIMARY KEY,
    webhook_id   TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    delivered_at INTEGER,
    failed_at    INTEGER,
    last_error   TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
