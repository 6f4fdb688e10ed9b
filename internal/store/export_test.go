package store

import "time"

// ManualPolls makes db's PostgreSQL cache poll only when PollCache asks
// (and after db's own commits), so that tests decide when another
// instance's change is seen. Call it before the first read.
func ManualPolls(db *DB) { db.pollEvery = time.Hour }

// SetCacheLease sets how far ahead db's PostgreSQL cache sets the end of
// its lease on the change log (a minute by default), renewing it every
// sixth of that. Call it before the cache starts.
func SetCacheLease(db *DB, d time.Duration) { db.cacheLease = d }

// PollCache makes db's PostgreSQL cache poll the change log now, as its
// poller does every quarter of the bound. It reports whether the poll
// succeeded; without a cache it does nothing. It starts the cache when
// no read has.
func PollCache(db *DB) bool {
	if db.d.name != "postgres" || db.cacheStaleness <= 0 {
		return false
	}
	h := db.hot.Load()
	if h == nil {
		if h = db.startHot(); h == nil {
			return false
		}
	}
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	h.pgSync()
	return h.pg.good.Load() != 0
}

// SetFillHook runs fn once, when a fill of the cache reaches stage ("read":
// before it reads the database; "put": before it stores what it read).
func SetFillHook(t interface{ Cleanup(func()) }, stage string, fn func()) {
	testFillHook = func(s string) {
		if s == stage {
			testFillHook = nil
			fn()
		}
	}
	t.Cleanup(func() { testFillHook = nil })
}

// SetGroupHook makes db's committer call fn on every pass over a batch of
// Updates (SQLite): the batch's size and whether the pass takes a
// savepoint per Update. fn runs on the committer goroutine.
func SetGroupHook(db *DB, fn func(size int, savepoints bool)) { db.groupHook = fn }
