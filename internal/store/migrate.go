package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds one directory per engine of NNNN_name.sql files. Each
// file runs in its own transaction together with its schema_migrations row.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads an engine's migrations, which must be numbered
// 1, 2, 3… without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || path.Ext(e.Name()) != ".sql" {
			return nil, fmt.Errorf("migration %q: name is not NNNN_name.sql", e.Name())
		}
		text, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(text)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant naming an embedded directory
	}
	return sub
}

// Migrate applies the pending migrations, each in its own transaction, and
// returns the schema versions before and after. It refuses a database whose
// schema is newer than this binary knows.
func (db *DB) Migrate(ctx context.Context) (from, to int, err error) {
	ms, err := loadMigrations(db.d.migrations)
	if err != nil {
		return 0, 0, err
	}
	if from, err = db.currentVersion(ctx, db.writer); err != nil {
		return 0, 0, err
	}
	if from > len(ms) {
		return from, from, errNewer(from, len(ms))
	}
	to = from
	for _, m := range ms[from:] {
		if err := db.apply(ctx, m); err != nil {
			return from, to, fmt.Errorf("migration %s: %w", m.name, err)
		}
		to = m.version
	}
	if to > from {
		db.resetHot()
	}
	return from, to, nil
}

// apply runs one migration unless another process applied it meanwhile.
func (db *DB) apply(ctx context.Context, m migration) error {
	if db.closed.Load() {
		return errClosed
	}
	sqlTx, err := db.writer.BeginTx(ctx, db.d.writeTx)
	if err != nil {
		return db.mapError(err)
	}
	defer sqlTx.Rollback()
	if db.d.lockMigrations != "" {
		if _, err := sqlTx.ExecContext(ctx, db.d.lockMigrations); err != nil {
			return db.mapError(err)
		}
	}
	current, err := db.currentVersion(ctx, sqlTx)
	if err != nil || current >= m.version {
		return err
	}
	if _, err := sqlTx.ExecContext(ctx, m.sql); err != nil {
		return db.mapError(err)
	}
	if _, err := sqlTx.ExecContext(ctx,
		db.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
		m.version, time.Now().UnixMilli()); err != nil {
		return db.mapError(err)
	}
	return db.mapError(sqlTx.Commit())
}

// SchemaVersion returns the database's schema version and the newest
// version this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, known int, err error) {
	ms, err := loadMigrations(db.d.migrations)
	if err != nil {
		return 0, 0, err
	}
	current, err = db.currentVersion(ctx, db.reader)
	return current, len(ms), err
}

// CheckSchema fails unless the database's schema is exactly the one this
// binary knows.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, known, err := db.SchemaVersion(ctx)
	switch {
	case err != nil:
		return err
	case current < known:
		return fmt.Errorf("database schema is version %d, this glucoshare needs %d: run `glucoshare migrate`",
			current, known)
	case current > known:
		return errNewer(current, known)
	}
	return nil
}

func errNewer(current, known int) error {
	return fmt.Errorf("database schema version %d is newer than this glucoshare knows (%d): upgrade glucoshare",
		current, known)
}

// currentVersion returns the newest applied migration; 0 on an empty
// database.
func (db *DB) currentVersion(ctx context.Context, q querier) (int, error) {
	if db.closed.Load() {
		return 0, errClosed
	}
	var exists bool
	if err := q.QueryRowContext(ctx, db.d.hasMigrationsTable).Scan(&exists); err != nil || !exists {
		return 0, db.mapError(err)
	}
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, db.mapError(err)
}
