-- glucoshare schema version 7 (PostgreSQL): nothing. Version 7 of the
-- SQLite schema adds the change log behind its in-memory cache; on
-- PostgreSQL, where several servers share the database, the hot reads go to
-- the database every time (internal/store/hot.go). The version is kept so
-- that both engines count their schema alike.
SELECT 1;
