-- glucoshare schema version 18 (SQLite): nothing. Version 18 of the
-- PostgreSQL schema adds the change log behind its optional per-instance
-- cache, which SQLite has had since version 7 (internal/store/hot.go). The
-- version is kept so that both engines count their schema alike.
SELECT 1;
