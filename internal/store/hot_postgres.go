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
// The triggers of migrations 0018 and 0019 write the change log only while
// an instance holds its lease: while the transaction began before
// change_log_lease.until. Every instance with the cache sets until a
// minute ahead (pgLease) when it starts, and moves it on every sixth of
// that from its poller, so the log runs while some instance runs the
// cache and stops by itself a minute after the last one stopped; servers
// without the cache do not pay for it. An instance starts from a snapshot
// in which every transaction that may have written before its lease has
// ended (pgStartStep), and when it finds that its lease may have lapsed
// (it stalled), it drops its whole cache and starts again that way.
//
// Every instance polls the change log in the background, every quarter of
// the staleness bound. One statement reads the snapshot it runs in and
// the entries of the transactions that the previous poll's snapshot did
// not see: those at or after its xmax, and those in progress at it (its
// xip list). So no entry is missed, however the transactions' sequence
// numbers and commits interleave, and none is read twice.
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
// fails, and drops the cache. It bounds each statement of a start and of a
// renewal of the lease too.
const pgPollTimeout = time.Second

// pgLease is how far ahead an instance sets the end of its lease on the
// change log; it renews it every pgRenewals-th of that.
const (
	pgLease    = time.Minute
	pgRenewals = 6
)

// pgStartTimeout bounds how long one attempt to start the cache waits for
// the transactions older than its lease to end. The poller then reports
// the wait and tries again, reads going to the database meanwhile.
const pgStartTimeout = 5 * time.Second

// errLapsed reports that the lease may have lapsed since this instance
// last renewed it: the log may lack changes made meanwhile.
var errLapsed = errors.New("the lease on the change log lapsed")

// pgPollQuery reads, in one snapshot, that snapshot, the database's clock
// after it was taken, the newest pruned transaction id, and the entries
// the previous snapshot ($1 its xmax, $2 its xip list) did not see.
// Without new entries it answers one row whose entry columns are NULL.
const pgPollQuery = `SELECT pg_current_snapshot()::text, (SELECT clock_timestamp()), p.xid,
	c.seq, c.account, c.kind, c.session, c.st, c.value, c.trend, c.offset_min, c.received_at
	FROM change_log_pruned_xid p LEFT JOIN change_log c ON c.xid >= $1 OR c.xid = ANY ($2::bigint[])
	ORDER BY c.seq`

// pgRenewQuery moves the lease's end to $1 microseconds from now, unless
// another instance's lease ends later, and answers the end.
const pgRenewQuery = `UPDATE change_log_lease
	SET until = GREATEST(until, clock_timestamp() + $1::float8 * interval '1 microsecond') RETURNING until`

// pgHot is the PostgreSQL part of a hotCache.
type pgHot struct {
	db    *DB
	every time.Duration
	lease time.Duration
	epoch time.Time // the origin of the monotonic times below

	// The previous poll's snapshot (under hotCache.syncMu).
	xmin, xmax int64
	xip        string // a bigint[] literal

	// The lease (under syncMu), in the database's clock: until is its end
	// as this instance's last renewal left it, renewed the clock just
	// after that renewal, clock the clock at the last poll; zero before
	// the first.
	until, renewed, clock time.Time
	// started is set once the cache has started from a snapshot
	// (pgStartStep), and cleared when its lease lapsed. startXid is, while
	// it starts, the transaction id taken after its lease was committed;
	// 0 before. Both under syncMu.
	started  bool
	startXid int64

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
	// Polls and PollFailures count the polls of the change log; a failed
	// start or renewal of the lease on the log counts as a failed poll.
	Polls, PollFailures uint64
	// Drops counts the times the whole cache was dropped: after a failed
	// poll, entries pruned before they were read, or a lapsed lease.
	Drops uint64
	// StaleReads counts hot reads sent to the database because the last
	// successful poll was older than the bound, or the cache had not
	// started.
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

// openPGHot takes the lease on the change log and starts the poller. The
// cache answers once it has started from a snapshot: at once unless
// transactions older than the lease are still running, and otherwise
// when the poller has seen them end.
func openPGHot(db *DB) (*hotCache, error) {
	every := max(db.cacheStaleness/pgPollEvery, time.Millisecond)
	if db.pollEvery > 0 {
		every = db.pollEvery
	}
	lease := pgLease
	if db.cacheLease > 0 {
		lease = db.cacheLease
	}
	p := &pgHot{db: db, every: every, lease: lease, epoch: time.Now(), xip: "{}",
		quit: make(chan struct{}), done: make(chan struct{})}
	h := newHotCache(db)
	h.pg = p
	h.syncMu.Lock()
	_, err := h.pgStartStep()
	h.syncMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("starting the cache: %w", err)
	}
	go h.pgRun()
	return h, nil
}

// pgStart starts the cache, holding syncMu, waiting up to pgStartTimeout
// for older transactions to end. It returns nil without starting when the
// cache closes meanwhile.
func (h *hotCache) pgStart() error {
	p := h.pg
	deadline := p.now() + pgStartTimeout
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		started, err := h.pgStartStep()
		if started || err != nil {
			return err
		}
		if p.now() >= deadline {
			return fmt.Errorf("starting the cache: transactions that began before its lease on the change log "+
				"(ids below %d) were still running after %v", p.startXid, pgStartTimeout)
		}
		select {
		case <-p.quit:
			return nil
		case <-time.After(pause):
		}
	}
}

// pgStartStep takes one step towards starting the cache, holding syncMu:
// it takes the lease and a new transaction id N when it has none, then
// reads a snapshot S0 and the database's clock. It starts from S0, with
// nothing cached, when every transaction whose id is below N had ended by
// S0, and reports whether it did.
//
// Why the log holds every change that S0 does not see. Take a transaction
// W that S0 does not see. The triggers log W's changes when a statement
// of theirs, which runs after the change, sees a lease whose end is ahead
// of W's start (now()); at READ COMMITTED each such statement reads the
// lease in a new snapshot. W changed a row before its triggers ran, so it
// had a transaction id by then; and the id is above N, since every
// transaction below N had ended before S0 was taken, and S0 would have
// seen W. So the id was assigned after N was, which was after the lease
// was committed, and W's triggers saw the lease. The polls read the
// entries of every transaction S0 did not see. This holds while the lease
// has not lapsed: each renewal and each poll checks, in the database's
// clock, that this instance's last lease had not ended (renew, pgPoll),
// and S0 is taken within it; otherwise the cache starts again.
//
// N is a new transaction id rather than the xmax of a snapshot taken
// after the lease's commit, because xmax is one past the newest
// transaction that has ended: a transaction that took its id while the
// lease's UPDATE was committing, and looked at the lease before the
// commit, may be above that xmax, running, and absent from the snapshot's
// list of transactions in progress.
//
// A fill that began before S0 is not stored: it may have read a state
// that an unlogged change replaced after it.
func (h *hotCache) pgStartStep() (bool, error) {
	p := h.pg
	ctx, cancel := context.WithTimeout(context.Background(), pgPollTimeout)
	defer cancel()
	if p.startXid == 0 {
		if _, err := p.renew(ctx); err != nil {
			return false, err
		}
		err := h.probe.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&p.startXid)
		if err != nil {
			return false, err
		}
	}
	start, commits := p.now(), p.db.commits.Load()
	var snap string
	err := h.probe.QueryRowContext(ctx, `SELECT pg_current_snapshot()::text, clock_timestamp() FROM change_log_pruned_xid`).
		Scan(&snap, &p.clock)
	if err != nil {
		return false, err
	}
	xmin, xmax, xip, err := parseSnapshot(snap)
	if err != nil {
		return false, err
	}
	if !p.clock.Before(p.until) {
		p.startXid = 0 // the lease lapsed while older transactions ran: take it again
		return false, nil
	}
	if xmin <= p.startXid {
		if err := p.renewIfDue(ctx); errors.Is(err, errLapsed) {
			p.startXid = 0
		} else if err != nil {
			return false, err
		}
		return false, nil
	}
	h.apply(h.applied+1, true, nil)
	p.xmin, p.xmax, p.xip = xmin, xmax, xip
	p.started, p.startXid = true, 0
	p.covered.Store(commits)
	p.good.Store(int64(start) + 1)
	return true, nil
}

// renew moves the lease's end to p.lease from now and reports whether it
// had lapsed: whether the database's clock, read once the new end was
// committed, had reached the end that this instance's previous renewal
// left. Until then the log ran without a gap, since other instances only
// ever move the end on. Another instance's renewal may hide a gap from
// the shared end, so the check is against this instance's own.
func (p *pgHot) renew(ctx context.Context) (lapsed bool, err error) {
	var until, now time.Time
	err = p.db.probe.QueryRowContext(ctx, pgRenewQuery, p.lease.Microseconds()).Scan(&until)
	if err == nil {
		err = p.db.probe.QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&now)
	}
	if err != nil {
		return false, fmt.Errorf("renewing the lease on the change log: %w", err)
	}
	lapsed = !now.Before(p.until)
	p.until, p.renewed = until, now
	return lapsed, nil
}

// renewIfDue renews the lease when a pgRenewals-th of it has passed since
// the last renewal, by the database's clock at the last poll; errLapsed
// when it had lapsed.
func (p *pgHot) renewIfDue(ctx context.Context) error {
	if p.clock.Sub(p.renewed) < p.lease/pgRenewals {
		return nil
	}
	lapsed, err := p.renew(ctx)
	if err == nil && lapsed {
		err = errLapsed
	}
	return err
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
// has. Before the cache has started there is nothing to apply.
func (h *hotCache) pgSyncAfter(commit uint64) {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	if h.pg.started && h.pg.covered.Load() < commit {
		h.pgSync()
	}
}

// pgSync polls once and renews the lease when due, or starts the cache
// when it has not started, holding syncMu. A failure drops the cache and
// sends the hot reads to the database until a poll succeeds; a lapsed
// lease drops it until it has started again.
func (h *hotCache) pgSync() {
	p := h.pg
	var err error
	if p.started {
		if err = h.pgPoll(); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), pgPollTimeout)
			err = p.renewIfDue(ctx)
			cancel()
		}
	} else if err = h.pgStart(); err == nil && !p.started {
		return // closing
	}
	switch {
	case err == nil:
		if p.failing.Swap(false) {
			p.db.logger().Info("the database cache is current again")
		}
		return
	case errors.Is(err, errLapsed):
		p.started, p.startXid = false, 0
		p.good.Store(0)
		h.dropAll()
		p.db.logger().Warn("the lease on the database's change log lapsed (did this instance stall?); " +
			"the cache starts again, the hot reads go to the database meanwhile")
		return
	}
	p.stats.failures.Add(1)
	p.good.Store(0)
	msg := "polling the database's change log failed; the hot reads go to the database until it succeeds"
	if !p.started {
		msg = "the database cache has not started; the hot reads go to the database until it does"
	} else {
		h.dropAll()
	}
	if !p.failing.Swap(true) {
		p.db.logger().Warn(msg, "err", err)
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
		clock   time.Time
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
		if err := rows.Scan(&snap, &clock, &pruned, &seq, &account, &kind, &session, &st, &value, &trend, &offset, &receiv); err != nil {
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
		return errors.New("change_log_pruned_xid has no row")
	}
	xmin, xmax, xip, err := parseSnapshot(snap)
	if err != nil {
		return err
	}
	// clock was read after the snapshot was taken. Before the end of this
	// instance's lease (and renew checks that each of its leases began
	// before the previous one ended), the log ran for every transaction
	// the snapshot sees committed; after it, changes may be missing.
	p.clock = clock
	if !clock.Before(p.until) {
		return errLapsed
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

// close stops the poller.
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
