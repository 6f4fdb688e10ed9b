package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The cache on PostgreSQL (Options.CacheStaleness; off by default). It is
// the SQLite cache of hot.go, with its maps, fill guards and application
// of change-log entries; what differs is how an instance learns of other
// instances' commits, which share no file with it.
//
// Every instance polls the change log of migration 0018 in the background,
// every quarter of the staleness bound. One statement reads the snapshot
// it runs in and the entries of the transactions that the previous poll's
// snapshot did not see: those at or after its xmax, and those in progress
// at it (its xip list). So no entry is missed, however the transactions'
// sequence numbers and commits interleave, and none is read twice.
//
// The cache answers only while the last successful poll started within
// the bound: then every commit that completed longer ago than the bound is
// applied. When polls lag or fail the hot reads go to the database, and a
// failed poll drops the whole cache, as does a poll that finds entries it
// had not read pruned from the log.
//
// An instance's own writes are applied before Update returns: after a
// commit, Update waits for a poll that started after it (one poll serves
// every commit that completed before it began). So the instance that
// answered a logout, a password change or a new reading answers the new
// state from then on, without a database round trip on any read.
//
// Why a poll rather than NOTIFY from the triggers: a transaction that has
// sent NOTIFY takes, at commit, a lock that is global to the PostgreSQL
// server and holds it until its commit record is flushed
// (PreCommit_Notify in src/backend/commands/async.c), so such commits
// happen one at a time and lose group commit. Every upload would pay it.

// pgPollEvery is how often an instance polls, as a fraction of the bound.
const pgPollEvery = 4

// pgPollTimeout bounds one poll, whatever the bound: a poll holds syncMu,
// which the Updates wait for after their commits. A poll that takes longer
// fails, and drops the cache.
const pgPollTimeout = time.Second

// pgPollQuery reads, in one snapshot, that snapshot, the newest pruned
// transaction id, and the entries the previous snapshot ($1 its xmax, $2
// its xip list) did not see. Without new entries it answers one row whose
// entry columns are NULL.
const pgPollQuery = `SELECT pg_current_snapshot()::text, p.xid,
	c.seq, c.account, c.kind, c.session, c.st, c.value, c.trend, c.offset_min, c.received_at
	FROM change_log_pruned p LEFT JOIN change_log c ON c.xid >= $1 OR c.xid = ANY ($2::bigint[])
	ORDER BY c.seq`

// pgHot is the PostgreSQL part of a hotCache.
type pgHot struct {
	db    *DB
	every time.Duration
	epoch time.Time // the origin of the monotonic times below

	// The previous poll's snapshot (under hotCache.syncMu).
	xmin, xmax int64
	xip        string // a bigint[] literal

	// good is when the last successful poll started (nanoseconds since
	// epoch, plus one); 0 while there is none since the last failure.
	good atomic.Int64
	// covered is how many of db's commits had completed when it started.
	covered atomic.Uint64

	failing atomic.Bool // for logging a change of state once

	stats pgHotStats

	quit, done chan struct{}
}

// pgHotStats counts what the cache did.
type pgHotStats struct {
	polls, failures, drops, staleReads atomic.Uint64
}

// CacheStats describes the PostgreSQL cache (Options.CacheStaleness).
type CacheStats struct {
	On bool
	// Polls and PollFailures count the polls of the change log.
	Polls, PollFailures uint64
	// Drops counts the times the whole cache was dropped: after a failed
	// poll, or entries pruned before they were read.
	Drops uint64
	// StaleReads counts hot reads sent to the database because the last
	// successful poll was older than the bound.
	StaleReads uint64
	// Age is how long ago the last successful poll started; negative when
	// none succeeded since the last failure.
	Age time.Duration
}

// CacheStats returns the PostgreSQL cache's counters; On is false without
// it.
func (db *DB) CacheStats() CacheStats {
	h := db.hot.Load()
	if h == nil || h.pg == nil {
		return CacheStats{}
	}
	p := h.pg
	age := time.Duration(-1)
	if g := p.good.Load(); g != 0 {
		age = p.now() - time.Duration(g-1)
	}
	return CacheStats{On: true, Polls: p.stats.polls.Load(), PollFailures: p.stats.failures.Load(),
		Drops: p.stats.drops.Load(), StaleReads: p.stats.staleReads.Load(), Age: age}
}

func (p *pgHot) now() time.Duration { return time.Since(p.epoch) }

// current reports whether the last successful poll started within bound.
func (p *pgHot) current(bound time.Duration) bool {
	g := p.good.Load()
	if g != 0 && p.now()-time.Duration(g-1) <= bound {
		return true
	}
	p.stats.staleReads.Add(1)
	return false
}

// openPGHot starts the cache empty, from the snapshot of a first poll, and
// its poller.
func openPGHot(db *DB) (*hotCache, error) {
	every := max(db.cacheStaleness/pgPollEvery, time.Millisecond)
	if db.pollEvery > 0 {
		every = db.pollEvery
	}
	p := &pgHot{db: db, every: every, epoch: time.Now(), xip: "{}",
		quit: make(chan struct{}), done: make(chan struct{})}
	h := &hotCache{pg: p, probe: db.probe, max: orDefault(db.cacheAccounts, defaultCacheAccounts),
		sessions: map[sessionKey]hotSession{}, accounts: map[string]*hotAccount{},
		nsSecrets: map[string]glucose.NightscoutSecret{}, interned: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), pgPollTimeout)
	defer cancel()
	start := p.now()
	var snap string
	err := h.probe.QueryRowContext(ctx, `SELECT pg_current_snapshot()::text FROM change_log_pruned`).Scan(&snap)
	if err != nil {
		return nil, fmt.Errorf("starting the cache: %w", err)
	}
	if p.xmin, p.xmax, p.xip, err = parseSnapshot(snap); err != nil {
		return nil, err
	}
	p.good.Store(int64(start) + 1)
	go h.pgRun()
	return h, nil
}

// parseSnapshot parses pg_snapshot's text form, xmin:xmax:xip,xip,…
func parseSnapshot(s string) (xmin, xmax int64, xip string, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, 0, "", fmt.Errorf("snapshot %q", s)
	}
	if xmin, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("snapshot %q: %w", s, err)
	}
	if xmax, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("snapshot %q: %w", s, err)
	}
	for _, x := range strings.Split(parts[2], ",") {
		if _, err := strconv.ParseInt(x, 10, 64); x != "" && err != nil {
			return 0, 0, "", fmt.Errorf("snapshot %q: %w", s, err)
		}
	}
	return xmin, xmax, "{" + parts[2] + "}", nil
}

// pgRun polls every p.every until the cache closes, unless a poll after a
// commit came more recently than half of that.
func (h *hotCache) pgRun() {
	p := h.pg
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		h.syncMu.Lock()
		if g := p.good.Load(); g == 0 || p.now()-time.Duration(g-1) >= p.every/2 {
			h.pgSync()
		}
		h.syncMu.Unlock()
	}
}

// pgSyncAfter applies this instance's commit number commit (db.commits)
// and whatever committed before it, unless a poll that started after it
// has.
func (h *hotCache) pgSyncAfter(commit uint64) {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	if h.pg.covered.Load() < commit {
		h.pgSync()
	}
}

// pgSync polls once, holding syncMu; a failure drops the cache and sends
// the hot reads to the database until a poll succeeds.
func (h *hotCache) pgSync() {
	p := h.pg
	err := h.pgPoll()
	if err == nil {
		if p.failing.Swap(false) {
			p.db.logger().Info("the database cache is current again")
		}
		return
	}
	p.stats.failures.Add(1)
	p.good.Store(0)
	h.dropAll()
	if !p.failing.Swap(true) {
		p.db.logger().Warn("polling the database's change log failed; the hot reads go to the database until it succeeds",
			"err", err)
	}
}

// dropAll drops everything, holding syncMu, so that fills that read the
// database before now are not stored.
func (h *hotCache) dropAll() {
	h.pg.stats.drops.Add(1)
	h.apply(h.applied+1, true, nil)
}

// pgPoll reads and applies the entries committed since the last poll.
func (h *hotCache) pgPoll() error {
	p := h.pg
	start, commits := p.now(), p.db.commits.Load()
	ctx, cancel := context.WithTimeout(context.Background(), pgPollTimeout)
	defer cancel()
	rows, err := h.probe.QueryContext(ctx, pgPollQuery, p.xmax, p.xip)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		snap    string
		pruned  int64
		changes []change
		all     bool
	)
	for rows.Next() {
		var (
			seq                              sql.NullInt64
			c                                change
			account, kind, session           sql.NullString
			st, value, trend, offset, receiv sql.NullInt64
		)
		if err := rows.Scan(&snap, &pruned, &seq, &account, &kind, &session, &st, &value, &trend, &offset, &receiv); err != nil {
			return err
		}
		if !seq.Valid {
			continue // no entries
		}
		c.account, c.kind, c.session = account.String, kind.String, session.String
		if c.account == "" {
			all = true // the writer asked
		}
		if c.kind == "r" || c.kind == "t" {
			c.reading = glucose.Reading{ST: st.Int64, Value: int(value.Int64), Trend: share.Trend(trend.Int64),
				Offset: int(offset.Int64), ReceivedAt: receiv.Int64}
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if snap == "" {
		return errors.New("change_log_pruned has no row")
	}
	xmin, xmax, xip, err := parseSnapshot(snap)
	if err != nil {
		return err
	}
	// Entries of transactions the previous snapshot saw committed (below
	// its xmin) were read by then; newer ones pruned may not have been.
	if pruned >= p.xmin {
		all = true
	}
	if all {
		p.stats.drops.Add(1)
	}
	if all || len(changes) > 0 {
		// On PostgreSQL applied and the changed marks count applications,
		// not sequence numbers, which are not in commit order: a fill
		// that began before this one is stored only when nothing it read
		// changed in it.
		gen := h.applied + 1
		for i := range changes {
			changes[i].seq = gen
		}
		h.apply(gen, all, changes)
	}
	p.xmin, p.xmax, p.xip = xmin, xmax, xip
	p.covered.Store(commits)
	p.good.Store(int64(start) + 1)
	p.stats.polls.Add(1)
	return nil
}

// closePG stops the poller.
func (p *pgHot) close() {
	close(p.quit)
	<-p.done
}

// logger returns the logger of Options.Logger, or one that discards.
func (db *DB) logger() *slog.Logger {
	if db.log != nil {
		return db.log
	}
	return slog.New(slog.DiscardHandler)
}
