package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
)

// TestGroupedUpdateFailures: Updates that queue behind a commit share the
// next transaction (SQLite). One that fails or panics leaves none of its
// changes, the others commit, and each caller gets its own outcome. A batch
// in which something failed makes the next batch take savepoints at once,
// so failing Updates do not make every batch run twice.
func TestGroupedUpdateFailures(t *testing.T) {
	t.Parallel()
	db, _ := openSQLite(t) // group commit is SQLite's
	var mu sync.Mutex
	var passes []string // the committer's passes over batches of more than one Update
	store.SetGroupHook(db, func(size int, savepoints bool) {
		if size > 1 {
			mu.Lock()
			passes = append(passes, fmt.Sprintf("%d/%v", size, savepoints))
			mu.Unlock()
		}
	})
	errBoom := errors.New("boom")
	insertThen := func(id string, st int64, then func() error) func(glucose.Tx) error {
		return func(tx glucose.Tx) error {
			if _, err := tx.InsertReadings(id, []glucose.Reading{reading(st, 120)}); err != nil {
				return err
			}
			return then()
		}
	}
	then := map[string]func() error{
		"ok":     func() error { return nil },
		"fails":  func() error { return fmt.Errorf("later: %w", errBoom) },
		"panics": func() error { panic("boom") },
	}

	for i, tc := range []struct {
		updates    []string
		wantPasses []string
	}{
		{[]string{"ok", "fails", "panics", "ok"}, []string{"4/false", "4/true"}},
		// The last batch failed: this one takes savepoints at once.
		{[]string{"ok", "fails", "panics", "ok"}, []string{"4/true"}},
		// This one does too, and clears the way for the next.
		{[]string{"ok", "ok"}, []string{"2/true"}},
		{[]string{"ok", "ok"}, []string{"2/false"}},
	} {
		a := createAccount(t, db, fmt.Sprintf("user%d", i))
		fns := make([]func(glucose.Tx) error, len(tc.updates))
		for j, u := range tc.updates {
			fns[j] = insertThen(a.ID, int64(j+1)*300_000, then[u])
		}
		mu.Lock()
		passes = nil
		mu.Unlock()
		answers := runBatch(t, db, fns)
		mu.Lock()
		got := passes
		mu.Unlock()
		if !slices.Equal(got, tc.wantPasses) {
			t.Errorf("batch %d: the committer's passes were %v, want %v", i, got, tc.wantPasses)
		}
		var want []int64
		for j, u := range tc.updates {
			switch ans := answers[j]; u {
			case "ok":
				want = append(want, int64(j+1)*300_000)
				if ans != nil {
					t.Errorf("batch %d, Update %d: %v, want nil", i, j, ans)
				}
			case "fails":
				if err, _ := ans.(error); !errors.Is(err, errBoom) {
					t.Errorf("batch %d, Update %d: %v, want its own error", i, j, ans)
				}
			default:
				if ans != "panic: boom" {
					t.Errorf("batch %d, Update %d: %v, want its panic", i, j, ans)
				}
			}
		}
		var stored []int64
		for _, r := range latest(t, db, a.ID, 0, 10) {
			stored = append(stored, r.ST)
		}
		slices.Sort(stored)
		if !slices.Equal(stored, want) {
			t.Errorf("batch %d: stored readings at %v, want those of the Updates that succeeded: %v", i, stored, want)
		}
	}
}

// runBatch runs fns as one batch of the committer: an Update that holds
// the committer until the others have queued behind it. It returns each
// Update's answer: nil, its error, or "panic: " and the panic's value.
func runBatch(t *testing.T, db *store.DB, fns []func(glucose.Tx) error) []any {
	t.Helper()
	release := make(chan struct{})
	holding := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.Update(context.Background(), func(glucose.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	answers := make([]any, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					answers[i] = fmt.Sprint("panic: ", p)
				}
			}()
			if err := db.Update(context.Background(), fn); err != nil {
				answers[i] = err
			}
		})
	}
	// The Updates are sent on an unbuffered channel that the committer
	// reads only after the held transaction: give them time to get there.
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("the holding Update: %v", err)
	}
	return answers
}
