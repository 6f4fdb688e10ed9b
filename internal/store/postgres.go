package store

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// PostgreSQL: one pool for both Update (READ COMMITTED, retried on
// serialization failure and deadlock) and View (a read-only snapshot).
const (
	postgresDefaultConns   = 10
	postgresDefaultTimeout = 30 * time.Second
	// The wire protocol counts bind parameters in 16 bits.
	postgresMaxParams = 65535
	// postgresMigrationLock is the advisory lock key that serialises
	// Migrate across server instances ("gluco" in ASCII).
	postgresMigrationLock = 0x676c75636f
)

var postgresDialect = &dialect{
	name:       "postgres",
	numbered:   true,
	maxParams:  postgresMaxParams,
	migrations: mustSub(migrationFiles, "migrations/postgres"),
	// pg_tables, not to_regclass: an instance that waited on the migration
	// lock must see the table another instance created meanwhile, and
	// to_regclass may answer from the connection's catalog cache.
	hasMigrationsTable: `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
		WHERE schemaname = current_schema() AND tablename = 'schema_migrations')`,
	lockMigrations: `SELECT pg_advisory_xact_lock(` + strconv.Itoa(postgresMigrationLock) + `)`,
	readTx:         &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	writeTx:        &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	mapError:       postgresError,
	retryable:      postgresRetryable,
	jsonMember:     postgresJSONMember,
	jsonNullOrMissing: func(path []string) string {
		return "COALESCE(jsonb_typeof(body::jsonb #> " + postgresJSONPath(path) + "), 'null') = 'null'"
	},
	regexOp:   "~",
	textOrder: ` COLLATE "C"`,
}

// postgresJSONPath writes a member path as a text array literal: '{a,b}'.
// Members hold only letters, digits, _, - and @ (glucose.ValidField),
// which need no quoting there.
func postgresJSONPath(path []string) string {
	return "'{" + strings.Join(path, ",") + "}'"
}

// postgresJSONMember reads a member of the given kind. Bodies are text
// (the same bytes as on SQLite), cast to jsonb here; CASE guarantees the
// number and boolean casts run only on members of that type.
func postgresJSONMember(path []string, kind glucose.Kind) string {
	p := postgresJSONPath(path)
	typ := "jsonb_typeof(body::jsonb #> " + p + ")"
	text := "(body::jsonb #>> " + p + ")"
	switch kind {
	case glucose.KindNumber:
		return "(CASE WHEN " + typ + " = 'number' THEN " + text + "::float8 END)"
	case glucose.KindString:
		return "(CASE WHEN " + typ + " = 'string' THEN " + text + " END)"
	case glucose.KindBool:
		return "(CASE WHEN " + typ + " = 'boolean' THEN " + text + "::boolean END)"
	}
	return "NULL"
}

func openPostgres(dsn string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	timeout := opts.StatementTimeout
	if timeout == 0 {
		timeout = postgresDefaultTimeout
	}
	if _, set := cfg.RuntimeParams["statement_timeout"]; !set && timeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	pool := stdlib.OpenDB(*cfg)
	conns := orDefault(opts.MaxOpenConns, postgresDefaultConns)
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(orDefault(opts.MaxIdleConns, conns))
	pool.SetConnMaxLifetime(opts.ConnMaxLifetime)
	db := &DB{d: postgresDialect, writer: pool, reader: pool, cacheAccounts: opts.CacheAccounts,
		cacheStaleness: opts.CacheStaleness, log: opts.Logger}
	if opts.CacheStaleness > 0 {
		// The cache's poller has a connection of its own, so that it
		// never waits for one behind the requests. Its query is planned
		// for each poll's cursor: a generic plan of "xid >= $1" scans the
		// whole log (and compiles it, with JIT) every time.
		probeCfg := cfg.Copy()
		probeCfg.RuntimeParams = maps.Clone(cfg.RuntimeParams)
		probeCfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
		probeCfg.RuntimeParams["jit"] = "off"
		db.probe = stdlib.OpenDB(*probeCfg)
		db.probe.SetMaxOpenConns(1)
		db.probe.SetMaxIdleConns(1)
		db.probe.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	return db, nil
}

// postgresError maps SQLSTATE codes and connection failures onto the
// glucose errors.
func postgresError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", glucose.ErrConflict, err)
		case code == "23503": // foreign_key_violation: every key names an account
			return fmt.Errorf("%w: %w", glucose.ErrNotFound, err)
		case strings.HasPrefix(code, "08"), // connection_exception
			code == "57P01", code == "57P02", code == "57P03": // shutdown, cannot_connect_now
			return fmt.Errorf("%w: %w", glucose.ErrUnavailable, err)
		}
		return err
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     *net.OpError
	)
	if errors.As(err, &connectErr) || errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", glucose.ErrUnavailable, err)
	}
	return err
}

// postgresRetryable reports a serialization failure or a deadlock, after
// which the whole transaction may succeed when run again.
func postgresRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}
