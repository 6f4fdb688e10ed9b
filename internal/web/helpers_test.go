package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/internal/web"
	"github.com/glucoshare/glucoshare/share"
)

// t0 is the fake clock's start.
var t0 = time.Date(2025, 4, 19, 16, 43, 0, 0, time.UTC)

var cheapArgon = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}

const password = "a long password"

// env is the whole server (protocol, dashboard) over a fresh store on the
// engine under test, with a fake clock, behind a real HTTP listener.
type env struct {
	t     *testing.T
	clock *clocktest.Clock
	svc   *core.Service
	db    glucose.Store
	srv   *httptest.Server
}

func newEnv(t *testing.T, opts web.Options) *env {
	t.Helper()
	return newEnvConfig(t, opts, core.Config{})
}

// newEnvConfig is newEnv with the service configured by cfg.
func newEnvConfig(t *testing.T, opts web.Options, cfg core.Config) *env {
	t.Helper()
	db := storetest.New(t)
	cfg.Argon2 = cheapArgon
	svc := core.New(db, cfg)
	// Sessions' last use is written a second later in the background
	// (core/touch.go): write it before the store closes, so that no write
	// reaches the test's directory while it is removed.
	t.Cleanup(func() { svc.FlushTouches(context.Background()) })
	clock := clocktest.New(t0)
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 100 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	h := server.New(svc, server.Options{Clock: clock, Logger: log, Web: opts}).Handler()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &env{t: t, clock: clock, svc: svc, db: db, srv: ts}
}

// account creates an account and returns its id.
func (e *env) account(name, display string) string {
	e.t.Helper()
	a, err := e.svc.CreateAccount(context.Background(), core.NewAccount{Name: name, DisplayName: display, Password: password}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

// upload stores readings for the account as an uploader would, every 5
// minutes ending now with the last value.
func (e *env) upload(accountID string, values ...int) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.svc.StartMonitoring(ctx, accountID, "SM00000000"); err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	egvs := make([]core.EGV, len(values))
	for i, v := range values {
		st := now.Add(-time.Duration(len(values)-1-i) * 5 * time.Minute)
		egvs[i] = core.EGV{ST: st.UnixMilli(), Value: v, Trend: share.TrendFlat, Offset: 120}
	}
	if _, err := e.svc.PostReadings(ctx, accountID, "SM00000000", egvs, now); err != nil {
		e.t.Fatal(err)
	}
}

// browser is an HTTP client with its own cookies that does not follow
// redirects, so that tests see them.
type browser struct {
	e      *env
	c      *http.Client
	origin string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) get(path string, headers ...string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

// post submits a form; fields alternate names and values.
func (b *browser) post(path string, fields ...string) page {
	b.e.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1]) // a later field replaces an earlier one
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	p := b.get(path)
	m := csrfRe.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on %s (%d):\n%s", path, p.status, p.body)
	}
	return m[1]
}

// signIn signs in through the form.
func (b *browser) signIn(name string) {
	b.e.t.Helper()
	tok := b.csrf("/signin")
	p := b.post("/signin", "csrf", tok, "name", name, "password", password, "next", "/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		b.e.t.Fatalf("sign in as %s: %d %s\n%s", name, p.status, p.header.Get("Location"), p.body)
	}
}

// submit posts a form of a signed-in page with its CSRF token and expects
// a redirect; it returns the redirect target.
func (b *browser) submit(from, action string, fields ...string) string {
	b.e.t.Helper()
	p := b.post(action, append([]string{"csrf", b.csrf(from)}, fields...)...)
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("POST %s: %d\n%s", action, p.status, p.body)
	}
	return p.header.Get("Location")
}

// defaultAlerts are the alert fields of the invitation form as it comes.
func defaultAlerts() []string {
	return []string{"high_at", "200", "high_delay", "60", "high_repeat", "120", "low_at", "70", "low_delay", "30",
		"low_repeat", "120", "urgent_at", "55", "urgent_repeat", "30", "nodata_delay", "60", "nodata_repeat", "0"}
}

// invite has sharer invite a follower and returns the invitation path.
func (b *browser) invite(contact string, history bool, extra ...string) string {
	b.e.t.Helper()
	fields := append([]string{"contact_name", contact}, defaultAlerts()...)
	if history {
		fields = append(fields, "history", "1")
	}
	to := b.submit("/followers", "/followers", append(fields, extra...)...)
	p := b.get(to)
	m := regexp.MustCompile(`value="https?://[^"/]+(/invite/[0-9a-f-]{36})"`).FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no invitation link after inviting:\n%s", p.body)
	}
	return m[1]
}

// multipartAvatar builds the avatar upload form.
func multipartAvatar(t *testing.T, csrf string, data []byte) (io.Reader, string) {
	t.Helper()
	var b strings.Builder
	w := multipart.NewWriter(&b)
	w.WriteField("csrf", csrf)
	f, err := w.CreateFormFile("avatar", "me.png")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	w.Close()
	return strings.NewReader(b.String()), w.FormDataContentType()
}

// testLog sends the server's log to the test's.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// syncBuffer collects the server's output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
