package store

import (
	"context"
	"time"
)

// Checkpoints (SQLite). By default SQLite checkpoints inside the COMMIT
// that takes the write-ahead log past 1,000 pages: that commit copies the
// pages into the database file and fsyncs it, and every upload queued
// behind it waits, for hundreds of milliseconds once the database is large.
// So the writer connection does not checkpoint (wal_autocheckpoint=0), and
// a goroutine runs PASSIVE checkpoints on a connection of its own instead.
// A passive checkpoint never blocks a writer or a reader: it copies what
// no reader still needs, and the writer starts the log over once all of it
// has been copied.

// checkpointEvery is how often the log is checkpointed.
const checkpointEvery = 250 * time.Millisecond

func (db *DB) startCheckpoints() {
	db.ckptQuit = make(chan struct{})
	db.ckptDone = make(chan struct{})
	go func() {
		defer close(db.ckptDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-db.ckptQuit:
				return
			case <-t.C:
			}
			// Errors (SQLITE_BUSY while another process checkpoints) only
			// mean that this round copied less; the next one goes on.
			db.ckpt.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}()
}

func (db *DB) stopCheckpoints() {
	if db.ckptQuit == nil {
		return
	}
	close(db.ckptQuit)
	<-db.ckptDone
}
