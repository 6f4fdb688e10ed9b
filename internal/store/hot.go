package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The hot reads (glucose.HotReader): the session look-up that starts every
// authenticated request and the short read of an account's latest
// readings. They run as single statements outside a transaction on every
// engine; on SQLite they are also answered from memory, and on PostgreSQL
// too with Options.CacheStaleness (hot_postgres.go).
//
// How the SQLite cache stays exact. A write transaction that commits, in
// this process or any other, rewrites the wal-index header at the start of
// the database's -shm file (https://www.sqlite.org/walformat.html): its
// change counter, frame count and salts. The header is what a new reader
// looks at to find the newest commit. So before a request uses the cache it
// reads those 96 bytes (from a mapping of the file, or with one pread):
// when they equal the header recorded before the last sync, nothing has
// been committed since and the cache is current. Otherwise it syncs: it reads the entries that the triggers of
// migration 0007 appended to change_log since the last sync, evicts the
// sessions and accounts they name, and applies in place the sessions' last
// uses and the stored readings they carry (or drops the cached readings
// when readings were deleted).
// A fill is discarded when a sync applied a change to its account while it
// read the database, so that an old answer is never stored after its
// change.

// hotReadings is how many of an account's newest readings the cache keeps.
// The triggers of migrations/sqlite/0007_change_log.sql write entries only
// for changes among the 12 newest (their OFFSET 11).
const hotReadings = 12

// defaultCacheAccounts bounds the cache when Options.CacheAccounts is 0.
const defaultCacheAccounts = 100_000

// walHeaderSize is the two copies of the wal-index header.
const walHeaderSize = 96

type freshKey struct{}

// freshMark records that a request's freshness check has been made, and
// how many of this process's commits had completed by then.
type freshMark struct {
	done    atomic.Bool
	commits atomic.Uint64
}

// Fresh marks ctx with the start of a request: the request's hot reads
// then share one freshness check, made by the first of them, unless this
// process commits a write in between.
func (db *DB) Fresh(ctx context.Context) context.Context {
	if db.d.name != "sqlite" || db.cacheAccounts < 0 {
		return ctx
	}
	return &freshCtx{Context: ctx}
}

// freshCtx is a context carrying a freshMark under freshKey, as
// context.WithValue(ctx, freshKey{}, &freshMark{}) would, in one
// allocation instead of two: every request makes one.
type freshCtx struct {
	context.Context
	mark freshMark
}

func (c *freshCtx) Value(key any) any {
	if _, ok := key.(freshKey); ok {
		return &c.mark
	}
	return c.Context.Value(key)
}

// SessionWithAccount finds a session, open or ended, and its account.
func (db *DB) SessionWithAccount(ctx context.Context, id string) (*glucose.Session, *glucose.Account, error) {
	h := db.hotCache(ctx)
	k, packed := packID(id)
	if h == nil || !packed {
		s, a, err := db.direct(ctx).SessionWithAccount(id)
		return s, withoutHash(a), err
	}
	h.mu.RLock()
	if ha, hs := h.sessionLocked(k); hs != nil {
		// The two results are allocated together: the request holds
		// both as long as either.
		both := new(struct {
			s glucose.Session
			a glucose.Account
		})
		var buf [idLen + acctTextBytes + idLen]byte
		b := ha.acct.appendTexts(buf[:0], ha.id)
		n := len(b)
		if hs.appPacked {
			b = share.AppendUUID(b, hs.app)
		}
		texts := string(b)
		ha.acct.fill(&both.a, texts[:n])
		app := texts[n:]
		if !hs.appPacked {
			app = h.apps[hs.appIndex]
		}
		both.s = glucose.Session{ID: id, AccountID: both.a.ID, ApplicationID: app, // packID took only the canonical form of id
			CreatedAt: glucose.FromMS(hs.created), LastUsedAt: glucose.FromMS(hs.used)}
		if hs.hasEnded {
			both.s.EndedAt = glucose.FromMS(hs.ended)
		}
		h.mu.RUnlock()
		return &both.s, &both.a, nil
	}
	fillFrom := h.applied
	h.mu.RUnlock()
	fillHook("read")
	s, a, err := db.direct(ctx).SessionWithAccount(id)
	if err != nil {
		return nil, nil, err
	}
	fillHook("put")
	h.putSession(fillFrom, k, s, a)
	return s, withoutHash(a), nil
}

// withoutHash blanks a's password hash, which the hot reads do not return
// (glucose.HotReader).
func withoutHash(a *glucose.Account) *glucose.Account {
	if a != nil {
		a.PasswordHash = ""
	}
	return a
}

// NightscoutSecretWithAccount finds the API secret stored under one of
// keys (ErrConflict when they name two accounts' secrets) and its account.
func (db *DB) NightscoutSecretWithAccount(ctx context.Context, keys []string) (*glucose.NightscoutSecret, *glucose.Account, error) {
	h := db.hotCache(ctx)
	if h == nil {
		s, a, err := db.nightscoutSecretWithAccount(ctx, keys)
		return s, withoutHash(a), err
	}
	k := strings.Join(keys, "\x00")
	h.mu.RLock()
	sec, ok := h.nsSecrets[k]
	if ha := h.accts.get(sec.AccountID); ok && ha != nil && ha.hasAcct {
		a := ha.acct.account(ha.id)
		h.mu.RUnlock()
		return &sec, a, nil
	}
	fillFrom := h.applied
	h.mu.RUnlock()
	fillHook("read")
	s, a, err := db.nightscoutSecretWithAccount(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	fillHook("put")
	h.putSecret(fillFrom, k, s, a)
	return s, withoutHash(a), nil
}

// nightscoutSecretWithAccount reads the secret and its account in one
// read transaction.
func (db *DB) nightscoutSecretWithAccount(ctx context.Context, keys []string) (sec *glucose.NightscoutSecret, a *glucose.Account, err error) {
	err = db.View(ctx, func(tx glucose.Tx) error {
		if sec, err = tx.NightscoutSecretByKeys(keys); err != nil {
			return err
		}
		a, err = tx.AccountByID(sec.AccountID)
		return err
	})
	return sec, a, err
}

// LatestReadings returns the account's readings with ST >= since, newest
// first, at most max.
func (db *DB) LatestReadings(ctx context.Context, accountID string, since int64, max int) ([]glucose.Reading, error) {
	if max <= 0 {
		return []glucose.Reading{}, nil
	}
	var h *hotCache
	if max <= hotReadings {
		h = db.hotCache(ctx)
	}
	if h == nil {
		return db.direct(ctx).LatestReadings(accountID, since, max)
	}
	h.mu.RLock()
	ha := h.accts.get(accountID)
	if ha != nil && ha.haveReadings {
		rs := ha.readings.newest(since, max)
		h.mu.RUnlock()
		return rs, nil
	}
	fillFrom := h.applied
	h.mu.RUnlock()
	fillHook("read")
	all, err := db.direct(ctx).LatestReadings(accountID, math.MinInt64, hotReadings)
	if err != nil {
		return nil, err
	}
	fillHook("put")
	h.putReadings(fillFrom, accountID, all)
	return newest(all, since, max), nil
}

// LatestEntryReadings returns the account's readings with ST >= since,
// newest first, at most max, when the account has no Nightscout entries
// kept as documents (mbg, cal, …): its newest entries are then these
// readings. ok is false when it has such entries, or when the answer is not
// in memory to be had cheaply (no cache, max above what is cached): the
// caller then queries both.
func (db *DB) LatestEntryReadings(ctx context.Context, accountID string, since int64, max int) (rs []glucose.Reading, ok bool, err error) {
	if max <= 0 || max > hotReadings {
		return nil, false, nil
	}
	h := db.hotCache(ctx)
	if h == nil {
		return nil, false, nil
	}
	h.mu.RLock()
	if ha := h.accts.get(accountID); ha != nil && ha.haveReadings && ha.entryDocs != entryDocsUnknown {
		if ok = ha.entryDocs == entryDocsNone; ok {
			rs = ha.readings.newest(since, max)
		}
		h.mu.RUnlock()
		return rs, ok, nil
	}
	fillFrom := h.applied
	h.mu.RUnlock()
	fillHook("read")
	var (
		all  []glucose.Reading
		some bool
	)
	err = db.View(ctx, func(t glucose.Tx) (err error) {
		if all, err = t.LatestReadings(accountID, math.MinInt64, hotReadings); err != nil {
			return err
		}
		some, err = t.(*tx).hasEntryDocuments(accountID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	fillHook("put")
	docs := entryDocsNone
	if some {
		docs = entryDocsSome
	}
	h.putEntryReadings(fillFrom, accountID, all, docs)
	if some {
		return nil, false, nil
	}
	return newest(all, since, max), true, nil
}

// testFillHook, set by tests only, runs before a fill reads the database
// ("read") and before it stores what it read ("put").
var testFillHook func(stage string)

func fillHook(stage string) {
	if testFillHook != nil {
		testFillHook(stage)
	}
}

// newest copies the readings of rs (newest first) with ST >= since, at
// most max.
func newest(rs []glucose.Reading, since int64, max int) []glucose.Reading {
	n := 0
	for n < len(rs) && n < max && rs[n].ST >= since {
		n++
	}
	return append(make([]glucose.Reading, 0, n), rs[:n]...)
}

// direct runs tx methods as single statements on the reader pool.
func (db *DB) direct(ctx context.Context) *tx {
	return &tx{tx: db.reader, ctx: ctx, db: db, stmts: db.readerStmts}
}

// hotCache returns the cache when it may answer for ctx's request, after
// the freshness check; nil sends the read to the database.
func (db *DB) hotCache(ctx context.Context) *hotCache {
	if db.cacheAccounts < 0 || db.closed.Load() {
		return nil
	}
	switch {
	case db.d.name == "postgres" && db.cacheStaleness > 0:
		h := db.hot.Load()
		if h == nil {
			h = db.startHot()
		}
		if h == nil || !h.pg.current(db.cacheStaleness) {
			return nil
		}
		return h
	case db.d.name != "sqlite":
		return nil
	}
	h := db.hot.Load()
	if h == nil {
		if h = db.startHot(); h == nil {
			return nil
		}
	}
	mark, _ := ctx.Value(freshKey{}).(*freshMark)
	commits := db.commits.Load()
	if mark != nil && mark.done.Load() && mark.commits.Load() == commits {
		return h
	}
	if err := h.check(); err != nil {
		db.hotFailure(err)
		return nil
	}
	if mark != nil {
		mark.commits.Store(commits)
		mark.done.Store(true)
	}
	return h
}

// hotFailure drops a cache that could not be kept current: from then on
// (until the next Migrate) the hot reads go to the database.
func (db *DB) hotFailure(err error) {
	db.hotMu.Lock()
	defer db.hotMu.Unlock()
	if h := db.hot.Swap(nil); h != nil {
		h.close()
	}
	db.hotErr = err
}

// startHot opens the cache once the schema has the change log. A failure
// is remembered until the next Migrate, so that an old schema costs one
// try only.
func (db *DB) startHot() *hotCache {
	db.hotMu.Lock()
	defer db.hotMu.Unlock()
	if h := db.hot.Load(); h != nil || db.hotErr != nil {
		return h
	}
	h, err := openHot(db)
	if err != nil {
		db.hotErr = err
		return nil
	}
	db.hot.Store(h)
	return h
}

// resetHot forgets a failure to start the cache (after a migration).
func (db *DB) resetHot() {
	db.hotMu.Lock()
	defer db.hotMu.Unlock()
	db.hotErr = nil
}

// hotCache holds sessions and the newest readings of recently used
// accounts.
type hotCache struct {
	pg    *pgHot // PostgreSQL (hot_postgres.go); nil on SQLite
	shm   *shmHeader
	probe *sql.DB // one reader connection for the change log
	log   *sql.Stmt
	max   int

	syncMu sync.Mutex
	seen   atomic.Pointer[[walHeaderSize]byte]

	mu sync.RWMutex
	// applied is the seq of the last entry applied (on PostgreSQL, the
	// number of applications; written under both syncMu and mu, so sync
	// may read it holding syncMu alone); changed
	// holds, per stripe of account ids, the seq of the last entry applied
	// to one of them, and dropped that of the last drop of everything. A
	// fill that began at applied = since is stored only when nothing it
	// read has changed since.
	applied  int64
	changed  [changeStripes]int64
	dropped  int64
	sessions map[sessionKey]sessionRef
	accts    *acctTable
	// more holds, by account, what else is cached with the accounts whose
	// entries say hasMore.
	more map[sessionKey]*hotKeys
	// nsSecrets maps the lookup keys of a presented API secret (joined by
	// secretKeysOf) to the secret found; an entry is used only with its
	// account's cached row and goes with it.
	nsSecrets map[string]glucose.NightscoutSecret
	// apps holds the application ids of cached sessions that are not in
	// NewID's form, which sessions name by index; appIndex is the index
	// of each.
	apps     []string
	appIndex map[string]uint16
}

// hotAccount is what the cache knows of one account (hot_entry.go has its
// compact parts). A session is cached only together with its account, and
// evicted with it. Entries live in memory of the cache's own (hot_table.go),
// so an entry holds no pointer: what does not fit goes to hotCache.more.
type hotAccount struct {
	id      sessionKey // the account's id, packed: the entry's key
	session sessionKey // the first session cached with acct, when hasSession
	sess    hotSession // that session
	acct    hotAcct    // meaningful when hasAcct (not when only readings were looked up)
	// gen counts the entry's reuses: a session names its entry with it.
	gen uint32
	// entryDocs tells, while haveReadings, whether the account has
	// entries kept as documents (LatestEntryReadings).
	entryDocs    entryDocs
	hasAcct      bool
	hasSession   bool
	hasMore      bool // hotCache.more has the account's further keys
	haveReadings bool
	readings     hotReadingList // the hotReadings newest
}

// hotKeys holds an account's further cached sessions and the keys in
// hotCache.nsSecrets of the API secrets cached with it.
type hotKeys struct {
	sessions  []moreSession
	nsSecrets []string
}

// keysLocked returns what else is cached with ha, making it on first use.
func (h *hotCache) keysLocked(ha *hotAccount) *hotKeys {
	if !ha.hasMore {
		h.more[ha.id], ha.hasMore = &hotKeys{}, true
	}
	return h.more[ha.id]
}

type entryDocs int8

const (
	entryDocsUnknown entryDocs = iota
	entryDocsNone
	entryDocsSome
)

// newHotCache returns an empty cache for db, which openHot and openPGHot
// set up for their engine.
func newHotCache(db *DB) *hotCache {
	return &hotCache{probe: db.probe, max: orDefault(db.cacheAccounts, defaultCacheAccounts),
		sessions: map[sessionKey]sessionRef{}, accts: newAcctTable(), more: map[sessionKey]*hotKeys{},
		nsSecrets: map[string]glucose.NightscoutSecret{}, appIndex: map[string]uint16{}}
}

func openHot(db *DB) (*hotCache, error) {
	if db.d.name == "postgres" {
		return openPGHot(db)
	}
	ctx := context.Background()
	var mode, file string
	if err := db.writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return nil, err
	}
	if mode != "wal" {
		return nil, fmt.Errorf("journal mode %s, not wal", mode)
	}
	err := db.writer.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return nil, err
	}
	if file == "" {
		return nil, errors.New("an in-memory database has no -shm file")
	}
	shm, err := openShmHeader(file + "-shm")
	if err != nil {
		return nil, err
	}
	h := newHotCache(db)
	h.shm = shm
	fail := func(err error) (*hotCache, error) {
		shm.close()
		return nil, err
	}
	h.log, err = h.probe.PrepareContext(ctx, `SELECT seq, account, kind, session, st, value, trend, offset_min, received_at
		FROM change_log WHERE seq > ? ORDER BY seq`)
	if err != nil {
		return fail(err)
	}
	var hdr [walHeaderSize]byte
	if err := h.header(&hdr); err != nil {
		h.log.Close()
		return fail(err)
	}
	// The header first: whatever commits after it changes it, and the
	// next check syncs from the seq read here.
	if err := h.probe.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM change_log`).Scan(&h.applied); err != nil {
		h.log.Close()
		return fail(err)
	}
	h.seen.Store(&hdr)
	return h, nil
}

func (h *hotCache) close() {
	if h.pg != nil {
		h.pg.close()
		return
	}
	h.log.Close()
	h.shm.close()
}

// header reads the wal-index header. A header that SQLite has not set up
// yet is an error: the cache cannot tell commits apart without it.
func (h *hotCache) header(hdr *[walHeaderSize]byte) error {
	if err := h.shm.read(hdr); err != nil {
		return fmt.Errorf("reading the wal-index header: %w", err)
	}
	if hdr[12] == 0 { // isInit of the first copy
		return errors.New("the wal-index header is not initialised")
	}
	return nil
}

// check makes the cache reflect every commit that completed before it was
// called.
func (h *hotCache) check() error {
	var hdr [walHeaderSize]byte
	if err := h.header(&hdr); err != nil {
		return err
	}
	if bytes.Equal(h.seen.Load()[:], hdr[:]) {
		return nil
	}
	return h.sync()
}

// changeStripes is how many stripes of account ids the cache tracks
// changes for (8 bytes each).
const changeStripes = 1 << 14

var stripeSeed = maphash.MakeSeed()

func stripe(accountID string) int {
	return int(maphash.String(stripeSeed, accountID) % changeStripes)
}

// change is one change-log entry.
type change struct {
	seq     int64
	account string
	kind    string // "a", "t", "r" or "x", as in migration 0007
	session string // "t": the session touched, at reading.ST
	reading glucose.Reading
}

// sync applies the change log's new entries. The header is recorded before
// the log is read, so a commit that the read misses changes the header
// again and the next check comes back here.
func (h *hotCache) sync() error {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	var hdr [walHeaderSize]byte
	if err := h.header(&hdr); err != nil {
		return err
	}
	if bytes.Equal(h.seen.Load()[:], hdr[:]) {
		return nil // another request synced after the same commits
	}
	rows, err := h.log.Query(h.applied)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		changes []change
		all     bool
		last    = h.applied
	)
	for rows.Next() {
		var (
			seq                      int64
			c                        change
			session                  sql.NullString
			st, value, trend, offset sql.NullInt64
			received                 sql.NullInt64
		)
		if err := rows.Scan(&seq, &c.account, &c.kind, &session, &st, &value, &trend, &offset, &received); err != nil {
			return err
		}
		c.seq = seq
		if seq != last+1 || c.account == "" {
			// Entries went missing (pruned, or deleted with an account)
			// or the writer asked: some changes are unknown.
			all = true
		}
		last = seq
		c.session = session.String
		if c.kind == "r" || c.kind == "t" {
			c.reading = glucose.Reading{ST: st.Int64, Value: int(value.Int64), Trend: share.Trend(trend.Int64),
				Offset: int(offset.Int64), ReceivedAt: received.Int64}
		}
		if !all {
			changes = append(changes, c)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if last != h.applied || all {
		h.apply(last, all, changes)
	}
	h.seen.Store(&hdr)
	return nil
}

// apply applies changes up to seq last, or drops everything. Either way it
// records what changed, so that fills that read the database before these
// commits are not stored.
func (h *hotCache) apply(last int64, all bool, changes []change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applied = last
	if all {
		h.dropped = last
		clear(h.sessions)
		h.accts.clear()
		clear(h.more)
		clear(h.nsSecrets)
		return
	}
	for _, c := range changes {
		h.changed[stripe(c.account)] = c.seq
		ha := h.accts.get(c.account)
		if ha == nil {
			continue
		}
		switch c.kind {
		case "a":
			h.forgetAccountLocked(ha)
		case "t":
			if k, packed := packID(c.session); packed {
				if owner, s := h.sessionLocked(k); s != nil && owner == ha {
					s.used = c.reading.ST
				}
			}
		case "r":
			if ha.haveReadings && !ha.readings.add(c.reading) {
				ha.haveReadings, ha.entryDocs = false, entryDocsUnknown
			}
		default:
			ha.haveReadings, ha.entryDocs = false, entryDocsUnknown
		}
		if !ha.hasAcct && !ha.haveReadings {
			h.accts.remove(ha)
		}
	}
}

// dropLocked drops ha and what is cached with it.
func (h *hotCache) dropLocked(ha *hotAccount) {
	h.forgetAccountLocked(ha)
	h.accts.remove(ha)
}

// forgetAccountLocked forgets the account row of ha and what is cached
// with it: its sessions and the API secrets found for it.
func (h *hotCache) forgetAccountLocked(ha *hotAccount) {
	if ha.hasSession {
		delete(h.sessions, ha.session)
	}
	if ha.hasMore {
		if m := h.more[ha.id]; m != nil {
			for _, s := range m.sessions {
				delete(h.sessions, s.id)
			}
			for _, k := range m.nsSecrets {
				delete(h.nsSecrets, k)
			}
		}
		delete(h.more, ha.id)
	}
	ha.acct, ha.sess, ha.hasAcct, ha.hasSession, ha.hasMore = hotAcct{}, hotSession{}, false, false, false
}

// sessionLocked returns the cached session k and its account's entry; nil
// when it is not cached, or when its entry has since been dropped (and
// perhaps reused).
func (h *hotCache) sessionLocked(k sessionKey) (*hotAccount, *hotSession) {
	ref, ok := h.sessions[k]
	ha := ref.acct
	if !ok || ha.gen != ref.gen || !ha.hasAcct {
		return nil, nil
	}
	if ref.more < 0 {
		if !ha.hasSession || ha.session != k {
			return nil, nil
		}
		return ha, &ha.sess
	}
	if m := h.more[ha.id]; ha.hasMore && m != nil && int(ref.more) < len(m.sessions) && m.sessions[ref.more].id == k {
		return ha, &m.sessions[ref.more].s
	}
	return nil, nil
}

// accountLocked returns the entry of accountID, making room for it when
// new; nil when accountID is not in the canonical form that the cache
// keys accounts by (such an account is not cached).
func (h *hotCache) accountLocked(accountID string) *hotAccount {
	k, ok := packID(accountID)
	if !ok {
		return nil
	}
	if ha := h.accts.index[k]; ha != nil {
		return ha
	}
	if h.accts.len() >= h.max {
		for _, ha := range h.accts.index { // an arbitrary entry
			h.dropLocked(ha)
			break
		}
	}
	return h.accts.add(k)
}

// unchangedSince reports whether no entry for accountID, and no drop of
// everything, has been applied after seq since.
func (h *hotCache) unchangedSince(since int64, accountID string) bool {
	return h.dropped <= since && h.changed[stripe(accountID)] <= since
}

// putSession stores a session (its id packed as k) and its account, read
// by a fill that began at since, unless they changed since.
func (h *hotCache) putSession(since int64, k sessionKey, s *glucose.Session, a *glucose.Account) {
	pa, ok := packAccount(a)
	if !ok || s.AccountID != a.ID {
		return
	}
	hs := hotSession{created: glucose.MS(s.CreatedAt), used: glucose.MS(s.LastUsedAt),
		hasEnded: s.Ended(), ended: glucose.MS(s.EndedAt)}
	hs.app, hs.appPacked = packID(s.ApplicationID)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.unchangedSince(since, a.ID) {
		return
	}
	if !hs.appPacked {
		if hs.appIndex, ok = h.appLocked(s.ApplicationID); !ok {
			return
		}
	}
	ha := h.accountLocked(a.ID)
	if ha == nil {
		return
	}
	ha.acct, ha.hasAcct = pa, true
	switch owner, cur := h.sessionLocked(k); {
	case cur != nil && owner == ha:
		*cur = hs
	case !ha.hasSession:
		ha.session, ha.sess, ha.hasSession = k, hs, true
		h.sessions[k] = sessionRef{acct: ha, gen: ha.gen, more: -1}
	default:
		m := h.keysLocked(ha)
		m.sessions = append(m.sessions, moreSession{id: k, s: hs})
		h.sessions[k] = sessionRef{acct: ha, gen: ha.gen, more: int32(len(m.sessions) - 1)}
	}
}

// maxApps bounds hotCache.apps. Application ids are few, one per client
// app, and in NewID's form as a rule; a session of an application beyond
// the first maxApps of other forms is not cached.
const maxApps = 1024

// appLocked returns the index of application id app in h.apps, adding it
// when new; ok is false when there is no room.
func (h *hotCache) appLocked(app string) (i uint16, ok bool) {
	if i, ok := h.appIndex[app]; ok {
		return i, true
	}
	if len(h.apps) >= maxApps {
		return 0, false
	}
	i = uint16(len(h.apps))
	h.apps, h.appIndex[app] = append(h.apps, app), i
	return i, true
}

// putSecret stores the API secret found under keys and its account, read
// by a fill that began at since, unless they changed since. Any change to
// an API secret drops everything (migration 0015), so checking the
// account's changes is enough.
func (h *hotCache) putSecret(since int64, keys string, sec *glucose.NightscoutSecret, a *glucose.Account) {
	// Packed before the lock, as putSession does: every session check
	// waits while it is held.
	pa, ok := packAccount(a)
	if !ok || sec.AccountID != a.ID {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.unchangedSince(since, a.ID) {
		return
	}
	ha := h.accountLocked(a.ID)
	if ha == nil {
		return
	}
	ha.acct, ha.hasAcct = pa, true
	if _, ok := h.nsSecrets[keys]; !ok {
		m := h.keysLocked(ha)
		m.nsSecrets = append(m.nsSecrets, keys)
	}
	h.nsSecrets[keys] = *sec
}

// putEntryReadings stores an account's newest readings and whether it has
// entries documents, read by a fill that began at since, unless they
// changed since.
func (h *hotCache) putEntryReadings(since int64, accountID string, rs []glucose.Reading, docs entryDocs) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.unchangedSince(since, accountID) {
		return
	}
	ha := h.accountLocked(accountID)
	if ha == nil {
		return
	}
	if ha.haveReadings = ha.readings.set(rs); ha.haveReadings {
		ha.entryDocs = docs
	} else {
		h.forgetReadingsLocked(ha)
	}
}

// forgetReadingsLocked forgets ha's readings (when they cannot be packed),
// and ha itself when nothing else is cached with it.
func (h *hotCache) forgetReadingsLocked(ha *hotAccount) {
	ha.haveReadings, ha.entryDocs = false, entryDocsUnknown
	if !ha.hasAcct {
		h.accts.remove(ha)
	}
}

// putReadings stores an account's newest readings, read by a fill that
// began at since, unless they changed since.
func (h *hotCache) putReadings(since int64, accountID string, rs []glucose.Reading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.unchangedSince(since, accountID) {
		return
	}
	ha := h.accountLocked(accountID)
	if ha == nil {
		return
	}
	if ha.haveReadings = ha.readings.set(rs); !ha.haveReadings {
		h.forgetReadingsLocked(ha)
	}
}
