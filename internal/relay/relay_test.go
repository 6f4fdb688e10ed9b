package relay_test

import (
	"context"
	"encoding/json"
	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/relay"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// t0 is the fake clocks' start: 2025-04-19T16:43:33.817Z.
var t0 = time.UnixMilli(1745081013817).UTC()

const (
	api      = "/ShareWebServices/Services/"
	password = "correct horse"
)

// upstream is a real glucoshare, its router served over HTTP, with a
// recorder in front that counts the calls it receives and can be told to
// answer with a pause instead.
type upstream struct {
	*httptest.Server
	svc   *core.Service
	clock *clocktest.Clock

	mu      sync.Mutex
	calls   map[string]int // by Share method, e.g. "ReadPublisherLatestGlucoseValues"
	last    *http.Request  // the last call, body drained
	pause   int            // status to answer instead (429 or 503); 0 = none
	retry   string         // its Retry-After
	silence time.Duration  // how long to stall before answering
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{clock: clocktest.New(t0), calls: map[string]int{}}
	u.svc = core.New(storetest.New(t), core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	h := server.New(u.svc, server.Options{Clock: u.clock, Logger: quiet()}).Handler()
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		u.calls[method]++
		u.last = r.Clone(context.Background())
		pause, retry, silence := u.pause, u.retry, u.silence
		u.mu.Unlock()
		if silence > 0 {
			select {
			case <-time.After(silence):
			case <-r.Context().Done():
				return
			}
		}
		if pause != 0 {
			if retry != "" {
				w.Header().Set("Retry-After", retry)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(pause)
			w.Write(share.AppendErrorBody(nil, &share.Error{Code: share.CodeTooManyRequests, Message: "slow down", SubCode: "upstream"}))
			return
		}
		w.Header().Set("Set-Cookie", "lb=upstream-node-7")
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[method]
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func (u *upstream) setPause(status int, retry string) {
	u.mu.Lock()
	u.pause, u.retry = status, retry
	u.mu.Unlock()
}

func (u *upstream) setSilence(d time.Duration) {
	u.mu.Lock()
	u.silence = d
	u.mu.Unlock()
}

// publisher creates an account on the upstream with readings of the given
// values, newest first, five minutes apart; it returns the account id.
func (u *upstream) publisher(t *testing.T, name string, values ...int) string {
	t.Helper()
	ctx := context.Background()
	a, err := u.svc.CreateAccount(ctx, core.NewAccount{Name: name, Password: password}, t0)
	if err != nil {
		t.Fatal(err)
	}
	egvs := make([]core.EGV, len(values))
	for i, v := range values {
		egvs[i] = core.EGV{ST: t0.Add(-time.Duration(5*i) * time.Minute).UnixMilli(), Value: v, Trend: share.TrendFlat}
	}
	if _, _, err := u.svc.ImportReadings(ctx, a.ID, egvs, t0); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// front is a glucoshare with the relay on, served over HTTP.
type front struct {
	*httptest.Server
	clock *clocktest.Clock
	reg   *prometheus.Registry
	logs  *clitest.SyncBuffer
}

func newFront(t *testing.T, opts relay.Options) *front {
	t.Helper()
	f := &front{clock: clocktest.New(t0), reg: prometheus.NewRegistry(), logs: &clitest.SyncBuffer{}}
	opts.Clock, opts.Registerer = f.clock, f.reg
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	rl, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	svc := core.New(storetest.New(t), core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	h := server.New(svc, server.Options{Clock: f.clock, Logger: quiet(), Relay: rl, Metrics: f.reg}).Handler()
	f.Server = httptest.NewServer(h)
	t.Cleanup(f.Close)
	return f
}

// counter sums a relay counter over its labels.
func (f *front) counter(t *testing.T, name string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, fam := range families {
		if fam.GetName() == name {
			for _, m := range fam.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

type response struct {
	status int
	header http.Header
	body   string
}

// call sends one request; headers come in name, value pairs.
func call(t *testing.T, method, target, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, target, err)
		return response{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func post(t *testing.T, target, body string) response {
	t.Helper()
	return call(t, http.MethodPost, target, body, "Content-Type", "application/json", "Accept", "application/json")
}

// wantCode checks a docs/protocol.md, "Errors" error answer.
func wantCode(t *testing.T, what string, r response, status int, code share.Code) {
	t.Helper()
	var e share.Error
	if r.status != status || json.Unmarshal([]byte(r.body), &e) != nil || e.Code != code || e.TypeName != "FaultException" {
		t.Errorf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// login logs in by account id through base and returns the session id.
func login(t *testing.T, base, accountID string) string {
	t.Helper()
	r := post(t, base+api+"General/LoginPublisherAccountById?format=object",
		`{"accountId":"`+accountID+`","password":"`+password+`","applicationId":"d89443d2-327c-4a6f-89e5-496bbb0317db"}`)
	var v struct{ SessionId string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &v) != nil || len(v.SessionId) != 36 {
		t.Fatalf("login through %s: %d %s", base, r.status, r.body)
	}
	return v.SessionId
}

// readValues reads the publisher's latest readings through base.
func readValues(t *testing.T, base, session string, maxCount int) ([]int, response) {
	t.Helper()
	r := post(t, base+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId="+session+"&minutes=1440&maxCount="+itoa(maxCount), "")
	var rs []struct{ Value int }
	if r.status == 200 {
		if err := json.Unmarshal([]byte(r.body), &rs); err != nil {
			t.Errorf("read body %q: %v", r.body, err)
		}
	}
	vs := make([]int, len(rs))
	for i, x := range rs {
		vs[i] = x.Value
	}
	return vs, r
}

func itoa(n int) string { return strconv.Itoa(n) }

func customBase(f *front) string { return f.URL + "/relay/custom" }

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
