// Package storetest gives tests a fresh store on the engine under test.
//
// The engine comes from the environment variable GLUCOSHARE_TEST_DB:
// unset or "sqlite" runs on a SQLite file in the test's temporary
// directory; a "postgres://…" URL runs on a new database created for each
// test on that server (the URL's user must be allowed to CREATE DATABASE)
// and dropped at cleanup. Run every suite on both:
//
//	go test ./...
//	GLUCOSHARE_TEST_DB=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test ./...
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection

	"github.com/glucoshare/glucoshare/internal/store"
)

// EnvDB names the environment variable that selects the engine.
const EnvDB = "GLUCOSHARE_TEST_DB"

// New returns a fresh, migrated store for a test and closes (and, on
// PostgreSQL, drops) it at cleanup.
func New(t testing.TB) *store.DB {
	t.Helper()
	return Open(t, DSN(t))
}

// Open opens and migrates the database at dsn, as one more server process
// would, and closes it at cleanup.
func Open(t testing.TB, dsn string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	// Registered after DSN's cleanup, so it runs before the drop.
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return db
}

// DSN returns the DSN of a fresh, empty database without opening it, for
// tests that start the real server with --db. The database is removed at
// cleanup.
func DSN(t testing.TB) string {
	t.Helper()
	env := os.Getenv(EnvDB)
	switch {
	case env == "" || env == "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "glucoshare.db")
	case strings.HasPrefix(env, "postgres://"), strings.HasPrefix(env, "postgresql://"):
		return postgresDSN(t, env)
	}
	t.Fatalf("storetest: %s=%q: want \"sqlite\" or a postgres:// URL", EnvDB, env)
	return ""
}

// postgresDSN creates a database with a random name on the server of
// serverURL and returns serverURL pointing at it.
func postgresDSN(t testing.TB, serverURL string) string {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvDB, err)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "glucoshare_test_" + hex.EncodeToString(b[:])

	// The name is ours (lower-case letters, digits, underscore), so it
	// needs no quoting.
	admin(t, serverURL, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, serverURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })

	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the server's maintenance database.
func admin(t testing.TB, serverURL, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", serverURL)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("storetest: %s: %v", stmt, err)
	}
}
