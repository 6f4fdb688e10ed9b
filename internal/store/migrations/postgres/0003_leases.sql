-- glucoshare schema version 3 (PostgreSQL): leases. Background work that
-- must run once among several server instances on one database (expiry
-- sweeps, alarm evaluation) runs on the instance holding its lease.
-- expires_at is Unix milliseconds; a lease is free from that moment on.

CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
