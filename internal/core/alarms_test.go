package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

var (
	t0         = time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	cheapArgon = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}
)

func ptr[T any](v T) *T { return &v }

// follow is a fixture: a publisher monitoring serial SN1 and a follower who
// accepted an invitation with the given Low setting.
type follow struct {
	svc         *core.Service
	clock       *clocktest.Clock
	publisher   string
	serial      string
	follower    string
	subscripton string
}

func newFollow(t testing.TB, db glucose.Store, low core.AlertInput) *follow {
	t.Helper()
	return newFollowAs(t, newService(db), "sam", "SN1", "mum", low)
}

// newService is the service of the alarm tests. Their webhook receivers
// listen on loopback.
func newService(db glucose.Store) *core.Service {
	return core.New(db, core.Config{Argon2: cheapArgon, AllowPrivateAddresses: true})
}

// newFollowAs is newFollow for the named accounts, on svc.
func newFollowAs(t testing.TB, svc *core.Service, publisher, serial, follower string, low core.AlertInput) *follow {
	t.Helper()
	ctx := context.Background()
	clock := clocktest.New(t0)
	pub, err := svc.CreateAccount(ctx, core.NewAccount{Name: publisher, Password: "correct horse", DisplayName: "Sam"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	fol, err := svc.CreateAccount(ctx, core.NewAccount{Name: follower, Password: "correct horse"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.StartMonitoring(ctx, pub.ID, serial); err != nil {
		t.Fatal(err)
	}
	c, err := svc.CreateContact(ctx, pub.ID, "Mum", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := svc.Invite(ctx, pub.ID, c.ID, core.Invitation{Alerts: core.AlertsInput{Low: &low}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AcceptInvitation(ctx, fol.ID, sub.InvitationID, t0); err != nil {
		t.Fatal(err)
	}
	return &follow{svc: svc, clock: clock, publisher: pub.ID, serial: serial, follower: fol.ID, subscripton: sub.ID}
}

// lowAlert: below 70 for 15 minutes, re-alarm every 30 (docs/protocol.md, "Worked examples").
func lowAlert() core.AlertInput {
	return core.AlertInput{IsEnabled: ptr(true), MinValue: ptr(int64(39)), MaxValue: ptr(int64(70)),
		AlarmDelay: ptr("PT15M"), RealarmDelay: ptr("PT30M")}
}

func (f *follow) upload(t testing.TB, min, value int) {
	t.Helper()
	now := t0.Add(time.Duration(min) * time.Minute)
	_, err := f.svc.PostReadings(context.Background(), f.publisher, f.serial,
		[]core.EGV{{ST: now.UnixMilli(), Value: value, Trend: share.TrendFlat}}, now)
	if err != nil {
		t.Fatal(err)
	}
}

func (f *follow) alarms(t testing.TB, min int) []glucose.Alarm {
	t.Helper()
	as, err := f.svc.Alarms(context.Background(), f.follower, "", 1440, t0.Add(time.Duration(min)*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func describe(as []glucose.Alarm) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%d", alerts.KindName(a.Kind), a.State, a.NotifyCount, a.Value))
	}
	return strings.Join(parts, " ")
}

func TestAlarmsThroughUploadsTicksAndRestart(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, lowAlert())
	ctx := context.Background()
	for i, v := range []int{72, 68, 66, 65} { // minutes 0–15: run starts at 5
		f.upload(t, i*5, v)
	}
	if got := describe(f.alarms(t, 15)); got != "" {
		t.Fatalf("alarms before the delay: %s", got)
	}
	f.upload(t, 20, 64)
	as := f.alarms(t, 20)
	if got := describe(as); got != "Low/Active/1/64" {
		t.Fatalf("alarms at 20: %s", got)
	}
	if !as[0].TriggeredAt.Equal(t0.Add(20 * time.Minute)) {
		t.Errorf("TriggeredAt %v", as[0].TriggeredAt)
	}

	// A restart: a new service on the same database neither repeats nor
	// forgets the firing.
	f.svc = core.New(db, core.Config{Argon2: cheapArgon})
	if _, err := f.svc.EvaluateAll(ctx, t0.Add(21*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := describe(f.alarms(t, 21)); got != "Low/Active/1/64" {
		t.Fatalf("after restart: %s", got)
	}
	// The periodic tick re-alarms at 50 (20 + 30), without an upload.
	for m := 22; m <= 50; m++ {
		if _, err := f.svc.EvaluateAll(ctx, t0.Add(time.Duration(m)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if got := describe(f.alarms(t, 50)); got != "Low/Active/2/64" {
		t.Fatalf("after re-alarm: %s", got)
	}
	if err := f.svc.AcknowledgeAlarm(ctx, f.follower, as[0].ID, t0.Add(52*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AcknowledgeAlarm(ctx, f.follower, as[0].ID, t0.Add(53*time.Minute)); err != nil {
		t.Fatalf("acknowledging twice: %v", err)
	}
	f.svc.EvaluateAll(ctx, t0.Add(81*time.Minute))
	if got := describe(f.alarms(t, 81)); got != "Low/Acknowledged/2/64" {
		t.Fatalf("silenced by the acknowledgement: %s", got)
	}
	f.svc.EvaluateAll(ctx, t0.Add(82*time.Minute))
	if got := describe(f.alarms(t, 82)); got != "Low/Active/3/64" {
		t.Fatalf("after the acknowledgement ran out: %s", got)
	}
	f.upload(t, 85, 75)
	if got := describe(f.alarms(t, 85)); got != "Low/Cleared/3/64" {
		t.Fatalf("after recovery: %s", got)
	}
	// Cleared alarms drop out of the list after `minutes`.
	if as, _ := f.svc.Alarms(ctx, f.follower, "", 10, t0.Add(85*time.Minute)); len(as) != 0 {
		t.Errorf("cleared alarm triggered 65 minutes ago listed with minutes=10: %s", describe(as))
	}
}

func TestAlarmAccess(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	ctx := context.Background()
	f.upload(t, 0, 60)
	as := f.alarms(t, 0)
	if len(as) != 1 { // Low only: 60 is not below urgent low's 55
		t.Fatalf("alarms %s", describe(as))
	}
	stranger, _ := f.svc.CreateAccount(ctx, core.NewAccount{Name: "stranger", Password: "correct horse"}, t0)
	for name, caller := range map[string]string{"stranger": stranger.ID, "publisher": f.publisher} {
		err := f.svc.AcknowledgeAlarm(ctx, caller, as[0].ID, t0)
		if glucose.ErrorCode(err) != share.CodeAlarmIDNotFound {
			t.Errorf("%s acknowledging: %v, want AlarmIdNotFound", name, err)
		}
		if _, err := f.svc.Alarms(ctx, caller, f.subscripton, 1440, t0); glucose.ErrorCode(err) != share.CodeSubscriptionIDNotFound {
			t.Errorf("%s listing: %v, want SubscriptionIdNotFound", name, err)
		}
	}
	if err := f.svc.AcknowledgeAlarm(ctx, f.follower, "not-an-id", t0); glucose.ErrorCode(err) != share.CodeAlarmIDNotFound {
		t.Errorf("malformed id: %v", err)
	}
	if got := describe(f.alarms(t, 0)); got != "Low/Active/1/60" {
		t.Errorf("alarms changed by refused calls: %s", got)
	}
}

// twoInstances opens two handles on one fresh, migrated database, as two
// server processes would.
func twoInstances(t *testing.T) (*store.DB, *store.DB) {
	t.Helper()
	dsn := storetest.DSN(t)
	var dbs [2]*store.DB
	for i := range dbs {
		dbs[i] = storetest.Open(t, dsn)
	}
	return dbs[0], dbs[1]
}

func TestTwoInstancesFireEachEventOnce(t *testing.T) {
	ctx := context.Background()
	a, b := twoInstances(t)
	f := newFollow(t, a, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M"), RealarmDelay: ptr("PT5M")})
	hook, err := f.svc.AddWebhook(ctx, f.follower, "https://example.org/hook", "a secret of sixteen+", t0)
	if err != nil {
		t.Fatal(err)
	}
	_ = hook
	f.upload(t, 0, 80)
	other := core.New(b, core.Config{Argon2: cheapArgon})
	// Both instances tick at the same instants, concurrently.
	if _, err := a.SQL().ExecContext(ctx, rebindFor(a, `INSERT INTO readings (account_id, st, value, trend, offset_min, received_at) VALUES (?, ?, ?, ?, ?, ?)`),
		f.publisher, t0.Add(time.Minute).UnixMilli(), 50, 4, 0, t0.Add(time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 12; m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		var wg sync.WaitGroup
		for _, svc := range []*core.Service{f.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := svc.EvaluateAll(ctx, now); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// The 50 at minute 1 fires Low and urgent low at 1; Low re-alarms at 6
	// and 11, urgent low (30-minute default) not yet.
	if got := describe(f.alarms(t, 12)); got != "Low/Active/3/50 UrgentLow/Active/1/50" && got != "UrgentLow/Active/1/50 Low/Active/3/50" {
		t.Errorf("alarms %s", got)
	}
	var deliveries int
	a.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&deliveries)
	if deliveries != 4 { // Low fired + 2 re-alarms, urgent low fired
		t.Errorf("%d deliveries queued, want 4 (each event once)", deliveries)
	}
}

// crashed leaves what a crash between an upload's commit and its alarm
// evaluation leaves (internal/durability shows the real server does): the
// reading stored and the publisher marked in one transaction, no alarm.
func (f *follow) crashed(t testing.TB, db glucose.Store, min, value int) {
	t.Helper()
	st := t0.Add(time.Duration(min) * time.Minute).UnixMilli()
	err := db.Update(context.Background(), func(tx glucose.Tx) error {
		if _, err := tx.InsertReadings(f.publisher, []glucose.Reading{{ST: st, Value: value, Trend: share.TrendFlat, ReceivedAt: st}}); err != nil {
			return err
		}
		work, err := tx.MarkAlarmWork(f.publisher)
		if err == nil && !work {
			err = errors.New("a publisher with a follower has no alarm work")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func marked(t testing.TB, db glucose.Store) []string {
	t.Helper()
	var ids []string
	err := db.View(context.Background(), func(tx glucose.Tx) (err error) {
		ids, err = tx.MarkedPublishers()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestMarksPickedUpOnceByTwoInstances: a crash left urgent lows of several
// publishers stored without their alarms. Two instances pick the marks up
// at the same moments, several times over, while the uploaders re-send
// the readings to both: every follower gets its urgent low once, with one
// webhook delivery, and no mark is left.
func TestMarksPickedUpOnceByTwoInstances(t *testing.T) {
	ctx := context.Background()
	a, b := twoInstances(t)
	svcs := []*core.Service{newService(a), newService(b)}
	const publishers = 8
	var fs []*follow
	for i := range publishers {
		f := newFollowAs(t, svcs[0], fmt.Sprint("sam", i), fmt.Sprint("SN", i), fmt.Sprint("mum", i), lowAlert())
		if _, err := f.svc.AddWebhook(ctx, f.follower, "https://example.org/hook", "a secret of sixteen+", t0); err != nil {
			t.Fatal(err)
		}
		f.crashed(t, a, 0, 50)
		fs = append(fs, f)
	}
	if got := marked(t, b); len(got) != publishers {
		t.Fatalf("marked %d publishers after the crash, want %d", len(got), publishers)
	}
	now := t0.Add(time.Minute)
	var wg sync.WaitGroup
	for round := range 3 {
		for i, svc := range svcs {
			wg.Go(func() {
				if _, err := svc.EvaluateMarked(ctx, now); err != nil {
					t.Errorf("round %d, instance %d: %v", round, i, err)
				}
			})
			for _, f := range fs {
				wg.Go(func() {
					_, err := svc.PostReadings(ctx, f.publisher, f.serial,
						[]core.EGV{{ST: t0.UnixMilli(), Value: 50, Trend: share.TrendFlat}}, now)
					if err != nil {
						t.Errorf("round %d, instance %d: re-sent upload: %v", round, i, err)
					}
				})
			}
		}
	}
	wg.Wait()
	for i, f := range fs {
		if got := describe(f.alarms(t, 1)); got != "UrgentLow/Active/1/50" {
			t.Errorf("publisher %d: alarms %q, want one urgent low", i, got)
		}
	}
	var deliveries int
	if err := a.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&deliveries); err != nil {
		t.Fatal(err)
	}
	if deliveries != publishers {
		t.Errorf("%d webhook deliveries queued, want %d (each urgent low once)", deliveries, publishers)
	}
	if got := marked(t, a); len(got) != 0 {
		t.Errorf("marks left after the pick-ups: %v", got)
	}
}

// TestResentReadingEvaluatesWhatACrashLeft: when a crash left an urgent low
// stored without its alarm, the uploader's retry of the same reading
// stores nothing but fires the alarm, once; a retry of a reading whose
// evaluation completed evaluates nothing.
func TestResentReadingEvaluatesWhatACrashLeft(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, lowAlert())
	f.crashed(t, db, 0, 50)
	resend := func(min int) core.PostResult {
		t.Helper()
		now := t0.Add(time.Duration(min) * time.Minute)
		res, err := f.svc.PostReadings(context.Background(), f.publisher, "SN1",
			[]core.EGV{{ST: t0.UnixMilli(), Value: 50, Trend: share.TrendFlat}}, now)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := resend(1); res.Stored != 0 {
		t.Fatalf("the re-sent reading was stored again: %+v", res)
	}
	if got := describe(f.alarms(t, 1)); got != "UrgentLow/Active/1/50" {
		t.Fatalf("after the re-sent urgent low: alarms %q, want it fired", got)
	}
	if got := marked(t, db); len(got) != 0 {
		t.Fatalf("marks left after the evaluation: %v", got)
	}
	// Evaluated at +40 minutes the urgent low would re-alarm (every 30
	// minutes by default): a re-send now must not evaluate, since nothing
	// is owed; the tick re-alarms.
	resend(40)
	if got := describe(f.alarms(t, 40)); got != "UrgentLow/Active/1/50" {
		t.Errorf("after a re-send of a reading already evaluated: alarms %q, want no evaluation", got)
	}
	// An upload that stores a reading evaluates and leaves no mark.
	f.upload(t, 45, 52)
	if got := describe(f.alarms(t, 45)); got != "Low/Active/1/52 UrgentLow/Active/2/50" {
		t.Errorf("after a new reading at +45: alarms %q, want Low fired and the urgent low re-alarmed", got)
	}
	if got := marked(t, db); len(got) != 0 {
		t.Errorf("marks left after an upload's evaluation: %v", got)
	}
}

// TestNightscoutUploadEvaluatesAlarms: readings stored through the
// Nightscout API alarm at once, as Share uploads do, not at the next tick;
// a crash before their evaluation leaves a mark as well.
func TestNightscoutUploadEvaluatesAlarms(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, lowAlert())
	ctx := context.Background()
	if _, _, err := f.svc.ImportReadings(ctx, f.publisher, []core.EGV{{ST: t0.UnixMilli(), Value: 50, Trend: share.TrendFlat}}, t0); err != nil {
		t.Fatal(err)
	}
	if got := describe(f.alarms(t, 0)); got != "UrgentLow/Active/1/50" {
		t.Errorf("after a Nightscout upload of an urgent low: alarms %q, want it fired", got)
	}
	if got := marked(t, db); len(got) != 0 {
		t.Errorf("marks left after the evaluation: %v", got)
	}
}

// rebindFor writes ? placeholders as $n for PostgreSQL.
func rebindFor(db *store.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	n := 0
	var b strings.Builder
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestWebhookDeliveryRetriesAndSigns(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	ctx := context.Background()
	const secret = "correct horse battery staple"
	var calls atomic.Int32
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, sig := r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature)
		var unix int64
		fmt.Sscan(ts, &unix)
		if !notify.Verify(secret, sig, unix, body, f.clock.Now(), 5*time.Minute) {
			t.Errorf("bad signature %q for %s", sig, body)
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(notify.HeaderEvent)+" "+string(body))
		mu.Unlock()
	}))
	defer receiver.Close()
	if _, err := f.svc.AddWebhook(ctx, f.follower, receiver.URL+"/alarms", secret, t0); err != nil {
		t.Fatal(err)
	}
	f.upload(t, 0, 60) // Low fires: one event, one delivery
	sender := &notify.Sender{Store: db, Client: netguard.NewClient(5*time.Second, true), Clock: f.clock,
		Backoff: []time.Duration{10 * time.Second, 30 * time.Second, time.Minute}}
	run := func() (int, int) {
		sent, failed, err := sender.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return sent, failed
	}
	if s, fl := run(); s != 0 || fl != 1 {
		t.Fatalf("first attempt: sent %d failed %d, want 0 and 1", s, fl)
	}
	if s, fl := run(); s != 0 || fl != 0 {
		t.Fatalf("before the backoff: sent %d failed %d, want nothing due", s, fl)
	}
	f.clock.Advance(10 * time.Second)
	if s, fl := run(); s != 0 || fl != 1 {
		t.Fatalf("second attempt: sent %d failed %d, want 0 and 1", s, fl)
	}
	f.clock.Advance(30 * time.Second)
	if s, fl := run(); s != 1 || fl != 0 {
		t.Fatalf("third attempt: sent %d failed %d, want 1 and 0", s, fl)
	}
	f.clock.Advance(time.Hour)
	if s, fl := run(); s != 0 || fl != 0 {
		t.Fatalf("a delivered event was sent again: sent %d failed %d", s, fl)
	}
	var attempts int
	db.SQL().QueryRowContext(ctx, `SELECT attempts FROM deliveries`).Scan(&attempts)
	if attempts != 3 || calls.Load() != 3 {
		t.Errorf("attempts %d, receiver calls %d; want 3 and 3", attempts, calls.Load())
	}
	if len(got) != 1 || !strings.Contains(got[0], `"Event":"fired"`) || !strings.Contains(got[0], `"AlarmId":"`) {
		t.Fatalf("received %q", got)
	}
}

func TestWebhookGivesUpAfterBackoff(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	}))
	defer receiver.Close()
	f.svc.AddWebhook(ctx, f.follower, receiver.URL, "sixteen characters", t0)
	f.upload(t, 0, 50)
	sender := &notify.Sender{Store: db, Client: netguard.NewClient(5*time.Second, true), Clock: f.clock,
		Backoff: []time.Duration{time.Second}}
	sender.RunOnce(ctx)
	f.clock.Advance(time.Second)
	sender.RunOnce(ctx)
	f.clock.Advance(time.Hour)
	if s, fl, _ := sender.RunOnce(ctx); s+fl != 0 {
		t.Errorf("a delivery that was given up was tried again")
	}
	var failed int
	db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE failed_at IS NOT NULL AND attempts = 2`).Scan(&failed)
	if failed != 2 {
		t.Errorf("%d deliveries marked failed after 2 attempts, want 2", failed)
	}
}

func TestWebhookClientRefusesPrivateAddresses(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()
	_, err := netguard.NewClient(time.Second, false).Post(receiver.URL, "application/json", nil)
	if !errors.Is(err, netguard.ErrNotGlobal) {
		t.Errorf("posting to %s: %v, want netguard.ErrNotGlobal", receiver.URL, err)
	}
}

func TestWebhookFailureLogsOnlyTheHost(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	host := strings.TrimPrefix(receiver.URL, "http://")
	receiver.Close() // every delivery fails: connection refused
	if _, err := f.svc.AddWebhook(ctx, f.follower, receiver.URL+"/hook/PATHSECRET?token=QUERYSECRET", "sixteen characters", t0); err != nil {
		t.Fatal(err)
	}
	f.upload(t, 0, 60)
	var logs bytes.Buffer
	sender := &notify.Sender{Store: db, Client: netguard.NewClient(time.Second, true), Clock: f.clock,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, failed, err := sender.RunOnce(ctx); err != nil || failed != 1 {
		t.Fatalf("RunOnce: %d failed, %v; want 1 failed", failed, err)
	}
	var lastErr string
	db.SQL().QueryRowContext(ctx, `SELECT last_error FROM deliveries`).Scan(&lastErr)
	for where, text := range map[string]string{"log": logs.String(), "stored error": lastErr} {
		if strings.Contains(text, "SECRET") {
			t.Errorf("the %s holds the webhook's path or query: %s", where, text)
		}
		if !strings.Contains(text, host) {
			t.Errorf("the %s does not name the host %s: %s", where, host, text)
		}
	}
}

func TestAddWebhookRefusesNonGlobalAddresses(t *testing.T) {
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: cheapArgon})
	acct, err := svc.CreateAccount(context.Background(), core.NewAccount{Name: "mum", Password: "correct horse"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:9/x", "http://100.100.100.200/latest/meta-data", "http://[::ffff:10.0.0.1]/x", "http://198.18.0.1/x"} {
		if _, err := svc.AddWebhook(context.Background(), acct.ID, u, "sixteen characters", t0); glucose.ErrorCode(err) != share.CodeInvalidArgument {
			t.Errorf("AddWebhook(%s): %v, want InvalidArgument", u, err)
		}
	}
}

func TestAddWebhookValidates(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, lowAlert())
	ctx := context.Background()
	for _, c := range []struct{ url, secret string }{
		{"ftp://example.org/x", "sixteen characters"},
		{"https://user:pw@example.org/x", "sixteen characters"},
		{"https://example.org/x", "short"},
		{"not a url", "sixteen characters"},
	} {
		if _, err := f.svc.AddWebhook(ctx, f.follower, c.url, c.secret, t0); glucose.ErrorCode(err) != share.CodeInvalidArgument {
			t.Errorf("AddWebhook(%q, %q): %v, want InvalidArgument", c.url, c.secret, err)
		}
	}
}

func TestLiveEvents(t *testing.T) {
	db := storetest.New(t)
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	hub := events.NewHub(16)
	f.svc.SetEvents(hub)
	pubStream, folStream := hub.Subscribe(f.publisher), hub.Subscribe(f.follower)
	f.upload(t, 0, 50)
	kinds := func(s *events.Stream) string {
		var out []string
		for len(s.C) > 0 {
			out = append(out, (<-s.C).Type)
		}
		return strings.Join(out, ",")
	}
	if got := kinds(folStream); got != "alarm,alarm,reading" {
		t.Errorf("follower events %q, want two alarms and a reading", got)
	}
	if got := kinds(pubStream); got != "reading" {
		t.Errorf("publisher events %q, want a reading", got)
	}
}

// processCPU is the CPU time (user and system) the test process used so
// far, all goroutines included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluatePerEGV measures an upload of one reading and the alarm
// evaluation it triggers, for a publisher with 10 followers; compare with
// followers=0 for the evaluation's share.
func BenchmarkEvaluatePerEGV(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			db := storetest.New(b)
			ctx := context.Background()
			svc := core.New(db, core.Config{Argon2: cheapArgon})
			pub, _ := svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: "correct horse"}, t0)
			svc.StartMonitoring(ctx, pub.ID, "SN1")
			for i := 0; i < n; i++ {
				fol, _ := svc.CreateAccount(ctx, core.NewAccount{Name: fmt.Sprintf("f%d", i), Password: "correct horse"}, t0)
				c, err := svc.CreateContact(ctx, pub.ID, fmt.Sprintf("F%d", i), "", t0)
				if err != nil {
					b.Fatal(err)
				}
				sub, err := svc.Invite(ctx, pub.ID, c.ID, core.Invitation{Alerts: core.AlertsInput{Low: ptr(lowAlert()), NoData: &core.AlertInput{IsEnabled: ptr(true)}}}, t0)
				if err != nil {
					b.Fatal(err)
				}
				svc.AcceptInvitation(ctx, fol.ID, sub.InvitationID, t0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				now := t0.Add(time.Duration(i+1) * 5 * time.Minute)
				_, err := svc.PostReadings(ctx, pub.ID, "SN1", []core.EGV{{ST: now.UnixMilli(), Value: 60 + i%30}}, now)
				if err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, unlike ns/op, hardly depends on what else the
			// machine runs.
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

func TestSubscriptionChangesDriveAlarms(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	f := newFollow(t, db, core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")})
	f.upload(t, 0, 60)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	if got := describe(f.alarms(t, 0)); got != "Low/Active/1/60" {
		t.Fatalf("after upload: %s", got)
	}
	// Pausing leaves state 6: the open alarm clears at once.
	if err := f.svc.PauseSubscription(ctx, f.follower, f.subscripton, at(1)); err != nil {
		t.Fatal(err)
	}
	if got := describe(f.alarms(t, 1)); got != "Low/Cleared/1/60" {
		t.Fatalf("after pause: %s", got)
	}
	// Resuming evaluates at once: still low, a new alarm.
	if err := f.svc.ResumeSubscription(ctx, f.follower, f.subscripton, at(2)); err != nil {
		t.Fatal(err)
	}
	as := f.alarms(t, 2)
	if len(as) != 2 || as[0].State != "Active" || !as[0].TriggeredAt.Equal(at(2)) {
		t.Fatalf("after resume: %s", describe(as))
	}
	// Disabling Low clears its alarm at once.
	off := core.AlertsInput{Low: &core.AlertInput{IsEnabled: ptr(false)}}
	if err := f.svc.UpdateAlertSettings(ctx, f.follower, f.subscripton, off, at(3)); err != nil {
		t.Fatal(err)
	}
	if as := f.alarms(t, 3); as[0].State != "Cleared" || !as[0].ClearedAt.Equal(at(3)) {
		t.Fatalf("after disabling: %s", describe(as))
	}

	// Accepting evaluates at once: a new follower of a publisher who is low
	// hears about it without waiting for the next reading or tick.
	fol2, _ := f.svc.CreateAccount(ctx, core.NewAccount{Name: "dad", Password: "correct horse"}, t0)
	c, _ := f.svc.CreateContact(ctx, f.publisher, "Dad", "", t0)
	sub, err := f.svc.Invite(ctx, f.publisher, c.ID, core.Invitation{Alerts: core.AlertsInput{
		Low: &core.AlertInput{IsEnabled: ptr(true), MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M")}}}, at(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptInvitation(ctx, fol2.ID, sub.InvitationID, at(5)); err != nil {
		t.Fatal(err)
	}
	as2, _ := f.svc.Alarms(ctx, fol2.ID, "", 1440, at(5))
	if describe(as2) != "Low/Active/1/60" {
		t.Fatalf("new follower's alarms after accepting: %s", describe(as2))
	}
	// Leaving clears the leaver's alarms.
	if err := f.svc.LeaveSubscription(ctx, fol2.ID, sub.ID, at(6)); err != nil {
		t.Fatal(err)
	}
	var open int
	db.SQL().QueryRowContext(ctx, rebindFor(db, `SELECT COUNT(*) FROM alarms WHERE subscription_id = ? AND state <> 'Cleared'`), sub.ID).Scan(&open)
	if open != 0 {
		t.Errorf("%d open alarms after leaving", open)
	}
}
