-- glucoshare schema version 10 (PostgreSQL): notification channels. A follower's
-- alarm events (and notices to an account owner) reach every channel of the
-- account that wants them: webhooks (moved here from the webhooks table,
-- ids kept), Web Push subscriptions of its devices, ntfy topics and
-- Pushover user keys. One outbox, deliveries, replaces webhook_deliveries.
-- Times are Unix milliseconds.

CREATE TABLE channels (
    id                TEXT    NOT NULL PRIMARY KEY,
    account_id        TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('webhook', 'webpush', 'ntfy', 'pushover')),
    -- webhook URL, push service endpoint or ntfy topic URL; '' for Pushover
    url               TEXT    NOT NULL DEFAULT '',
    secret            TEXT    NOT NULL DEFAULT '', -- webhook: signs each delivery
    p256dh            TEXT    NOT NULL DEFAULT '', -- webpush: the subscription's keys (RFC 8291)
    auth              TEXT    NOT NULL DEFAULT '',
    -- ntfy access token, sealed under the operator's secret key (base64); '' = none
    token_sealed      TEXT    NOT NULL DEFAULT '',
    user_key          TEXT    NOT NULL DEFAULT '', -- Pushover user or group key
    name              TEXT    NOT NULL DEFAULT '', -- the device, as its user agent names it
    -- what the channel wants: bit 1<<AlertType per alarm kind, by day and
    -- during quiet hours (minutes of the day in time_zone; -1 = none)
    kinds             INTEGER NOT NULL DEFAULT 30,
    quiet_kinds       INTEGER NOT NULL DEFAULT 8,
    quiet_start       INTEGER NOT NULL DEFAULT -1,
    quiet_end         INTEGER NOT NULL DEFAULT -1,
    time_zone         TEXT    NOT NULL DEFAULT 'UTC',
    urgent_low_off    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT  NOT NULL,
    last_delivered_at BIGINT
);

CREATE INDEX channels_account ON channels (account_id, created_at);
-- A browser's push subscription belongs to one account at a time.
CREATE UNIQUE INDEX channels_push_endpoint ON channels (url) WHERE kind = 'webpush';

INSERT INTO channels (id, account_id, kind, url, secret, created_at)
    SELECT id, account_id, 'webhook', url, secret, created_at FROM webhooks;

-- One row per message to send to a channel. A row is due while
-- delivered_at and failed_at are NULL and next_at has come; claiming moves
-- next_at forward.
CREATE TABLE deliveries (
    id           TEXT    NOT NULL PRIMARY KEY,
    channel_id   TEXT    NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    event        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT  NOT NULL,
    delivered_at BIGINT,
    failed_at    BIGINT,
    last_error   TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX deliveries_due ON deliveries (next_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX deliveries_channel ON deliveries (channel_id);

INSERT INTO deliveries (id, channel_id, event, payload, attempts, next_at, delivered_at, failed_at, last_error)
    SELECT id, webhook_id, event, payload, attempts, next_at, delivered_at, failed_at, last_error
    FROM webhook_deliveries;

DROP TABLE webhook_deliveries;
DROP TABLE webhooks;

-- Acknowledgement tokens: each push, ntfy or Pushover message of an alarm
-- carries a random token that acknowledges that alarm once, for that
-- account, until expires_at. Only the hex SHA-256 is kept. A Pushover
-- emergency message's receipt is kept with its token, to cancel its
-- retries when the alarm is acknowledged or cleared elsewhere.
CREATE TABLE ack_tokens (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    alarm_id    TEXT    NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    account_id  TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id  TEXT    NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    receipt     TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);

CREATE INDEX ack_tokens_alarm ON ack_tokens (alarm_id, channel_id);
CREATE INDEX ack_tokens_expiry ON ack_tokens (expires_at);

-- The server's VAPID key pair (RFC 8292), made once and shared by every
-- instance: push subscriptions are bound to its public key. The private
-- key is sealed under the operator's secret key when one is given
-- (sealed), else kept as is.
CREATE TABLE vapid_keys (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    public_key  TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    sealed      BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL
);
