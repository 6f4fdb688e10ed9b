package notify_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// t0 is the fake clock's start: a Saturday afternoon in Paris.
var t0 = time.Date(2025, 4, 19, 14, 0, 0, 0, time.UTC)

const password = "a long password"

func ptr[T any](v T) *T { return &v }

// world is a whole server (protocol, dashboard, acknowledgement links) on
// a fresh store with a fake clock, behind a real listener, with a sharer,
// Sam, uploading and a follower, Kim, who accepted Sam's invitation. Its
// sender delivers the outbox when a test calls deliver.
type world struct {
	t      *testing.T
	db     *store.DB
	dsn    string
	svc    *core.Service
	clock  *clocktest.Clock
	srv    *httptest.Server
	sender *notify.Sender
	key    *secretkey.Key
	sam    string // account ids
	kim    string
	subID  string
}

type worldOptions struct {
	alerts    core.AlertsInput // the invitation's alert settings (urgent low is always on)
	noKey     bool             // no operator secret key
	pushover  string           // the fake Pushover API's URL
	kimUnits  glucose.Units
	noPublic  bool // no --public-url
	ackTTL    time.Duration
	logOutput *strings.Builder
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{t: t, clock: clocktest.New(t0), dsn: storetest.DSN(t)}
	w.db = storetest.Open(t, w.dsn)
	if !o.noKey {
		w.key, _ = secretkey.Load(secretkey.Generate())
	}
	var h http.Handler
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	t.Cleanup(w.srv.Close)
	cfg := core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}, AllowPrivateAddresses: true,
		PublicURL: w.srv.URL, SecretKey: w.key, Pushover: o.pushover != ""}
	if o.noPublic {
		cfg.PublicURL = ""
	}
	w.svc = core.New(w.db, cfg)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h = server.New(w.svc, server.Options{Clock: w.clock, Logger: log}).Handler()
	wp, err := w.svc.WebPushKeys(context.Background(), "mailto:operator@example.org", t0)
	if err != nil {
		t.Fatal(err)
	}
	w.sender = &notify.Sender{Store: w.db, Client: netguard.NewClient(5*time.Second, true), Clock: w.clock, Log: log,
		PublicURL: cfg.PublicURL, WebPush: wp, Pushover: notify.Pushover{Token: pushoverToken, API: o.pushover},
		SecretKey: w.key, Backoff: []time.Duration{10 * time.Second, 30 * time.Second}, AckTTL: o.ackTTL}
	w.setUp(o)
	return w
}

// pushoverToken is the operator's application token in the tests: 30
// characters, as Pushover issues them.
const pushoverToken = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"

func (w *world) setUp(o worldOptions) {
	ctx := context.Background()
	sam, err := w.svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: password, DisplayName: "Sam"}, t0)
	w.must(err)
	kim, err := w.svc.CreateAccount(ctx, core.NewAccount{Name: "kim", Password: password, DisplayName: "Kim"}, t0)
	w.must(err)
	w.sam, w.kim = sam.ID, kim.ID
	if o.kimUnits != "" {
		w.must(w.svc.SetUnits(ctx, w.kim, o.kimUnits))
	}
	w.must(w.svc.StartMonitoring(ctx, w.sam, "SN1"))
	c, err := w.svc.CreateContact(ctx, w.sam, "Kim", "", t0)
	w.must(err)
	sub, err := w.svc.Invite(ctx, w.sam, c.ID, core.Invitation{Alerts: o.alerts}, t0)
	w.must(err)
	_, err = w.svc.AcceptInvitation(ctx, w.kim, sub.InvitationID, t0)
	w.must(err)
	w.subID = sub.ID
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// upload stores one reading of Sam's now, falling.
func (w *world) upload(value int) {
	w.t.Helper()
	now := w.clock.Now()
	_, err := w.svc.PostReadings(context.Background(), w.sam, "SN1",
		[]core.EGV{{ST: now.UnixMilli(), Value: value, Trend: share.TrendSingleDown, Offset: 120}}, now)
	w.must(err)
}

// tick runs the periodic evaluation (NoData, re-alarms) now.
func (w *world) tick() {
	w.t.Helper()
	_, err := w.svc.EvaluateAll(context.Background(), w.clock.Now())
	w.must(err)
}

// deliver runs the sender once and returns how many deliveries went out.
func (w *world) deliver() int {
	w.t.Helper()
	sent, _, err := w.sender.RunOnce(context.Background())
	w.must(err)
	return sent
}

// share is Kim's Share client, signed in.
func (w *world) share() *share.Client {
	w.t.Helper()
	c, err := share.NewClient(share.WithBaseURL(w.srv.URL), share.WithCredentials("kim", password))
	w.must(err)
	return c
}

// alarmStates lists Kim's alarms as ListSubscriptionAlarms shows them:
// "UrgentLow/Active/1" …
func (w *world) alarmStates() []string {
	w.t.Helper()
	as, err := w.share().ListSubscriptionAlarms(context.Background(), w.subID, 1440)
	w.must(err)
	var out []string
	for _, a := range as {
		out = append(out, strings.Join([]string{alertName(a.AlertType), string(a.State)}, "/"))
	}
	return out
}

func alertName(t int) string {
	return map[int]string{1: "High", 2: "Low", 3: "UrgentLow", 4: "NoData"}[t]
}

// post sends a POST to the server as an app or service would (no cookie).
func (w *world) post(url, contentType, body string) (int, string) {
	w.t.Helper()
	res, err := http.Post(url, contentType, strings.NewReader(body))
	w.must(err)
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	return res.StatusCode, b.String()
}

// decode reads a JSON document into v.
func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// testLog sends logs to the test's output.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// lowAlerts: Low below 70 at once, repeating every 30 minutes (urgent low
// is always on: below 55 at once, repeating every 30 minutes).
func lowAlerts() core.AlertsInput {
	return core.AlertsInput{Low: &core.AlertInput{IsEnabled: ptr(true), MinValue: ptr(int64(39)),
		MaxValue: ptr(int64(70)), AlarmDelay: ptr("PT0M"), RealarmDelay: ptr("PT30M")}}
}
