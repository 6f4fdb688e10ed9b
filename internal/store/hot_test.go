package store_test

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// The hot reads must answer exactly what a transaction would, whoever
// wrote last: this handle, or another one on the same database (another
// process, on SQLite: another server or a command-line tool).

// twoHandles opens the same fresh database twice. On PostgreSQL both run
// the cache (unless opts turn it off), polling when fresh asks.
func twoHandles(t *testing.T, opts store.Options) (*store.DB, *store.DB) {
	t.Helper()
	dsn := storetest.DSN(t)
	ctx := context.Background()
	if strings.HasPrefix(dsn, "postgres") && opts.CacheAccounts >= 0 && opts.CacheStaleness == 0 {
		opts.CacheStaleness = time.Hour
	}
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(ctx, dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		store.ManualPolls(db)
		t.Cleanup(func() { db.Close() })
		if _, _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

// fresh starts a request on db. On PostgreSQL its cache polls first, as
// its poller would have by then: another handle's changes are seen after
// that poll.
func fresh(db *store.DB) context.Context {
	store.PollCache(db)
	return db.Fresh(context.Background())
}

func hotSession(t *testing.T, db *store.DB, id string) (*glucose.Session, *glucose.Account) {
	t.Helper()
	ctx := fresh(db)
	s, a, err := db.SessionWithAccount(ctx, id)
	if err != nil {
		t.Fatalf("SessionWithAccount: %v", err)
	}
	return s, a
}

func hotLatest(t *testing.T, db *store.DB, accountID string, since int64, max int) []glucose.Reading {
	t.Helper()
	rs, err := db.LatestReadings(fresh(db), accountID, since, max)
	if err != nil {
		t.Fatalf("LatestReadings: %v", err)
	}
	return rs
}

func TestHotReadsSeeEveryWriter(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"same handle", "other handle"} {
		t.Run(name, func(t *testing.T) {
			db, other := twoHandles(t, store.Options{})
			writer := db
			if name == "other handle" {
				writer = other
			}
			a := createAccount(t, db, "alice")
			s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
			update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
			insert(t, db, a.ID, []glucose.Reading{reading(1000, 100), reading(2000, 110)})

			// Twice each: the second answer may come from memory.
			for range 2 {
				gs, ga := hotSession(t, db, s.ID)
				if gs.Ended() || ga.Disabled || ga.ID != a.ID || !gs.LastUsedAt.Equal(t0) {
					t.Fatalf("session %+v, account %+v", gs, ga)
				}
				if rs := hotLatest(t, db, a.ID, 0, 1); len(rs) != 1 || rs[0].ST != 2000 {
					t.Fatalf("latest %+v, want ST 2000", rs)
				}
			}

			insert(t, writer, a.ID, []glucose.Reading{reading(3000, 120)})
			if rs := hotLatest(t, db, a.ID, 0, 2); len(rs) != 2 || rs[0].ST != 3000 || rs[1].ST != 2000 {
				t.Errorf("after a new reading: %+v", rs)
			}
			update(t, writer, func(tx glucose.Tx) error { return tx.TouchSession(s.ID, t0.Add(time.Minute)) })
			if gs, _ := hotSession(t, db, s.ID); !gs.LastUsedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("after a touch: LastUsedAt %v", gs.LastUsedAt)
			}
			update(t, writer, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, true) })
			if _, ga := hotSession(t, db, s.ID); !ga.Disabled {
				t.Errorf("after disabling: the account is not disabled")
			}
			update(t, writer, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(2*time.Minute)) })
			if gs, _ := hotSession(t, db, s.ID); !gs.Ended() {
				t.Errorf("after logout: the session has not ended")
			}
			update(t, writer, func(tx glucose.Tx) error {
				_, err := tx.PurgeReadings(a.ID, 4000, 10)
				return err
			})
			if rs := hotLatest(t, db, a.ID, 0, 5); len(rs) != 0 {
				t.Errorf("after purging every reading: %+v", rs)
			}
			update(t, writer, func(tx glucose.Tx) error { return tx.DeleteAccount(a.ID) })
			_, _, err := db.SessionWithAccount(fresh(db), s.ID)
			wantErr(t, "session of a deleted account", err, glucose.ErrNotFound)
		})
	}
}

// TestHotReadingsMatchTransactions compares the hot read with the
// transactional one after random uploads, back-fills and purges by two
// handles, for every window and count the protocol's clients use.
func TestHotReadingsMatchTransactions(t *testing.T) {
	t.Parallel()
	for _, cache := range []int{0, 2, -1} { // default, tiny, off
		db, other := twoHandles(t, store.Options{CacheAccounts: cache})
		rng := rand.New(rand.NewPCG(uint64(cache+7), 1))
		var ids []string
		next := map[string]int64{}
		for i := range 4 {
			a := createAccount(t, db, string(rune('a'+i))+"nn")
			ids = append(ids, a.ID)
			next[a.ID] = 1_000_000
		}
		for step := range 300 {
			id := ids[rng.IntN(len(ids))]
			w := db
			if rng.IntN(2) == 0 {
				w = other
			}
			switch op := rng.IntN(10); {
			case op < 6: // a new reading
				next[id] += 300_000
				insert(t, w, id, []glucose.Reading{reading(next[id], 100+step%200)})
			case op < 8: // a back-fill, partly older than the newest
				var rs []glucose.Reading
				for k := range 20 {
					rs = append(rs, reading(next[id]-int64(rng.IntN(40))*300_000-int64(k), 80))
				}
				insert(t, w, id, rs)
			default: // retention
				update(t, w, func(tx glucose.Tx) error {
					_, err := tx.PurgeReadings(id, next[id]-int64(rng.IntN(30))*300_000, 1+rng.IntN(20))
					return err
				})
			}
			for _, check := range ids {
				for _, max := range []int{1, 2, 12, 13, 288} {
					since := next[check] - int64(rng.IntN(20))*300_000
					if rng.IntN(4) == 0 {
						since = math.MinInt64
					}
					got := hotLatest(t, db, check, since, max)
					want := latest(t, db, check, since, max)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("cache %d, step %d, since %d, max %d:\nhot %v\ntx  %v", cache, step, since, max, got, want)
					}
				}
			}
		}
	}
}

// TestHotCacheMissedEntries: when change-log entries that a server has not
// read are gone (pruned while it was idle), it drops its whole cache
// rather than keep what they would have evicted.
func TestHotCacheMissedEntries(t *testing.T) {
	t.Parallel()
	db, other := twoHandles(t, store.Options{})
	a := createAccount(t, db, "alice")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	if gs, _ := hotSession(t, db, s.ID); gs.Ended() {
		t.Fatal("a new session has ended")
	}
	raw := other.SQL()
	qs := []string{
		`UPDATE sessions SET ended_at = 5 WHERE id = '` + s.ID + `'`,
		`DELETE FROM change_log`,
		`INSERT INTO change_log (account, kind) VALUES ('someone else', 'a')`,
	}
	if db.Dialect() == "postgres" {
		// Pruning records the newest transaction whose entries went.
		qs[2] = `UPDATE change_log_pruned_xid SET xid = pg_current_xact_id()::text::bigint`
	}
	for _, q := range qs {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if gs, _ := hotSession(t, db, s.ID); !gs.Ended() {
		t.Error("the cache kept a session whose change-log entry it never read")
	}
}

// TestAccountDeleteLeavesNoChangeLog: the change log names accounts by id;
// deleting one removes its entries.
func TestAccountDeleteLeavesNoChangeLog(t *testing.T) {
	t.Parallel()
	db, _ := twoHandles(t, store.Options{})
	store.PollCache(db) // on PostgreSQL the log runs while an instance runs the cache
	a := createAccount(t, db, "alice")
	insert(t, db, a.ID, []glucose.Reading{reading(1000, 100)})
	update(t, db, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, true) })
	count := func() (n int) {
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM change_log WHERE account = '` + a.ID + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() == 0 {
		t.Fatal("setup: no change-log entry names alice")
	}
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteAccount(a.ID) })
	if n := count(); n != 0 {
		t.Errorf("%d change-log entries still name the deleted account", n)
	}
}

// TestHotCacheUnderConcurrentWrites: readers fill the cache while two
// handles write; once the writes stop, every cached answer must equal the
// database's. A fill that read before a change and stored after it would
// stay wrong for good.
func TestHotCacheUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	db, other := twoHandles(t, store.Options{})
	const accounts = 6
	var ids, sessions []string
	for i := range accounts {
		a := createAccount(t, db, string(rune('a'+i))+"lice")
		s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
		update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
		ids, sessions = append(ids, a.ID), append(sessions, s.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for w, writer := range []*store.DB{db, other} {
		wg.Go(func() {
			for n := int64(1); ctx.Err() == nil; n++ {
				i := int(n) % accounts
				st := n*2 + int64(w) // each writer its own STs
				err := writer.Update(context.Background(), func(tx glucose.Tx) error {
					if _, err := tx.InsertReadings(ids[i], []glucose.Reading{reading(st, 100)}); err != nil {
						return err
					}
					return tx.TouchSession(sessions[i], t0.Add(time.Duration(st)*time.Second))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			for n := r; ctx.Err() == nil; n++ {
				rctx := fresh(db)
				if _, _, err := db.SessionWithAccount(rctx, sessions[n%accounts]); err != nil {
					t.Error(err)
					return
				}
				if _, err := db.LatestReadings(rctx, ids[n%accounts], math.MinInt64, 1+n%12); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range accounts {
		if got, want := hotLatest(t, db, ids[i], math.MinInt64, 12), latest(t, db, ids[i], math.MinInt64, 12); !reflect.DeepEqual(got, want) {
			t.Errorf("account %d: cache\n%v\ndatabase\n%v", i, got, want)
		}
		gs, _ := hotSession(t, db, sessions[i])
		if want := session(t, db, sessions[i]); !gs.LastUsedAt.Equal(want.LastUsedAt) {
			t.Errorf("session %d: cache last used %v, database %v", i, gs.LastUsedAt, want.LastUsedAt)
		}
	}
}

// TestHotSecretsSeeEveryWriter: an API secret found once may be answered
// from memory, but every change made by this handle or another one — a
// new key, the secret removed, its account disabled, another account
// given a matching key — is seen by the very next look-up.
func TestHotSecretsSeeEveryWriter(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"same handle", "other handle"} {
		t.Run(name, func(t *testing.T) {
			db, other := twoHandles(t, store.Options{})
			writer := db
			if name == "other handle" {
				writer = other
			}
			a := createAccount(t, db, "alice")
			b := createAccount(t, db, "bob")
			setSecret := func(accountID, key string) {
				update(t, writer, func(tx glucose.Tx) error {
					return tx.SetNightscoutSecret(&glucose.NightscoutSecret{AccountID: accountID, Key: key, KeyID: "sha256", UpdatedAt: t0})
				})
			}
			lookup := func(keys ...string) (*glucose.NightscoutSecret, *glucose.Account, error) {
				return db.NightscoutSecretWithAccount(fresh(db), keys)
			}
			setSecret(a.ID, "key-1")
			for range 2 { // the second answer may come from memory
				sec, acct, err := lookup("key-1", "key-1-other-form")
				if err != nil || sec.AccountID != a.ID || acct.ID != a.ID || acct.Disabled {
					t.Fatalf("secret %+v, account %+v, %v", sec, acct, err)
				}
			}

			setSecret(a.ID, "key-2")
			_, _, err := lookup("key-1", "key-1-other-form")
			wantErr(t, "the replaced key", err, glucose.ErrNotFound)
			if sec, _, err := lookup("key-2"); err != nil || sec.AccountID != a.ID {
				t.Fatalf("the new key: %+v, %v", sec, err)
			}

			update(t, writer, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, true) })
			if _, acct, err := lookup("key-2"); err != nil || !acct.Disabled {
				t.Fatalf("after disabling: account %+v, %v", acct, err)
			}
			update(t, writer, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, false) })
			if _, _, err := lookup("key-2", "key-2-other-form"); err != nil { // cached again
				t.Fatal(err)
			}

			// Another account's secret stored under one of the presented
			// keys makes them ambiguous.
			setSecret(b.ID, "key-2-other-form")
			_, _, err = lookup("key-2", "key-2-other-form")
			wantErr(t, "keys of two accounts", err, glucose.ErrConflict)

			update(t, writer, func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(a.ID) })
			_, _, err = lookup("key-2")
			wantErr(t, "the removed secret", err, glucose.ErrNotFound)
		})
	}
}

// TestHotEntriesSeeEveryWriter: an account's newest readings stand for its
// newest Nightscout entries only while it has no entries kept as
// documents; a document written, soft-deleted or removed by this handle or
// another one is seen by the very next look-up.
func TestHotEntriesSeeEveryWriter(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"same handle", "other handle"} {
		t.Run(name, func(t *testing.T) {
			db, other := twoHandles(t, store.Options{})
			writer := db
			if name == "other handle" {
				writer = other
			}
			a := createAccount(t, db, "alice")
			insert(t, db, a.ID, []glucose.Reading{reading(1000, 100), reading(2000, 110)})
			entries := func() ([]glucose.Reading, bool) {
				t.Helper()
				rs, ok, err := db.LatestEntryReadings(fresh(db), a.ID, 0, 1)
				if err != nil {
					t.Fatalf("LatestEntryReadings: %v", err)
				}
				return rs, ok
			}
			for range 2 { // the second answer may come from memory
				if rs, ok := entries(); !ok || len(rs) != 1 || rs[0].ST != 2000 {
					t.Fatalf("without documents: %+v, %v", rs, ok)
				}
			}
			insert(t, writer, a.ID, []glucose.Reading{reading(3000, 120)})
			if rs, ok := entries(); !ok || len(rs) != 1 || rs[0].ST != 3000 {
				t.Fatalf("after a new reading: %+v, %v", rs, ok)
			}

			mbg := doc(a.ID, 1, `{"type":"mbg","mbg":104}`)
			mbg.Collection = glucose.CollectionEntries
			insertDocs(t, writer, mbg)
			if _, ok := entries(); ok {
				t.Fatal("an mbg entry was written, but the readings still stand for the entries")
			}
			update(t, writer, func(tx glucose.Tx) error {
				_, err := tx.DeleteDocuments(a.ID, glucose.CollectionEntries, glucose.DocQuery{}, 5000, false)
				return err
			})
			if rs, ok := entries(); !ok || len(rs) != 1 || rs[0].ST != 3000 {
				t.Fatalf("after the document's soft deletion: %+v, %v", rs, ok)
			}
			insertDocs(t, writer, doc(a.ID, 2, `{"eventType":"Note"}`)) // a treatment is no entry
			if _, ok := entries(); !ok {
				t.Fatal("a treatment hid the readings")
			}

			// A reading a mirror link stored carries its device: the
			// cached readings no longer stand for the entries.
			update(t, writer, func(tx glucose.Tx) error {
				if err := tx.PutMirrorLink(&glucose.MirrorLink{AccountID: a.ID, Server: "us", Username: "u",
					PasswordSealed: []byte("sealed"), NextPoll: time.UnixMilli(0), Created: time.UnixMilli(0)}); err != nil {
					return err
				}
				return tx.MarkMirroredReading(a.ID, 3000)
			})
			if _, ok := entries(); ok {
				t.Fatal("a reading was marked mirrored, but the cached readings still stand for the entries")
			}
		})
	}
}

// TestHotReadsKeepEveryField: the cache keeps its entries compact (times
// as milliseconds, an account's texts packed, readings in 16 bytes), so
// every field a hot read returns must come back as stored, including the
// ones outside the packed forms (a back-filled reading received weeks
// after its time, a session id in upper case), which are read from the
// database instead.
func TestHotReadsKeepEveryField(t *testing.T) {
	t.Parallel()
	db, other := twoHandles(t, store.Options{})
	a := &glucose.Account{Name: "Ann", DisplayName: "Ann B.", Email: "ann@example.org", PasswordHash: "hash",
		Compat: glucose.CompatLegacy, Units: glucose.UnitsMmol, CreatedAt: t0.Add(123 * time.Millisecond)}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateAccount(a) })
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.SetReceiver(a.ID, "SM12345678", glucose.NewID(), true); err != nil {
			return err
		}
		return tx.SetMonitoring(a.ID, true)
	})
	sessions := []*glucose.Session{
		{AccountID: a.ID, ApplicationID: "d89443d2-327c-4a6f-89e5-496bbb0317db", CreatedAt: t0.Add(7 * time.Millisecond)},
		{ID: strings.ToUpper(glucose.NewID()), AccountID: a.ID, ApplicationID: "app", CreatedAt: t0},
		// A second session that the cache keeps (its id is in NewID's
		// form), of an application whose id is not.
		{AccountID: a.ID, ApplicationID: "Some App", CreatedAt: t0.Add(3 * time.Millisecond)},
	}
	for _, s := range sessions {
		update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	}
	insert(t, db, a.ID, []glucose.Reading{reading(1000, 39), reading(2000, 401)})

	check := func(when string) {
		t.Helper()
		for _, s := range sessions {
			var ws *glucose.Session
			var wa *glucose.Account
			view(t, db, func(tx glucose.Tx) (err error) {
				ws, wa, err = tx.SessionWithAccount(s.ID)
				return err
			})
			wa.PasswordHash = "" // not returned by the hot reads
			for range 2 {        // the second answer may come from memory
				gs, ga := hotSession(t, db, s.ID)
				if !reflect.DeepEqual(gs, ws) || !reflect.DeepEqual(ga, wa) {
					t.Errorf("%s: session %s: got %+v %+v, want %+v %+v", when, s.ID, gs, ga, ws, wa)
				}
				if got, want := hotLatest(t, db, a.ID, math.MinInt64, 12), latest(t, db, a.ID, math.MinInt64, 12); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: latest %+v, want %+v", when, got, want)
				}
			}
		}
	}
	check("first reads")
	insert(t, other, a.ID, []glucose.Reading{reading(3000, 120)})
	update(t, other, func(tx glucose.Tx) error {
		for _, s := range sessions {
			if err := tx.TouchSession(s.ID, t0.Add(time.Minute+9*time.Millisecond)); err != nil {
				return err
			}
		}
		return nil
	})
	check("after another handle's reading and touches")
	update(t, other, func(tx glucose.Tx) error { return tx.EndSession(sessions[0].ID, t0.Add(2*time.Minute)) })
	check("after another handle's logout")
	backfilled := reading(t0.Add(-40*24*time.Hour).UnixMilli(), 250)
	backfilled.ReceivedAt = t0.UnixMilli()
	insert(t, other, a.ID, []glucose.Reading{backfilled})
	check("after another handle's back-filled reading")
}
