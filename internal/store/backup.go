package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ErrPostgresBackup is returned by the SQLite backup helpers for a
// PostgreSQL DSN: its own tools do that job better than glucoshare could.
var ErrPostgresBackup = errors.New("PostgreSQL databases are backed up with pg_dump and restored with pg_restore " +
	"(e.g. pg_dump --format=custom --file=glucoshare.dump DSN; pg_restore --clean --if-exists --dbname=DSN glucoshare.dump); " +
	"see docs/operations.md")

// SQLitePath returns the file of a SQLite DSN (see Open), or
// ErrPostgresBackup for a PostgreSQL one.
func SQLitePath(dsn string) (string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "", ErrPostgresBackup
	case strings.HasPrefix(dsn, "file:"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("sqlite DSN %q: %w", dsn, err)
		}
		p := u.Path
		if u.Opaque != "" {
			p = u.Opaque
		}
		if p == "" || p == ":memory:" || u.Query().Get("mode") == "memory" {
			return "", fmt.Errorf("sqlite DSN %q names no database file", dsn)
		}
		return p, nil
	}
	p := strings.TrimPrefix(dsn, "sqlite:")
	if p == "" {
		p = sqliteDefaultPath
	}
	return p, nil
}

// Backup writes a consistent copy of the SQLite database to the new file
// path, while the database stays in use. VACUUM INTO reads inside one read
// transaction, so the copy holds exactly the transactions committed before
// it began (in WAL mode it does not block writers, and writers do not
// disturb it); it goes to a temporary file beside path, is synced, checked
// with CheckBackup, and only then renamed to path. Backup refuses an
// existing path.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.d.name != "sqlite" {
		return ErrPostgresBackup
	}
	if err := mustNotExist(path); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	// VACUUM INTO accepts an existing file only when it is empty, as the
	// temporary file is. The readers are query_only, which refuses VACUUM
	// INTO, so it runs on the writer connection; it only reads, in WAL mode
	// without blocking other processes' writers, but it does hold this
	// DB's writes up while it runs: `glucoshare backup` opens a DB of its
	// own for it.
	if _, err := db.writer.ExecContext(ctx, `VACUUM INTO ?`, tmp.Name()); err != nil {
		return fmt.Errorf("backup: %w", db.mapError(err))
	}
	if err := syncFile(tmp.Name()); err != nil {
		return err
	}
	if _, err := CheckBackup(ctx, tmp.Name()); err != nil {
		return fmt.Errorf("backup: the copy does not check out: %w", err)
	}
	if err := mustNotExist(path); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// CheckBackup opens a copy of a SQLite database and checks that it is
// intact (PRAGMA integrity_check and foreign_key_check) and holds a
// glucoshare schema this binary knows. It returns the schema version.
// Opening may turn the file into WAL mode: check a copy, not the original.
func CheckBackup(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := Open(ctx, "sqlite:"+path, Options{MaxOpenConns: 1})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.checkIntegrity(ctx); err != nil {
		return 0, err
	}
	current, known, err := db.SchemaVersion(ctx)
	switch {
	case err != nil:
		return 0, err
	case current == 0:
		return 0, errors.New("not a glucoshare database (no schema)")
	case current > known:
		return current, errNewer(current, known)
	}
	return current, nil
}

// checkIntegrity runs SQLite's integrity and foreign key checks.
func (db *DB) checkIntegrity(ctx context.Context) error {
	rows, err := db.writer.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return db.mapError(err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return db.mapError(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.mapError(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	var table string
	err = db.writer.QueryRowContext(ctx, `SELECT "table" FROM pragma_foreign_key_check LIMIT 1`).Scan(&table)
	switch {
	case err == nil:
		return fmt.Errorf("foreign key check failed in table %s", table)
	case !errors.Is(err, sql.ErrNoRows):
		return db.mapError(err)
	}
	return nil
}

// Restore installs the SQLite backup from as the database file to, after
// checking it with CheckBackup. It refuses an existing to unless force;
// the server must not be running on to. The backup is copied beside to,
// checked there, and renamed over to, so that to is either the old
// database or the whole checked backup; to's old -wal and -shm files are
// removed first, since SQLite would otherwise replay a stale log onto the
// restored file. It returns the backup's schema version.
func Restore(ctx context.Context, from, to string, force bool) (int, error) {
	if fi, err := os.Stat(from); err != nil {
		return 0, err
	} else if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a file", from)
	}
	if !force {
		if err := mustNotExist(to); err != nil {
			return 0, fmt.Errorf("%w (restore over it with --force, with the server stopped)", err)
		}
	}
	tmp, err := copyBeside(from, to)
	if err != nil {
		return 0, err
	}
	defer removeDB(tmp) // harmless after the rename
	version, err := CheckBackup(ctx, tmp)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", from, err)
	}
	// CheckBackup closed the copy, which checkpoints and removes its log.
	if leftover(tmp + "-wal") {
		return 0, fmt.Errorf("%s: the checked copy kept a write-ahead log", from)
	}
	for _, f := range []string{to + "-wal", to + "-shm", to + "-journal"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
	}
	if err := os.Rename(tmp, to); err != nil {
		return 0, err
	}
	return version, syncDir(filepath.Dir(to))
}

// copyBeside copies from to a new temporary file in to's directory and
// returns its name.
func copyBeside(from, to string) (string, error) {
	src, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".restore-*")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(dst.Name())
		return "", err
	}
	if err := errors.Join(dst.Sync(), dst.Close()); err != nil {
		os.Remove(dst.Name())
		return "", err
	}
	return dst.Name(), nil
}

// removeDB removes a database file and its -wal and -shm files.
func removeDB(path string) {
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
}

func leftover(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

func mustNotExist(path string) error {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s already exists", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// syncDir makes a rename in dir durable. Not every platform can sync a
// directory; failing to is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	d.Sync()
	return d.Close()
}
