-- glucoshare schema version 19 (SQLite): nothing. Version 19 of the
-- PostgreSQL schema writes its change log only while an instance runs the
-- cache; SQLite's log (version 7) serves the cache that every SQLite
-- server runs. The version is kept so that both engines count their
-- schema alike.
SELECT 1;
