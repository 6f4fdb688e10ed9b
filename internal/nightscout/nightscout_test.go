package nightscout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/nightscout"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// t0 is the fake clock's start: 2025-04-19T16:43:33.817Z.
var t0 = time.UnixMilli(1745081013817).UTC()

var cheapArgon = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// env is the real router over a fresh store on the engine under test,
// with a fake clock. Throttling delays advance the clock instead of
// sleeping.
type env struct {
	t     testing.TB
	clock *clocktest.Clock
	svc   *core.Service
	h     http.Handler
	// addr is the client address of requests; "" gives each request an
	// address of its own, so that refused credentials in one case do not
	// delay the next.
	addr  string
	addrs atomic.Int64
	// slept totals the throttling delays waited; with frozen, waiting does
	// not move the clock (as for requests waiting in parallel).
	slept  atomic.Int64
	frozen atomic.Bool
}

func newEnv(t testing.TB) *env {
	return newEnvConfig(t, core.Config{})
}

func newEnvConfig(t testing.TB, cfg core.Config) *env {
	t.Helper()
	clock := clocktest.New(t0)
	cfg.Argon2 = cheapArgon
	e := &env{t: t, clock: clock, svc: core.New(storetest.New(t), cfg)}
	srv := server.New(e.svc, server.Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Nightscout: nightscout.Options{Sleep: func(_ context.Context, d time.Duration) error {
			e.slept.Add(int64(d))
			if !e.frozen.Load() {
				clock.Advance(d)
			}
			return nil
		}}})
	e.h = srv.Handler()
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request through the router; headers come in name, value
// pairs.
func (e *env) do(method, target, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = e.addr
	if e.addr == "" {
		n := e.addrs.Add(1)
		req.RemoteAddr = fmt.Sprintf("198.51.%d.%d:1234", n/250, n%250+1)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// password is every test account's password.
const password = "correct horse battery staple"

// account creates an account with password and the API secret secret
// ("" for none), and returns its id.
func (e *env) account(name, secret string) string {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.svc.CreateAccount(ctx, core.NewAccount{Name: name, Password: password}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if secret != "" {
		if err := e.svc.SetNightscoutSecret(ctx, a.ID, secret, e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	return a.ID
}

// token makes an access token for the account.
func (e *env) token(accountID string, readOnly bool) string {
	e.t.Helper()
	tok, _, err := e.svc.CreateNightscoutToken(context.Background(), accountID, readOnly, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// namedToken makes an access token with a name for the account.
func (e *env) namedToken(accountID, name string, readOnly bool) string {
	e.t.Helper()
	tok, _, err := e.svc.CreateNamedNightscoutToken(context.Background(), accountID,
		core.NewNightscoutToken{Name: name, ReadOnly: readOnly}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// reading is an uploaded reading: minutes before t0, value, trend.
type reading struct {
	ago   int
	value int
	trend share.Trend
}

// upload stores readings for the account through core, the way any
// uploader's readings end up.
func (e *env) upload(accountID string, rs ...reading) {
	e.t.Helper()
	egvs := make([]core.EGV, len(rs))
	for i, r := range rs {
		egvs[i] = core.EGV{ST: t0.Add(-time.Duration(r.ago) * time.Minute).UnixMilli(), Value: r.value, Trend: r.trend, Offset: -240}
	}
	if _, _, err := e.svc.ImportReadings(context.Background(), accountID, egvs, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// entry is the decoded form of an entry.
type entry struct {
	ID         string `json:"_id"`
	Type       string `json:"type"`
	SGV        int    `json:"sgv"`
	Date       int64  `json:"date"`
	DateString string `json:"dateString"`
	Trend      int    `json:"trend"`
	Direction  string `json:"direction"`
	Device     string `json:"device"`
	SysTime    string `json:"sysTime"`
	UTCOffset  int    `json:"utcOffset"`
}

// entries reads an array of entries from an answer that must be 200.
func (e *env) entries(r response) []entry {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		e.t.Errorf("Content-Type %q", ct)
	}
	var es []entry
	if err := json.Unmarshal([]byte(r.body), &es); err != nil {
		e.t.Fatalf("entries %q: %v", r.body, err)
	}
	return es
}

func values(es []entry) []int {
	vs := make([]int, len(es))
	for i, e := range es {
		vs[i] = e.SGV
	}
	return vs
}

func ms(ago int) int64 { return t0.Add(-time.Duration(ago) * time.Minute).UnixMilli() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// wantUnauthorized checks Nightscout's 401 answer.
func wantUnauthorized(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401; body %s", what, r.status, r.body)
		return
	}
	if r.body != `{"status":401,"message":"Unauthorized","description":"Invalid/Missing"}` {
		t.Errorf("%s: body %s", what, r.body)
	}
}
