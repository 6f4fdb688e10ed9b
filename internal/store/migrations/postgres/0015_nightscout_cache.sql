-- glucoshare schema version 15 (PostgreSQL): nothing. Version 15 of the
-- SQLite schema lets its in-memory cache hold API secrets and answer the newest entries; PostgreSQL has
-- no such cache (internal/store/hot.go). The version is kept so that both
-- engines count their schema alike.
SELECT 1;
