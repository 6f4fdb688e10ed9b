package store_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// The cache on PostgreSQL (--db-cache-staleness): two handles on one
// database stand for two instances. Each polls only when a test says so
// (store.PollCache), so that what an instance has seen is decided here.

// pgInstances opens the same fresh PostgreSQL database twice, both with the
// cache on, bounded by staleness.
func pgInstances(t *testing.T, staleness time.Duration) (*store.DB, *store.DB) {
	t.Helper()
	if !strings.HasPrefix(os.Getenv(storetest.EnvDB), "postgres") {
		t.Skip("the staleness-bounded cache is PostgreSQL's")
	}
	return twoHandles(t, store.Options{CacheStaleness: staleness})
}

// poll makes db poll, as its poller does every quarter of the bound.
func poll(t *testing.T, db *store.DB) {
	t.Helper()
	if !store.PollCache(db) {
		t.Fatal("the poll failed")
	}
}

// TestPGCacheSeesOtherInstances: each change made through one instance is
// answered by that instance at once, by the other one after its next poll
// (and, before that poll, from its memory: the cache is in use), and never
// again the old state.
func TestPGCacheSeesOtherInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type state struct {
		ended, disabled, gone, noSecret bool
		newest                          int64 // ST of the newest reading, 0 for none
	}
	read := func(t *testing.T, db *store.DB, sessionID, accountID, key string) state {
		t.Helper()
		var st state
		rctx := db.Fresh(ctx)
		s, a, err := db.SessionWithAccount(rctx, sessionID)
		switch {
		case errors.Is(err, glucose.ErrNotFound):
			st.gone = true
		case err != nil:
			t.Fatal(err)
		default:
			st.ended, st.disabled = s.Ended(), a.Disabled
		}
		if _, _, err := db.NightscoutSecretWithAccount(rctx, []string{key}); errors.Is(err, glucose.ErrNotFound) {
			st.noSecret = true
		} else if err != nil {
			t.Fatal(err)
		}
		rs, err := db.LatestReadings(rctx, accountID, math.MinInt64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			st.newest = rs[0].ST
		}
		return st
	}
	type step struct {
		name   string
		change func(t *testing.T, w *store.DB, svc *core.Service, a *glucose.Account, s *glucose.Session)
		want   func(*state) // the state after the change
	}
	st := t0.UnixMilli()
	next := st + 300_000
	steps := []step{
		{"new reading", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, _ *glucose.Session) {
			insert(t, w, a.ID, []glucose.Reading{reading(next, 120)})
		}, func(s *state) { s.newest = next }},
		{"upload", func(t *testing.T, _ *store.DB, svc *core.Service, a *glucose.Account, _ *glucose.Session) {
			res, err := svc.PostReadings(ctx, a.ID, "SM12345678", []core.EGV{{ST: next, Value: 130}}, time.UnixMilli(next))
			if err != nil || res.Stored != 1 {
				t.Fatalf("upload: %+v, %v", res, err)
			}
		}, func(s *state) { s.newest = next }},
		{"reading deletion", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, _ *glucose.Session) {
			update(t, w, func(tx glucose.Tx) error {
				_, err := tx.DeleteReadings(a.ID, glucose.DocQuery{}, 0)
				return err
			})
		}, func(s *state) { s.newest = 0 }},
		{"secret change", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, _ *glucose.Session) {
			update(t, w, func(tx glucose.Tx) error {
				return tx.SetNightscoutSecret(&glucose.NightscoutSecret{AccountID: a.ID, Key: "key-2", KeyID: "sha256", UpdatedAt: t0})
			})
		}, func(s *state) { s.noSecret = true }},
		{"account disabled", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, _ *glucose.Session) {
			update(t, w, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, true) })
		}, func(s *state) { s.disabled = true }},
		{"password change", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, s *glucose.Session) {
			// As core.ChangePassword: the other sessions end.
			update(t, w, func(tx glucose.Tx) error {
				if err := tx.SetPasswordHash(a.ID, "new hash"); err != nil {
					return err
				}
				return tx.EndOtherSessions(a.ID, glucose.NewID(), t0.Add(time.Hour))
			})
		}, func(s *state) { s.ended = true }},
		{"logout", func(t *testing.T, _ *store.DB, svc *core.Service, _ *glucose.Account, s *glucose.Session) {
			if err := svc.Logout(ctx, s.ID, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(s *state) { s.ended = true }},
		{"account deletion", func(t *testing.T, w *store.DB, _ *core.Service, a *glucose.Account, _ *glucose.Session) {
			update(t, w, func(tx glucose.Tx) error { return tx.DeleteAccount(a.ID) })
		}, func(s *state) { *s = state{gone: true, noSecret: true} }},
	}
	for _, sp := range steps {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			w, r := pgInstances(t, time.Hour)
			svc := core.New(w, core.DefaultConfig())
			a := createAccount(t, w, "alice")
			s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
			update(t, w, func(tx glucose.Tx) error {
				if err := tx.CreateSession(s); err != nil {
					return err
				}
				if err := tx.SetReceiver(a.ID, "SM12345678", glucose.NewID(), true); err != nil {
					return err
				}
				if err := tx.SetMonitoring(a.ID, true); err != nil {
					return err
				}
				if _, err := tx.InsertReadings(a.ID, []glucose.Reading{reading(st, 100)}); err != nil {
					return err
				}
				return tx.SetNightscoutSecret(&glucose.NightscoutSecret{AccountID: a.ID, Key: "key-1", KeyID: "sha256", UpdatedAt: t0})
			})
			poll(t, r)
			old := state{newest: st}
			// Both instances cache the old state.
			for _, db := range []*store.DB{w, r} {
				for range 2 {
					if got := read(t, db, s.ID, a.ID, "key-1"); got != old {
						t.Fatalf("before the change: %+v, want %+v", got, old)
					}
				}
			}
			sp.change(t, w, svc, a, s)
			want := old
			sp.want(&want)
			if got := read(t, w, s.ID, a.ID, "key-1"); got != want {
				t.Errorf("the instance that made the change: %+v, want %+v", got, want)
			}
			if got := read(t, r, s.ID, a.ID, "key-1"); got != old {
				t.Errorf("the other instance before its poll: %+v; want the old state %+v from its memory", got, old)
			}
			poll(t, r)
			for i := range 3 {
				if got := read(t, r, s.ID, a.ID, "key-1"); got != want {
					t.Errorf("the other instance after its poll, read %d: %+v, want %+v", i, got, want)
				}
				poll(t, r) // an empty poll changes nothing
			}
		})
	}
}

// TestPGCacheFillRace: a fill that read the database before a change and
// stores its answer after the poll that applied the change must not store
// it; otherwise the old state would stay in memory for good.
func TestPGCacheFillRace(t *testing.T) {
	w, r := pgInstances(t, time.Hour)
	ctx := context.Background()
	a := createAccount(t, w, "alice")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, w, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	insert(t, w, a.ID, []glucose.Reading{reading(1000, 100)})
	poll(t, r)

	store.SetFillHook(t, "put", func() {
		insert(t, w, a.ID, []glucose.Reading{reading(2000, 110)})
		update(t, w, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
		poll(t, r)
	})
	rs, err := r.LatestReadings(r.Fresh(ctx), a.ID, math.MinInt64, 12)
	if err != nil || len(rs) != 1 {
		t.Fatalf("the racing fill: %+v, %v; want the 1 reading there was when it read", rs, err)
	}
	if rs, _ := r.LatestReadings(r.Fresh(ctx), a.ID, math.MinInt64, 12); len(rs) != 2 || rs[0].ST != 2000 {
		t.Errorf("after the fill: %+v; want both readings", rs)
	}

	store.SetFillHook(t, "put", func() {
		update(t, w, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
		poll(t, r)
	})
	if _, err := w.SQL().ExecContext(ctx, `UPDATE sessions SET ended_at = NULL WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}
	poll(t, r)
	if gs, _, err := r.SessionWithAccount(r.Fresh(ctx), s.ID); err != nil || gs.Ended() {
		t.Fatalf("the racing fill: %+v, %v; want the open session it read", gs, err)
	}
	if gs, _, err := r.SessionWithAccount(r.Fresh(ctx), s.ID); err != nil || !gs.Ended() {
		t.Errorf("after a logout during the fill: %+v, %v; want it ended", gs, err)
	}
}

// TestPGCacheLagging: when the last successful poll started longer ago than
// the bound, the hot reads go to the database and are exact; they come
// from memory again after the next poll.
func TestPGCacheLagging(t *testing.T) {
	t.Parallel()
	const bound = 200 * time.Millisecond
	w, r := pgInstances(t, bound)
	var s *glucose.Session
	session := func(db *store.DB) *glucose.Session { // without polling first
		t.Helper()
		gs, _, err := db.SessionWithAccount(db.Fresh(context.Background()), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	a := createAccount(t, w, "alice")
	s = &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, w, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	poll(t, r)
	if gs := session(r); gs.Ended() {
		t.Fatal("a new session has ended")
	}
	update(t, w, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
	// Within the bound the cache may still answer the open session: the
	// documented staleness. Once the bound has passed without a poll, it
	// must not.
	time.Sleep(bound + 50*time.Millisecond)
	before := r.CacheStats().StaleReads
	if gs := session(r); !gs.Ended() {
		t.Error("a lagging cache answered a session ended longer ago than the bound")
	}
	if st := r.CacheStats(); st.StaleReads <= before || !st.On {
		t.Errorf("stats %+v: the read was not counted as sent to the database", st)
	}
	// The next poll makes the cache current again: the stale-read count
	// stays.
	if _, err := w.SQL().Exec(`UPDATE sessions SET ended_at = NULL WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}
	poll(t, r)
	before = r.CacheStats().StaleReads
	if gs := session(r); gs.Ended() {
		t.Error("after a poll: the session reopened is still ended")
	}
	if after := r.CacheStats().StaleReads; after != before {
		t.Errorf("after a poll, reads still go to the database (%d stale reads, %d before)", after, before)
	}
}

// TestPGCacheOutOfOrderCommits: transactions take their change-log sequence
// numbers in one order and commit in another. An entry whose seq is lower
// than one already applied must still be applied (a cursor on seq would
// skip it).
func TestPGCacheOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	w, r := pgInstances(t, time.Hour)
	ctx := context.Background()
	a, b := createAccount(t, w, "alice"), createAccount(t, w, "bob")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, w, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	poll(t, r)
	if gs, _ := hotSession(t, r, s.ID); gs.Ended() {
		t.Fatal("a new session has ended")
	}
	raw := w.SQL()
	first, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	if _, err := first.ExecContext(ctx, `UPDATE sessions SET ended_at = 5 WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `UPDATE accounts SET display_name = 'Bob' WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	poll(t, r) // applies bob's entry, whose seq is the higher
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	rows, err := raw.QueryContext(ctx, `SELECT seq FROM change_log WHERE account IN ($1, $2) AND kind = 'a' ORDER BY xid`, a.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if len(seqs) != 2 || seqs[0] >= seqs[1] {
		t.Fatalf("setup: seqs %v in transaction order; want alice's lower, committed last", seqs)
	}
	poll(t, r)
	if gs, _ := hotSession(t, r, s.ID); !gs.Ended() {
		t.Error("the cache missed a logout whose entry's seq was below one it had applied")
	}
}

// TestPGReadingsLoggedUnderConcurrentDeletion: a reading stored below an
// account's 12 newest writes no entry, but a concurrent deletion of newer
// readings may lift it among them once both commit. The store waits for
// the deletion and looks again, so its entry is written.
func TestPGReadingsLoggedUnderConcurrentDeletion(t *testing.T) {
	t.Parallel()
	w, _ := pgInstances(t, time.Hour)
	poll(t, w) // the log runs while an instance runs the cache
	ctx := context.Background()
	a := createAccount(t, w, "alice")
	var rs []glucose.Reading
	for i := range 13 {
		rs = append(rs, reading(int64(10_000+i*1000), 100))
	}
	insert(t, w, a.ID, rs)
	raw := w.SQL()
	del, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer del.Rollback()
	if _, err := del.ExecContext(ctx, `DELETE FROM readings WHERE account_id = $1 AND st >= 20000`, a.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var insErr error
	wg.Go(func() {
		_, insErr = raw.ExecContext(ctx, `INSERT INTO readings (account_id, st, value, trend, offset_min, received_at)
			VALUES ($1, 5000, 90, 0, 0, 5000)`, a.ID)
	})
	time.Sleep(200 * time.Millisecond) // the insert judges 5000 below the 12 newest, then waits
	if err := del.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if insErr != nil {
		t.Fatal(insErr)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM change_log WHERE account = $1 AND kind = 'r' AND st = 5000`,
		a.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d entries for the reading lifted among the 12 newest by a concurrent deletion, want 1", n)
	}
}

// TestPGCachePollFailure: a failed poll drops the cache and sends the hot
// reads to the database, exact, until a poll succeeds again.
func TestPGCachePollFailure(t *testing.T) {
	t.Parallel()
	w, r := pgInstances(t, time.Hour)
	a := createAccount(t, w, "alice")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, w, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	session := func() *glucose.Session { // without polling first
		t.Helper()
		gs, _, err := r.SessionWithAccount(r.Fresh(context.Background()), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	poll(t, r)
	if session().Ended() {
		t.Fatal("a new session has ended")
	}
	raw := w.SQL()
	exec := func(q string) {
		t.Helper()
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER TABLE change_log_pruned_xid RENAME TO change_log_pruned_away`)
	update(t, w, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
	if store.PollCache(r) {
		t.Fatal("a poll without change_log_pruned_xid succeeded")
	}
	if st := r.CacheStats(); st.PollFailures == 0 || st.Drops == 0 || st.Age >= 0 {
		t.Errorf("after a failed poll: %+v", st)
	}
	if !session().Ended() {
		t.Error("after a failed poll, the cache answered a session that had ended")
	}
	exec(`ALTER TABLE change_log_pruned_away RENAME TO change_log_pruned_xid`)
	poll(t, r)
	before := r.CacheStats().StaleReads
	for range 2 {
		if !session().Ended() {
			t.Error("after the polls recovered: the session has not ended")
		}
	}
	if st := r.CacheStats(); st.StaleReads != before || st.Age < 0 {
		t.Errorf("after the polls recovered, reads still go to the database: %+v", st)
	}
}

// changeLog counts the change log's entries naming account, or all of them
// for "".
func changeLog(t *testing.T, db *store.DB, account string) int {
	t.Helper()
	var n int
	err := db.SQL().QueryRow(`SELECT COUNT(*) FROM change_log WHERE $1 = '' OR account = $1`, account).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writerOnly fails the test when w runs the cache: w stands for an
// instance without it.
func writerOnly(t *testing.T, w *store.DB) {
	t.Helper()
	if w.CacheStats().On {
		t.Fatal("setup: the writing handle runs the cache")
	}
}

// TestPGChangeLogOffWithoutCache: while no instance runs the cache, writes
// append nothing to the change log.
func TestPGChangeLogOffWithoutCache(t *testing.T) {
	t.Parallel()
	if !strings.HasPrefix(os.Getenv(storetest.EnvDB), "postgres") {
		t.Skip("SQLite's change log serves the cache every SQLite server runs")
	}
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	insert(t, db, a.ID, []glucose.Reading{reading(1000, 100)})
	update(t, db, func(tx glucose.Tx) error { return tx.TouchSession(s.ID, t0.Add(time.Minute)) })
	update(t, db, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
	update(t, db, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, true) })
	update(t, db, func(tx glucose.Tx) error {
		return tx.SetNightscoutSecret(&glucose.NightscoutSecret{AccountID: a.ID, Key: "key-1", KeyID: "sha256", UpdatedAt: t0})
	})
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.DeleteReadings(a.ID, glucose.DocQuery{}, 0)
		return err
	})
	if n := changeLog(t, db, ""); n != 0 {
		t.Errorf("%d change-log entries written while no instance runs the cache, want 0", n)
	}
}

// TestPGChangeLogLease: the log runs from when an instance starts the
// cache, while it renews its lease, and stops once the lease lapses.
func TestPGChangeLogLease(t *testing.T) {
	t.Parallel()
	const lease = 300 * time.Millisecond
	w, r := pgInstances(t, time.Hour)
	store.SetCacheLease(r, lease)
	a := createAccount(t, w, "alice")
	st := int64(1000)
	stored := func(want int, when string) {
		t.Helper()
		insert(t, w, a.ID, []glucose.Reading{reading(st, 100)})
		st += 1000
		if n := changeLog(t, w, a.ID); n != want {
			t.Errorf("%s: %d entries for alice, want %d", when, n, want)
		}
	}
	stored(0, "before any instance runs the cache")
	poll(t, r)
	stored(1, "once an instance runs the cache")
	for end := time.Now().Add(3 * lease); time.Now().Before(end); time.Sleep(lease / 10) {
		poll(t, r) // renews the lease every sixth of it
	}
	stored(2, "after three leases of polls")
	time.Sleep(lease + 100*time.Millisecond) // no poll: the lease lapses
	stored(2, "after the lease lapsed")
	writerOnly(t, w)
}

// TestPGCacheStartWaitsForOlderWriters: a transaction that stored a
// reading before the instance's lease on the change log was committed, so
// without an entry, and commits after, must not be missed: the cache does
// not answer until it has ended.
func TestPGCacheStartWaitsForOlderWriters(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"began before the lease", "stored while the lease was committing"} {
		// One after the other: in the second case a cache that waited
		// only for the transactions below the xmax of a snapshot taken
		// after its lease's commit would start too early, unless another
		// transaction, such as the first case's, ended in between.
		t.Run(name, func(t *testing.T) {
			w, r := pgInstances(t, time.Hour)
			ctx := context.Background()
			a := createAccount(t, w, "alice")
			insert(t, w, a.ID, []glucose.Reading{reading(1000, 100)})
			raw := w.SQL()
			begin := func() *sql.Tx {
				t.Helper()
				tx, err := raw.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tx.Rollback() })
				return tx
			}
			var lock *sql.Tx
			if name == "stored while the lease was committing" {
				// The lease's UPDATE takes its transaction id, then
				// waits for this lock; the reading's transaction takes
				// a newer id and looks at the lease before it commits.
				lock = begin()
				if _, err := lock.ExecContext(ctx, `SELECT 1 FROM change_log_lease FOR UPDATE`); err != nil {
					t.Fatal(err)
				}
			}
			writer := func() *sql.Tx {
				tx := begin()
				if _, err := tx.ExecContext(ctx, `INSERT INTO readings (account_id, st, value, trend, offset_min, received_at)
					VALUES ($1, 2000, 110, 0, 0, 2000)`, a.ID); err != nil {
					t.Fatal(err)
				}
				return tx
			}
			var older *sql.Tx
			if lock == nil {
				older = writer()
			}
			started := make(chan bool, 1)
			go func() { started <- store.PollCache(r) }()
			if lock != nil {
				waitForLockWait(t, raw)
				older = writer()
				if err := lock.Rollback(); err != nil {
					t.Fatal(err)
				}
			}
			var ok, early bool
			select {
			case ok = <-started:
				early = true
				t.Errorf("the cache started (%v) while a transaction older than its lease ran", ok)
			case <-time.After(300 * time.Millisecond):
			}
			// Were the cache answering, this would cache the one reading.
			if rs, err := r.LatestReadings(r.Fresh(ctx), a.ID, math.MinInt64, 12); err != nil || len(rs) != 1 {
				t.Fatalf("before the commit: %+v, %v", rs, err)
			}
			if err := older.Commit(); err != nil {
				t.Fatal(err)
			}
			if !early {
				ok = <-started
			}
			if !ok {
				t.Fatal("the cache did not start once the older transaction had ended")
			}
			poll(t, r)
			rs := hotLatest(t, r, a.ID, math.MinInt64, 12)
			if len(rs) != 2 || rs[0].ST != 2000 {
				t.Errorf("the cache answers %+v; want the reading stored by the older transaction too", rs)
			}
			writerOnly(t, w)
		})
	}
}

// waitForLockWait waits until a connection to db's database waits for a
// lock.
func waitForLockWait(t *testing.T, db *sql.DB) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("no connection waits for the lock")
}

// TestPGCacheLapsedLease: an instance that did not renew its lease in time
// (it stalled) may have missed changes made while the log stopped: it drops
// its whole cache and starts again.
func TestPGCacheLapsedLease(t *testing.T) {
	t.Parallel()
	const lease = 300 * time.Millisecond
	w, r := pgInstances(t, time.Hour)
	store.SetCacheLease(r, lease)
	a := createAccount(t, w, "alice")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, w, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	poll(t, r)
	for range 2 {
		if gs, _ := hotSession(t, r, s.ID); gs.Ended() {
			t.Fatal("a new session has ended")
		}
	}
	time.Sleep(lease + 100*time.Millisecond) // the instance stalls
	update(t, w, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) })
	before := r.CacheStats().Drops
	if store.PollCache(r) {
		t.Error("a poll after the lease lapsed succeeded")
	}
	if st := r.CacheStats(); st.Drops <= before || st.Age >= 0 {
		t.Errorf("after the lease lapsed: %+v; want the cache dropped", st)
	}
	for range 2 {
		if gs, _ := hotSession(t, r, s.ID); !gs.Ended() {
			t.Error("after its lease lapsed, the cache answered a session ended meanwhile")
		}
	}
	if st := r.CacheStats(); st.Age < 0 {
		t.Errorf("%+v: the cache did not start again", st)
	}
	writerOnly(t, w)
}
