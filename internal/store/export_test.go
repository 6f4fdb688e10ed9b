package store

import "time"

// ManualPolls makes db's PostgreSQL cache poll only when PollCache asks
// (and after db's own commits), so that tests decide when another
// instance's change is seen. Call it before the first read.
func ManualPolls(db *DB) { db.pollEvery = time.Hour }

// PollCache makes db's PostgreSQL cache poll the change log now, as its
// poller does every quarter of the bound. It reports whether the poll
// succeeded; without a cache it does nothing.
func PollCache(db *DB) bool {
	h := db.hot.Load()
	if h == nil || h.pg == nil {
		return false
	}
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	h.pgSync()
	return h.pg.good.Load() != 0
}
