package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// tx implements glucose.Tx on one SQL transaction. Its methods are spread
// over one file per area (accounts.go, sessions.go, …).
type tx struct {
	tx    querier
	sqlTx *sql.Tx // nil for a single statement outside a transaction
	ctx   context.Context
	db    *DB
	// stmts caches statements prepared on the transaction's pool; nil
	// when the engine does not need it (pgx caches them itself).
	stmts *stmtCache
}

// querier is a *sql.Tx, or a pool (*sql.DB) for a single statement that
// needs no transaction (hot.go) or for migrate.go's version look-up.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// stmtCache keeps one *sql.Stmt per query text for a pool. database/sql
// prepares each on a connection the first time a transaction on that
// connection uses it, and reuses it afterwards: SQLite then parses a query
// once per connection rather than on every call, which the profile of the
// read path showed as its largest cost.
type stmtCache struct {
	pool  *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache should some query text vary.
const maxCachedStmts = 1024

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}}
}

// get returns the pool's statement for q, or nil when it is not prepared
// yet: the first miss prepares it in the background, because preparing on
// the pool needs a free connection and the caller's transaction may hold
// the only one (SQLite's writer).
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.stmts[q]
	if ok || len(c.stmts) >= maxCachedStmts {
		return s
	}
	c.stmts[q] = nil // being prepared
	go func() {
		s, err := c.pool.PrepareContext(context.Background(), q)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil {
			c.stmts[q] = s
		} // else the nil entry stays: q runs unprepared from now on
	}()
	return nil
}

// stmt returns q (already rebound) prepared for this transaction, or nil.
func (t *tx) stmt(q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	s := t.stmts.get(q)
	if s == nil || t.sqlTx == nil {
		return s
	}
	return t.sqlTx.StmtContext(t.ctx, s)
}

// execRebound runs q, whose placeholders are already the engine's.
func (t *tx) execRebound(q string, args ...any) (sql.Result, error) {
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

var _ glucose.Tx = (*tx)(nil)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	res, err := t.execRebound(t.db.rebind(q), args...)
	return res, t.db.mapError(err)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	q = t.db.rebind(q)
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	q = t.db.rebind(q)
	var rows *sql.Rows
	var err error
	if s := t.stmt(q); s != nil {
		rows, err = s.QueryContext(t.ctx, args...)
	} else {
		rows, err = t.tx.QueryContext(t.ctx, q, args...)
	}
	return rows, t.db.mapError(err)
}

// count runs a statement and returns how many rows it changed.
func (t *tx) count(q string, args ...any) (int, error) {
	res, err := t.exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// change runs a statement that must change exactly the row it names:
// ErrNotFound when it changed none.
func (t *tx) change(q string, args ...any) error {
	n, err := t.count(q, args...)
	if err == nil && n == 0 {
		err = glucose.ErrNotFound
	}
	return err
}

// guarded runs a statement that may violate a uniqueness rule inside a
// savepoint, so that the transaction stays usable after ErrConflict on
// every engine (PostgreSQL aborts the whole transaction on an error).
func (t *tx) guarded(q string, args ...any) (sql.Result, error) {
	if _, err := t.exec("SAVEPOINT guarded"); err != nil {
		return nil, err
	}
	res, err := t.exec(q, args...)
	if err != nil {
		if _, rbErr := t.exec("ROLLBACK TO SAVEPOINT guarded"); rbErr != nil {
			return nil, fmt.Errorf("%w (rolling back: %v)", err, rbErr)
		}
		return nil, err
	}
	_, err = t.exec("RELEASE SAVEPOINT guarded")
	return res, err
}

// newID returns a random (version 4) UUID in lower case, for rows whose
// caller left the id empty.
func newID() string { return glucose.NewID() }

// nullMS stores the zero time as NULL.
func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: glucose.MS(t), Valid: true}
}

// fromNullMS reads a nullable time; NULL is the zero time.
func fromNullMS(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return glucose.FromMS(ms.Int64)
}
