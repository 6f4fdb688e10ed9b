-- glucoshare schema version 9 (PostgreSQL): crash recovery of alarm work.
--
-- alarm_marks: a publisher whose newest readings still wait for their alarm
-- evaluation. An upload that stores readings for a publisher with alarm
-- work writes the mark in its own transaction; the evaluation that covers
-- them deletes it in its own, if no later upload marked the publisher again
-- (gen counts the uploads' marks). A mark that outlives its upload was left
-- by a crash and is picked up at start, on every alarm tick, and when the
-- uploader re-sends the reading.
CREATE TABLE alarm_marks (
    publisher_id TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    gen          BIGINT  NOT NULL
);

-- leases.next_run_at: when the leased work is next due (Unix ms), kept in
-- the database so that the instance that takes a lease over continues the
-- schedule instead of starting its own; 0 = at once.
ALTER TABLE leases ADD COLUMN next_run_at BIGINT NOT NULL DEFAULT 0;
