package store_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// TestWALStaysBounded: the writer does not checkpoint, the background
// checkpointer does, so the write-ahead log is reused instead of growing
// with every commit.
func TestWALStaysBounded(t *testing.T) {
	t.Parallel()
	db, path := openSQLite(t)
	a := createAccount(t, db, "alice")
	wal := path + "-wal"
	st := int64(1_000_000)
	var sizes []int64
	for range 5 {
		for range 200 {
			st += 300_000
			insert(t, db, a.ID, []glucose.Reading{reading(st, 120)})
		}
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
		time.Sleep(600 * time.Millisecond) // two checkpoint rounds
	}
	if last, first := sizes[len(sizes)-1], sizes[0]; last > first*5/2 {
		t.Errorf("the log grew from %d to %d bytes over five rounds of 200 commits (sizes %v)", first, last, sizes)
	}
}

// openSQLite opens and migrates a database of its own on SQLite, closed
// when t ends, and returns it with its file's path. It skips t on other
// engines.
func openSQLite(t *testing.T) (*store.DB, string) {
	t.Helper()
	dsn := storetest.DSN(t)
	if !strings.HasPrefix(dsn, "sqlite:") {
		t.Skip("SQLite only")
	}
	return storetest.Open(t, dsn), strings.TrimPrefix(dsn, "sqlite:")
}
