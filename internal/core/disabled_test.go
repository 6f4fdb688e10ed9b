package core_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// TestDisabledFollowerGetsNoWebhooks: the alarm webhooks of a disabled
// account are not delivered (they were, as long as its subscription
// alarmed); its queued deliveries are given up, so that enabling the
// account again does not send stale alarms.
func TestDisabledFollowerGetsNoWebhooks(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	ctx := context.Background()
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer receiver.Close()
	if _, err := f.svc.AddWebhook(ctx, f.follower, receiver.URL+"/alarms", "correct horse battery staple", t0); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetDisabled(ctx, f.follower, true, t0); err != nil {
		t.Fatal(err)
	}
	f.upload(t, 0, 60) // Low fires
	sender := &notify.Sender{Store: db, Client: netguard.NewClient(5*time.Second, true), Clock: f.clock}
	for i := 0; i < 3; i++ {
		if _, _, err := sender.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
	}
	if err := f.svc.SetDisabled(ctx, f.follower, false, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sender.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("a disabled follower's webhook received %d deliveries", n)
	}
	var pending int
	db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE failed_at IS NULL AND delivered_at IS NULL`).Scan(&pending)
	if pending != 0 {
		t.Errorf("%d deliveries still pending after the account was disabled", pending)
	}
}

// TestDisabledPublisherRaisesNoAlarms: a disabled sharer's followers read
// nothing of it, alarms included: open alarms clear at the next
// evaluation and none fires while it stays disabled (its uploads stopped,
// so NoData would otherwise ring forever).
func TestDisabledPublisherRaisesNoAlarms(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M"),
		RealarmDelay: ptr("PT5M")})
	ctx := context.Background()
	f.upload(t, 0, 60) // Low fires
	if got := describe(f.alarms(t, 0)); got != "Low/Active/1/60" {
		t.Fatalf("before: alarms %q, want the Low", got)
	}
	if err := f.svc.SetDisabled(ctx, f.publisher, true, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for min := 1; min <= 120; min++ { // the tick, for two hours
		if _, err := f.svc.EvaluateAll(ctx, t0.Add(time.Duration(min)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range f.alarms(t, 120) {
		if a.State != alerts.StateCleared || a.NotifyCount != 1 {
			t.Errorf("alarm of a disabled sharer: %s", describe([]glucose.Alarm{a}))
		}
	}
}
