package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// TestServeRetention starts the server with --retention and watches the
// background purge remove exactly the readings older than it.
func TestServeRetention(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	acct := &glucose.Account{Name: "sam", CreatedAt: now}
	reading := func(age time.Duration) glucose.Reading {
		st := now.Add(-age).UnixMilli()
		return glucose.Reading{ST: st, Value: 100, Trend: share.TrendFlat, ReceivedAt: st}
	}
	err = db.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.CreateAccount(acct); err != nil {
			return err
		}
		var rs []glucose.Reading
		for d := range 3000 { // older than 90 days, more than one batch
			rs = append(rs, reading(91*24*time.Hour+time.Duration(d)*time.Minute))
		}
		rs = append(rs, reading(89*24*time.Hour), reading(time.Hour))
		_, err := tx.InsertReadings(acct.ID, rs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	_, log := startServe(t, "--db", dsn, "--retention", "90d")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left []glucose.Reading
		err := db.View(ctx, func(tx glucose.Tx) (err error) {
			left, err = tx.ReadingsAfter(acct.ID, 0, 10000)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readings left after 20s, want the 2 younger than 90 days; log:\n%s", len(left), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "retention enabled") {
		t.Errorf("retention not logged:\n%s", log)
	}
	if code, out, _ := run(t, "", nil, "serve", "--print-config", "--retention", "365d"); code != 0 || !strings.Contains(out, "retention=365d") {
		t.Errorf("print-config: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "", nil, "serve", "--print-config", "--retention", "forever"); code != 2 || !strings.Contains(errOut, "days") {
		t.Errorf("bad --retention: exit %d, %q", code, errOut)
	}
}
