package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// SQLite: one writer connection whose transactions begin IMMEDIATE (so two
// writers queue on busy_timeout instead of failing to upgrade a read lock),
// and a pool of query_only readers, which WAL lets run beside the writer.
//
// Every pragma is in the DSN, so that each new pooled connection gets it;
// busy_timeout comes first because the others may need a lock.
const (
	sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	// The writer leaves checkpoints to a connection of their own
	// (checkpoint.go).
	sqliteWriterParams = sqlitePragmas + "&_txlock=immediate&_pragma=wal_autocheckpoint(0)"
	sqliteReaderParams = sqlitePragmas + "&_pragma=query_only(1)"
	sqliteDefaultPath  = "glucoshare.db"
	sqliteDefaultConns = 4
	// SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32.
	sqliteMaxParams = 32766
)

var sqliteDialect = &dialect{
	name:       "sqlite",
	maxParams:  sqliteMaxParams,
	migrations: mustSub(migrationFiles, "migrations/sqlite"),
	hasMigrationsTable: `SELECT COUNT(*) > 0 FROM sqlite_schema
		WHERE type = 'table' AND name = 'schema_migrations'`,
	readTx:     &sql.TxOptions{ReadOnly: true},
	mapError:   sqliteError,
	retryable:  func(error) bool { return false }, // one writer: nothing to retry
	jsonMember: sqliteJSONMember,
	jsonNullOrMissing: func(path []string) string {
		return "COALESCE(json_type(body, " + sqliteJSONPath(path) + "), 'null') = 'null'"
	},
	regexOp: "REGEXP",
}

// sqliteJSONPath writes a member path as a quoted JSON path literal:
// $."a"."b". Members never hold a quote (glucose.ValidField).
func sqliteJSONPath(path []string) string {
	return `'$."` + strings.Join(path, `"."`) + `"'`
}

// sqliteJSONMember reads a member of the given kind; json_type tells
// integers and reals (numbers) from text and from true and false.
func sqliteJSONMember(path []string, kind glucose.Kind) string {
	p := sqliteJSONPath(path)
	switch kind {
	case glucose.KindNumber:
		return "(CASE WHEN json_type(body, " + p + ") IN ('integer', 'real') THEN json_extract(body, " + p + ") END)"
	case glucose.KindString:
		return "(CASE WHEN json_type(body, " + p + ") = 'text' THEN json_extract(body, " + p + ") END)"
	case glucose.KindBool:
		return "(CASE json_type(body, " + p + ") WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
	}
	return "NULL"
}

// regexCache keeps compiled patterns of the regexp() function, bounded.
var regexCache sync.Map

const maxCachedRegexps = 1024

var regexCached atomic.Int64

// The REGEXP operator calls regexp(pattern, text), which SQLite leaves to
// the application: Go's regexp (RE2), the syntax glucose.CheckRegex
// accepts. NULL on either side gives NULL, like SQLite's own operators.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("regexp", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		pattern, ok1 := args[0].(string)
		text, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return nil, nil
		}
		re, err := cachedRegexp(pattern)
		if err != nil {
			return nil, err
		}
		return re.MatchString(text), nil
	})
}

func cachedRegexp(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if regexCached.Add(1) <= maxCachedRegexps {
		regexCache.Store(pattern, re)
	}
	return re, nil
}

func openSQLite(dsn string, opts Options) (*DB, error) {
	uri, err := sqliteURI(dsn)
	if err != nil {
		return nil, err
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	writer, err := sql.Open("sqlite", uri+sep+sqliteWriterParams)
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)

	reader, err := sql.Open("sqlite", uri+sep+sqliteReaderParams)
	if err != nil {
		writer.Close()
		return nil, err
	}
	conns := orDefault(opts.MaxOpenConns, sqliteDefaultConns)
	reader.SetMaxOpenConns(conns)
	reader.SetMaxIdleConns(orDefault(opts.MaxIdleConns, conns))
	reader.SetConnMaxLifetime(opts.ConnMaxLifetime)
	// The cache's reader of the change log (hot.go), opened on first use.
	probe, err := sql.Open("sqlite", uri+sep+sqliteReaderParams)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, err
	}
	// The checkpointer's connection (checkpoint.go).
	ckpt, err := sql.Open("sqlite", uri+sep+sqlitePragmas)
	if err != nil {
		writer.Close()
		reader.Close()
		probe.Close()
		return nil, err
	}
	for _, one := range []*sql.DB{probe, ckpt} {
		one.SetMaxOpenConns(1)
		one.SetMaxIdleConns(1)
		one.SetConnMaxLifetime(0)
	}
	return &DB{d: sqliteDialect, writer: writer, reader: reader, probe: probe, ckpt: ckpt, cacheAccounts: opts.CacheAccounts,
		writerStmts: newStmtCache(writer), readerStmts: newStmtCache(reader)}, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// sqliteURI turns the DSN into a SQLite "file:" URI. A plain path is
// escaped so that ? and # in file names stay part of the name. SQLite
// creates a missing database file but not its directory; a missing
// directory is reported plainly rather than as "unable to open".
func sqliteURI(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "file:") {
		return dsn, nil
	}
	p := strings.TrimPrefix(dsn, "sqlite:")
	if p == "" {
		p = sqliteDefaultPath
	}
	if dir := filepath.Dir(p); dir != "." {
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("sqlite database %s: %w", p, err)
		}
	}
	return "file:" + (&url.URL{Path: filepath.Clean(p)}).EscapedPath(), nil
}

// sqliteError maps SQLite's extended result codes onto the glucose errors.
func sqliteError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", glucose.ErrConflict, err)
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// Every foreign key names an account: a row for a missing one.
		return fmt.Errorf("%w: %w", glucose.ErrNotFound, err)
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: %w", glucose.ErrUnavailable, err)
	}
	return err
}
