-- glucoshare schema version 2 (PostgreSQL): contacts, subscriptions (with
-- their invitations) and alarms (docs/protocol.md, "Publisher: contacts and followers", "Follower state machine", "Alerts and alarms"). Times are Unix
-- milliseconds.

-- A deleted contact keeps its row (deleted_at set): its subscriptions still
-- answer the follower. current_subscription_id names the contact's most
-- recent subscription; it has no foreign key because subscriptions refer
-- to contacts, and both go together only when the publisher's account is
-- deleted.
CREATE TABLE contacts (
    id                      TEXT   NOT NULL PRIMARY KEY,
    publisher_id            TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                    TEXT   NOT NULL,
    name_key                TEXT   COLLATE "C" NOT NULL,
    email                   TEXT   NOT NULL DEFAULT '',
    created_at              BIGINT NOT NULL,
    deleted_at              BIGINT,                  -- NULL while not deleted
    current_subscription_id TEXT
);

-- Names are unique among the publisher's non-deleted contacts, compared
-- by name key; the index also serves counting them.
CREATE UNIQUE INDEX contacts_publisher_name_key ON contacts (publisher_id, name_key)
    WHERE deleted_at IS NULL;

-- Alert settings are JSON text (share.AlertSettings); durations inside keep
-- the string received. subscriber_id is set on acceptance; deleting the
-- follower's account must first move 6, 7, 8 to 12.
CREATE TABLE subscriptions (
    id              TEXT     NOT NULL PRIMARY KEY,
    contact_id      TEXT     NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    publisher_id    TEXT     NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subscriber_id   TEXT     REFERENCES accounts (id) ON DELETE SET NULL,
    invitation_id   TEXT     NOT NULL UNIQUE,
    state           INTEGER  NOT NULL CHECK (state BETWEEN 2 AND 12),
    permissions     INTEGER  NOT NULL CHECK (permissions IN (0, 1)),
    display_name    TEXT     NOT NULL DEFAULT '',
    invite_settings TEXT     NOT NULL,
    alert_settings  TEXT     NOT NULL,
    invite_expires  BIGINT   NOT NULL,
    created_at      BIGINT   NOT NULL,
    modified_at     BIGINT   NOT NULL,
    accepted_at     BIGINT,                          -- NULL until accepted
    active_since    BIGINT                           -- last entry into state 6
);

CREATE INDEX subscriptions_publisher_state ON subscriptions (publisher_id, state);
CREATE INDEX subscriptions_subscriber ON subscriptions (subscriber_id, accepted_at);
CREATE INDEX subscriptions_contact ON subscriptions (contact_id);

-- Alarms (docs/protocol.md, "Alarm lifecycle"). At most one open (Active or Acknowledged) alarm per
-- subscription and kind, across server instances: the partial unique
-- index makes a second firing of the same episode a conflict.
CREATE TABLE alarms (
    id               TEXT     NOT NULL PRIMARY KEY,
    subscription_id  TEXT     NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    alert_type       INTEGER  NOT NULL CHECK (alert_type BETWEEN 1 AND 4),
    state            TEXT     NOT NULL CHECK (state IN ('Active', 'Acknowledged', 'Cleared')),
    value            INTEGER  NOT NULL,
    triggered_at     BIGINT   NOT NULL,
    last_notified_at BIGINT   NOT NULL,
    notify_count     INTEGER  NOT NULL,
    acknowledged_at  BIGINT,
    cleared_at       BIGINT
);

CREATE UNIQUE INDEX alarms_open ON alarms (subscription_id, alert_type)
    WHERE state IN ('Active', 'Acknowledged');
CREATE INDEX alarms_subscription_triggered ON alarms (subscription_id, triggered_at);
