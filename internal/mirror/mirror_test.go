package mirror_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/mirror"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// hosted is the share package's recordings of Dexcom's hosted service
// (share/testdata/hosted/README.md).
const hosted = "../../share/testdata/hosted"

var cheapArgon = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// call is one request the fake upstream received.
type call struct {
	Endpoint string // Area/Method
	Session  string // the sessionId query parameter
	Minutes  string
	MaxCount string
}

// upstream is a fake Share server: it replays recorded answers in order,
// or answers with serve when set, and records every call.
type upstream struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []string // recording files still to replay
	serve  func(w http.ResponseWriter, r *http.Request, c call)
	// reads, when set, answers the reads; the script answers the rest.
	reads func(w http.ResponseWriter, c call)
	calls []call
}

func newUpstream(t *testing.T, script ...string) *upstream {
	u := &upstream{t: t, script: script}
	u.srv = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) handle(w http.ResponseWriter, r *http.Request) {
	c := call{Endpoint: strings.TrimPrefix(r.URL.Path, share.BasePath+"/"), Session: r.URL.Query().Get("sessionId"),
		Minutes: r.URL.Query().Get("minutes"), MaxCount: r.URL.Query().Get("maxCount")}
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.calls = append(u.calls, c)
	serve, reads := u.serve, u.reads
	var file string
	if reads != nil && c.Endpoint == readEndpoint {
		u.mu.Unlock()
		reads(w, c)
		return
	}
	if serve == nil && len(u.script) > 0 {
		file, u.script = u.script[0], u.script[1:]
	}
	u.mu.Unlock()
	if serve != nil {
		serve(w, r, c)
		return
	}
	if file == "" {
		u.t.Errorf("unexpected call %s: the recording is over", c.Endpoint)
		http.Error(w, "no more answers", http.StatusTeapot)
		return
	}
	base := filepath.Base(file)
	if want := strings.Replace(strings.TrimSuffix(base[3:], ".http"), "-", "/", 1); c.Endpoint != want {
		u.t.Errorf("call %s, but the recording answers %s (%s)", c.Endpoint, want, file)
	}
	replay(u.t, w, file)
}

const readEndpoint = "Publisher/ReadPublisherLatestGlucoseValues"

// replay writes a recorded raw HTTP answer.
func replay(t *testing.T, w http.ResponseWriter, file string) {
	raw, err := os.ReadFile(filepath.Join(hosted, file))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	body, _ := io.ReadAll(res.Body)
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	w.Write(body)
}

func (u *upstream) Calls() []call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]call(nil), u.calls...)
}

func (u *upstream) endpoints() string {
	var es []string
	for _, c := range u.Calls() {
		es = append(es, c.Endpoint)
	}
	return strings.Join(es, " ")
}

// world is a glucoshare service with one account, Sam, and a poller on a
// fake clock.
type world struct {
	t      *testing.T
	db     *store.DB
	svc    *core.Service
	clock  *clocktest.Clock
	poller *mirror.Poller
	sam    string
}

func newWorld(t *testing.T, start time.Time) *world {
	t.Helper()
	key, err := secretkey.Load(secretkey.Generate())
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: cheapArgon, AllowPrivateAddresses: true, SecretKey: key})
	clock := clocktest.New(start)
	a, err := svc.CreateAccount(context.Background(), core.NewAccount{Name: "sam", Password: "correct horse"}, start)
	if err != nil {
		t.Fatal(err)
	}
	p := mirror.New(svc, mirror.Options{Holder: "instance-a", Clock: clock, AllowPrivate: true, Timeout: 5 * time.Second})
	return &world{t: t, db: db, svc: svc, clock: clock, poller: p, sam: a.ID}
}

func (w *world) link(u *upstream, password string) {
	w.t.Helper()
	_, err := w.svc.LinkMirror(context.Background(), w.sam,
		core.MirrorLinkRequest{Server: u.srv.URL, Username: "sam@example.org", Password: password}, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) step() int {
	w.t.Helper()
	n, err := w.poller.Step(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) status() *glucose.MirrorLink {
	w.t.Helper()
	l, err := w.svc.MirrorLink(context.Background(), w.sam)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// untilNextPoll moves the clock to the link's next poll.
func (w *world) untilNextPoll() {
	w.clock.Set(w.status().NextPoll)
}

func (w *world) readings() []glucose.Reading {
	w.t.Helper()
	rs, err := w.svc.LatestReadings(context.Background(), w.sam, core.ReadQuery{Minutes: 10080, MaxCount: 2016}, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return rs
}

// allReadings counts every stored reading of Sam's, whatever its age.
func (w *world) allReadings() int {
	var n int
	w.db.SQL().QueryRow(`SELECT COUNT(*) FROM readings WHERE account_id = '` + w.sam + `'`).Scan(&n)
	return n
}

func (w *world) deliveries(event string) int {
	var n int
	w.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE event = '` + event + `'`).Scan(&n)
	return n
}

// A wrong password (Dexcom's 2025 answer) is tried once: the link stops
// at once, says why, tells Sam through his channels, and is never polled
// again, however long one waits, until Sam links it again.
func TestWrongPasswordStopsTheLinkAfterOneAttempt(t *testing.T) {
	w := newWorld(t, time.Date(2025, 3, 14, 1, 35, 0, 0, time.UTC))
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	if _, err := w.svc.AddWebhook(context.Background(), w.sam, hook.URL+"/sam", "sixteen characters", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	u := newUpstream(t, "us-bad-password/01-General-AuthenticatePublisherAccount.http")
	w.link(u, "not the password")
	if n := w.step(); n != 1 {
		t.Fatalf("polled %d links, want the new one", n)
	}
	l := w.status()
	if !l.Broken || !strings.Contains(l.LastError, "AccountPasswordInvalid") {
		t.Fatalf("after the refused login: broken %v, last error %q", l.Broken, l.LastError)
	}
	if n := w.deliveries(core.MirrorNotice); n != 1 {
		t.Errorf("%d link_broken notices queued, want 1 to Sam's webhook", n)
	}
	for _, d := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour} {
		w.clock.Set(l.LastErrorAt.Add(d))
		if n := w.step(); n != 0 {
			t.Fatalf("%s later: polled %d links", d, n)
		}
	}
	if got := u.endpoints(); got != "General/AuthenticatePublisherAccount" {
		t.Fatalf("calls upstream: %s; want one login attempt", got)
	}

	// New credentials start over: polled at once, the stop forgotten.
	w.link(u, "the new password")
	if l := w.status(); l.Broken || l.LastError != "" || l.NextPoll.After(w.clock.Now()) {
		t.Errorf("after linking again: %+v", l)
	}
}

// With the modern hosted answers: the first poll logs in (account name to
// id, then a session) and reads the last 24 hours; the next poll reuses
// the session kept with the link; when the service says the session is
// gone (SessionIdNotFound), one login by id, and the read again.
func TestSessionReusedAndRenewedOnce(t *testing.T) {
	newest := time.UnixMilli(1721523293100).UTC() // the newest reading of 03
	w := newWorld(t, newest.Add(time.Minute))
	u := newUpstream(t, "us-modern-relogin/01-General-AuthenticatePublisherAccount.http",
		"us-modern-relogin/02-General-LoginPublisherAccountById.http",
		"us-modern-relogin/03-Publisher-ReadPublisherLatestGlucoseValues.http",
		"us-modern-relogin/04-Publisher-ReadPublisherLatestGlucoseValues.http",
		"us-modern-relogin/05-General-LoginPublisherAccountById.http",
		"us-modern-relogin/06-Publisher-ReadPublisherLatestGlucoseValues.http",
		"us-modern-relogin/07-Publisher-ReadPublisherLatestGlucoseValues.http")
	w.link(u, "the password")
	w.step()
	if got := w.allReadings(); got != 5 {
		t.Fatalf("%d readings after the first poll, want the 5 recorded", got)
	}
	if c := u.Calls()[2]; c.Minutes != "1440" || c.MaxCount != "288" {
		t.Errorf("first read minutes=%s maxCount=%s, want the 24-hour backfill 1440/288", c.Minutes, c.MaxCount)
	}
	l := w.status()
	if !l.LastReading.Equal(newest) || l.LastSuccess.IsZero() || l.Broken {
		t.Fatalf("status after the first poll: %+v", l)
	}
	if want := newest.Add(mirror.Interval + core.DefaultMirrorLag); !l.NextPoll.Equal(want) {
		t.Errorf("next poll %s, want the next reading's expected time %s", l.NextPoll, want)
	}
	w.untilNextPoll()
	w.step()
	if got := w.allReadings(); got != 6 {
		t.Fatalf("%d readings after the re-login, want the 6 recorded", got)
	}
	w.untilNextPoll()
	w.step()
	want := "General/AuthenticatePublisherAccount General/LoginPublisherAccountById " +
		"Publisher/ReadPublisherLatestGlucoseValues Publisher/ReadPublisherLatestGlucoseValues " +
		"General/LoginPublisherAccountById Publisher/ReadPublisherLatestGlucoseValues Publisher/ReadPublisherLatestGlucoseValues"
	if got := u.endpoints(); got != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
	}
	cs := u.Calls()
	first, second := "33333333-3333-3333-3333-333333333333", "55555555-5555-5555-5555-555555555555"
	for i, want := range map[int]string{2: first, 3: first, 5: second, 6: second} {
		if cs[i].Session != want {
			t.Errorf("call %d (%s) sent session %q, want %q", i+1, cs[i].Endpoint, cs[i].Session, want)
		}
	}
	if l := w.status(); l.Broken || l.LastError != "" {
		t.Errorf("status after the re-login: broken %v, error %q", l.Broken, l.LastError)
	}
}

// The .NET-era answers: integer trends, escaped dates with offsets, members
// in another order; SessionNotValid renews the session once.
func TestLegacyAnswersAndSessionNotValid(t *testing.T) {
	w := newWorld(t, time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC))
	u := newUpstream(t, "us-modern-relogin/01-General-AuthenticatePublisherAccount.http",
		"us-modern-relogin/02-General-LoginPublisherAccountById.http",
		"ous-legacy-relogin/02-Publisher-ReadPublisherLatestGlucoseValues.http",
		"ous-legacy-relogin/03-Publisher-ReadPublisherLatestGlucoseValues.http",
		"us-modern-relogin/05-General-LoginPublisherAccountById.http",
		"ous-legacy-relogin/05-Publisher-ReadPublisherLatestGlucoseValues.http")
	w.link(u, "the password")
	w.step()
	w.untilNextPoll()
	w.step()
	if got := len(u.Calls()); got != 6 {
		t.Fatalf("%d calls (%s), want the 6 recorded", got, u.endpoints())
	}
	var got []string
	w.db.View(context.Background(), func(tx glucose.Tx) error {
		rs, err := tx.LatestReadings(w.sam, 0, 10)
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%d/%d/%s/%d", r.ST, r.Value, r.Trend, r.Offset))
		}
		return err
	})
	// 05's reading, then 02's three; integer trends 9 and 4, DT's offsets
	// (+0000, -0700) kept.
	want := "1603569378000/94/RateOutOfRange/0 1489743783000/104/Flat/-420"
	if s := strings.Join(got, " "); !strings.HasPrefix(s, want) || len(got) != 4 {
		t.Errorf("stored %s, want 4 starting %s", s, want)
	}
}

// 429 with Retry-After: the poller answers nothing until the time given,
// then reads again.
func TestTooManyRequestsWaitsForRetryAfter(t *testing.T) {
	newest := time.UnixMilli(1721523293100).UTC()
	w := newWorld(t, newest.Add(time.Minute))
	u := newUpstream(t, "us-modern-relogin/01-General-AuthenticatePublisherAccount.http",
		"us-modern-relogin/02-General-LoginPublisherAccountById.http")
	reads := 0
	u.reads = func(rw http.ResponseWriter, c call) {
		reads++
		if reads == 1 {
			rw.Header().Set("Retry-After", "600")
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusTooManyRequests)
			rw.Write(share.AppendErrorBody(nil, &share.Error{Code: share.CodeTooManyRequests, Message: "Too many requests."}))
			return
		}
		replay(t, rw, "us-modern-relogin/03-Publisher-ReadPublisherLatestGlucoseValues.http")
	}
	w.link(u, "the password")
	start := w.clock.Now()
	w.step()
	l := w.status()
	if l.NextPoll.Before(start.Add(10*time.Minute)) || !strings.Contains(l.LastError, "TooManyRequests") {
		t.Fatalf("after 429 Retry-After 600: next poll %s (want ≥ %s), error %q", l.NextPoll, start.Add(10*time.Minute), l.LastError)
	}
	for _, d := range []time.Duration{time.Second, time.Minute, 9*time.Minute + 59*time.Second} {
		w.clock.Set(start.Add(d))
		if n := w.step(); n != 0 {
			t.Fatalf("polled %s after a 429 asking for 10 minutes", d)
		}
	}
	w.untilNextPoll()
	w.step()
	if reads != 2 || w.allReadings() != 5 {
		t.Errorf("%d reads and %d readings after Retry-After, want 2 and 5", reads, w.allReadings())
	}
	if l := w.status(); l.LastError != "" || l.Failures != 0 {
		t.Errorf("after the successful read: error %q, failures %d", l.LastError, l.Failures)
	}
}

// A poller's slots serve one poll after another as soon as each ends, not
// one poll per slot and tick: with one slot and a tick of an hour, five
// due links are all polled at once.
func TestRunReusesSlotsAtOnce(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	key, _ := secretkey.Load(secretkey.Generate())
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: cheapArgon, AllowPrivateAddresses: true, SecretKey: key})
	s := &sensor{clock: clocktest.New(start), first: start.Add(-time.Hour), lag: 0}
	u := newUpstream(t)
	u.serve = s.serve
	for i := range 5 {
		a, err := svc.CreateAccount(context.Background(), core.NewAccount{Name: fmt.Sprintf("user%d", i), Password: "correct horse"}, start)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.LinkMirror(context.Background(), a.ID, core.MirrorLinkRequest{Server: u.srv.URL,
			Username: a.Name, Password: "pw"}, start); err != nil {
			t.Fatal(err)
		}
	}
	p := mirror.New(svc, mirror.Options{Holder: "a", Concurrency: 1, Tick: time.Hour, Clock: s.clock, AllowPrivate: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for reads(u) < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if n := reads(u); n != 5 {
		t.Errorf("%d of 5 due links read with one slot before the next tick", n)
	}
}

func reads(u *upstream) int {
	n := 0
	for _, c := range u.Calls() {
		if c.Endpoint == readEndpoint {
			n++
		}
	}
	return n
}

// TestStopReleasesClaims: an instance that stops while a poll waits on the
// upstream records nothing for it and leaves the link due for another
// instance at once, not when its claim would have lapsed (two minutes).
func TestStopReleasesClaims(t *testing.T) {
	w := newWorld(t, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	u := newUpstream(t)
	arrived := make(chan struct{}, 1)
	u.serve = func(rw http.ResponseWriter, r *http.Request, c call) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done() // an upstream that does not answer
	}
	w.link(u, "pw")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.poller.Run(ctx); close(done) }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller never called the upstream")
	}
	if l := w.status(); l.ClaimHolder != "instance-a" {
		t.Fatalf("while polling, the claim is held by %q, want instance-a", l.ClaimHolder)
	}
	cancel()
	<-done
	l := w.status()
	if l.ClaimHolder != "" || !l.ClaimUntil.IsZero() {
		t.Errorf("after the stop the claim is %q until %v, want none", l.ClaimHolder, l.ClaimUntil)
	}
	other := mirror.New(w.svc, mirror.Options{Holder: "instance-b", Clock: w.clock, AllowPrivate: true, Timeout: time.Second})
	u.serve = func(rw http.ResponseWriter, r *http.Request, c call) {
		http.Error(rw, "down", http.StatusServiceUnavailable)
	}
	if n, err := other.Step(context.Background()); err != nil || n != 1 {
		t.Errorf("another instance claimed %d links (%v) right after the stop, want 1", n, err)
	}
}
