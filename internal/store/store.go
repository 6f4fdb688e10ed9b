// Package store is glucoshare's SQL storage: one implementation of
// glucose.Store for SQLite and PostgreSQL.
//
// Queries are written once, in the subset both engines understand (`?`
// placeholders, ON CONFLICT, window functions, savepoints), and rebound to
// `$n` for PostgreSQL. Only connection setup, DDL, introspection and error
// mapping live in the per-engine files sqlite.go and postgres.go.
//
// Times are stored as Unix milliseconds (BIGINT), ids as lower-case UUID
// text.
//
// Errors: a Tx stays usable after ErrNotFound from a look-up or an update
// of a missing row, and after ErrConflict. Any other error, including
// ErrNotFound from inserting a row for a missing account, may have aborted
// the transaction (PostgreSQL does): return it from fn.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

var (
	_ glucose.Store     = (*DB)(nil)
	_ glucose.HotReader = (*DB)(nil)
)

// Options tunes the connection pools. Zero values select the defaults.
type Options struct {
	// MaxOpenConns is the PostgreSQL pool size (default 10), or the number
	// of SQLite reader connections (default 4). SQLite always has exactly
	// one writer connection besides.
	MaxOpenConns int
	// MaxIdleConns defaults to MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime limits how long a pooled connection is reused; zero
	// means forever.
	ConnMaxLifetime time.Duration
	// CacheAccounts bounds how many accounts' sessions and newest readings
	// SQLite keeps in memory (default 100,000; negative turns the cache
	// off), and PostgreSQL with CacheStaleness.
	CacheAccounts int
	// CacheStaleness turns on PostgreSQL's cache of sessions and newest
	// readings (hot_postgres.go): its answers may miss other instances'
	// commits of up to this long ago. 0, the default, is no cache: every
	// read goes to the database. SQLite's cache is never stale, and
	// refuses a bound.
	CacheStaleness time.Duration
	// Logger receives the cache's changes of state; nil discards them.
	Logger *slog.Logger
	// StatementTimeout is PostgreSQL's statement_timeout (default 30s;
	// negative disables it). A statement_timeout in the DSN wins.
	StatementTimeout time.Duration
}

// updateAttempts bounds how often Update runs fn when the engine reports a
// serialization failure or deadlock.
const updateAttempts = 5

// DB is an open database. It implements glucose.Store.
type DB struct {
	d      *dialect
	writer *sql.DB // Update, Migrate
	reader *sql.DB // View; the writer itself on PostgreSQL
	closed atomic.Bool

	rebound    sync.Map // query text with ? → query text for the engine
	insertRead sync.Map // rows per statement → INSERT INTO readings …

	// Prepared statements of the writer and the reader pool (SQLite;
	// nil on PostgreSQL, where pgx caches them per connection).
	writerStmts, readerStmts *stmtCache

	// commits counts the Updates committed through this DB.
	commits atomic.Uint64

	// The hot reads' cache (see hot.go, and hot_postgres.go).
	probe          *sql.DB // one reader connection for the change log
	cacheAccounts  int
	cacheStaleness time.Duration
	pollEvery      time.Duration // set by tests only: the poller's interval
	cacheLease     time.Duration // set by tests only: the lease on the change log
	log            *slog.Logger
	hot            atomic.Pointer[hotCache]
	hotMu          sync.Mutex
	hotErr         error // why the cache could not start or went stale

	// Group commit of Updates (SQLite; see group.go).
	groupReqs chan *groupReq
	groupQuit chan struct{}
	groupDone chan struct{}
	// groupFailed is set when an fn of the last batch failed (group.go);
	// only the committer goroutine uses it.
	groupFailed bool
	// groupHook, set by tests only, sees every pass of the committer over
	// a batch: its size and whether it takes savepoints.
	groupHook func(size int, savepoints bool)

	// Background checkpoints (SQLite; see checkpoint.go).
	ckpt               *sql.DB
	ckptQuit, ckptDone chan struct{}
}

// dialect is what differs between engines. Each engine file builds one.
type dialect struct {
	name string
	// numbered placeholders ($1, $2, …) instead of ?.
	numbered bool
	// maxParams is the number of bound parameters one statement may take.
	maxParams int
	// migrations holds NNNN_name.sql files.
	migrations fs.FS
	// hasMigrationsTable answers one row, 1 or 0.
	hasMigrationsTable string
	// lockMigrations serialises concurrent Migrate calls ("" = the write
	// transaction already does).
	lockMigrations  string
	readTx, writeTx *sql.TxOptions
	// mapError translates the driver's errors by code.
	mapError func(error) error
	// retryable reports whether Update should run fn again after err.
	retryable func(error) bool

	// Reading Nightscout documents (docquery.go). jsonMember returns an
	// expression over a document's body that is the member at path when it
	// has kind, and NULL otherwise; jsonNullOrMissing is true when the
	// member is null or absent. Paths hold only glucose.ValidField
	// members, safe to write into SQL.
	jsonMember        func(path []string, kind glucose.Kind) string
	jsonNullOrMissing func(path []string) string
	// regexOp matches text against a pattern (RE2 syntax).
	regexOp string
	// textOrder follows a text expression that is compared or sorted, so
	// that both engines order text by bytes.
	textOrder string
}

// Open opens the database named by dsn without migrating it:
//
//   - "" is "glucoshare.db" in the working directory (SQLite);
//   - "sqlite:PATH", "file:PATH…" or a plain path is SQLite;
//   - "postgres://…" or "postgresql://…" is PostgreSQL.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	var (
		db  *DB
		err error
	)
	postgres := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	switch {
	case opts.CacheStaleness < 0:
		return nil, errors.New("the cache's staleness bound is negative")
	case opts.CacheStaleness > 0 && !postgres:
		return nil, errors.New("a cache staleness bound is for PostgreSQL: SQLite's cache is never stale")
	case postgres:
		db, err = openPostgres(dsn, opts)
	default:
		db, err = openSQLite(dsn, opts)
	}
	if err != nil {
		return nil, err
	}
	// The writer first: on SQLite it creates the file and turns on WAL
	// before any reader opens it.
	for _, pool := range []*sql.DB{db.writer, db.reader} {
		if err := pool.PingContext(ctx); err != nil {
			db.Close()
			return nil, db.mapError(err)
		}
	}
	if db.d.name == "sqlite" {
		db.startGroupCommit()
		db.startCheckpoints()
	}
	return db, nil
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name }

// SQL returns the writer handle, for tests and tools.
func (db *DB) SQL() *sql.DB { return db.writer }

// Ping checks that the database answers. It uses the reader pool, so that
// on SQLite a health check does not queue behind a long write.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.mapError(db.reader.PingContext(ctx))
}

// Close closes both pools. Later calls fail with glucose.ErrUnavailable.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.stopGroupCommit()
	db.stopCheckpoints()
	if h := db.hot.Swap(nil); h != nil {
		h.close()
	}
	err := db.writer.Close()
	for _, extra := range []*sql.DB{db.probe, db.ckpt} {
		if extra != nil {
			err = errors.Join(err, extra.Close())
		}
	}
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

var errClosed = fmt.Errorf("%w: database is closed", glucose.ErrUnavailable)

// Update runs fn in a read-write transaction and commits when fn returns
// nil; a nil answer comes after the commit. On SQLite, concurrent Updates
// share one transaction, and a failed fn leaves none of its changes
// (group.go). On PostgreSQL, a serialization failure or deadlock runs fn
// again, up to updateAttempts times.
func (db *DB) Update(ctx context.Context, fn func(glucose.Tx) error) error {
	if db.groupReqs != nil {
		if db.closed.Load() {
			return errClosed
		}
		err := db.updateGrouped(ctx, fn)
		if err == nil {
			db.commits.Add(1)
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		err := db.run(ctx, db.writer, db.d.writeTx, fn)
		if err == nil {
			commit := db.commits.Add(1)
			if h := db.hot.Load(); h != nil && h.pg != nil {
				// This instance answers its own writes at once.
				h.pgSyncAfter(commit)
			}
		}
		if err == nil || attempt == updateAttempts || !db.d.retryable(err) {
			return err
		}
		// A little jitter so that the transactions that collided do not
		// collide again.
		pause := time.Duration(attempt)*10*time.Millisecond + rand.N(10*time.Millisecond)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(glucose.Tx) error) error {
	return db.run(ctx, db.reader, db.d.readTx, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(glucose.Tx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return db.mapError(err)
	}
	// Rolls back when fn fails or panics; a no-op after Commit. SQLite has
	// a single writer connection, which a leaked transaction would hold
	// for good.
	defer sqlTx.Rollback()
	stmts := db.readerStmts
	if pool == db.writer {
		stmts = db.writerStmts
	}
	if err := fn(&tx{tx: sqlTx, sqlTx: sqlTx, ctx: ctx, db: db, stmts: stmts}); err != nil {
		return err
	}
	return db.mapError(sqlTx.Commit())
}

// mapError translates err into the glucose error contract, keeping the
// driver's error in the chain.
func (db *DB) mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %w", glucose.ErrNotFound, err)
	default:
		return db.d.mapError(err)
	}
}

// rebind returns q with its ? placeholders in the engine's form. Queries
// never hold a ? inside a literal.
func (db *DB) rebind(q string) string {
	if !db.d.numbered {
		return q
	}
	if r, ok := db.rebound.Load(q); ok {
		return r.(string)
	}
	r := numberPlaceholders(q)
	db.rebound.Store(q, r)
	return r
}

func numberPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
