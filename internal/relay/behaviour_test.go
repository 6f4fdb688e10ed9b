package relay_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/relay"
	"github.com/glucoshare/glucoshare/share"
)

// A watch face logs in through the relay with format=object or
// format=text (docs/protocol.md, "Login answer formats", "Relay"): the upstream gets the call without format and
// answers a bare JSON string, which the relay rewrites.
func TestWatchLoginThroughRelay(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	id := up.publisher(t, "watch@example.org", 120, 118)
	f := newFront(t, relay.Options{Upstream: up.URL})
	base := customBase(f)
	creds := `{"accountName":"watch@example.org","password":"` + password + `"}`

	r := post(t, base+api+"General/LoginPublisherAccountByName?format=object", creds)
	if r.status != 200 || !regexp.MustCompile(`^\{"SessionId":"[0-9a-f-]{36}"\}$`).MatchString(r.body) ||
		r.header.Get("Content-Type") != "application/json" {
		t.Errorf("format=object: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if q := up.lastRequest().URL.RawQuery; q != "" {
		t.Errorf("upstream got query %q, want format removed", q)
	}

	r = post(t, base+api+"General/LoginPublisherAccountByName?format=text", creds)
	if r.status != 200 || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(r.body) ||
		r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("format=text: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	session := r.body
	if vs, _ := readValues(t, base, session, 10); !slices.Equal(vs, []int{120, 118}) {
		t.Errorf("read with the text session: %v", vs)
	}

	r = post(t, base+api+"general/authenticatepublisheraccount?FORMAT=object", creds)
	if r.body != `{"AccountId":"`+id+`"}` {
		t.Errorf("Authenticate format=object: %d %s", r.status, r.body)
	}
	r = post(t, base+api+"General/LoginPublisherAccountById?format=text", `{"accountId":"`+id+`","password":"`+password+`"}`)
	if r.status != 200 || len(r.body) != 36 {
		t.Errorf("LoginById format=text: %d %q", r.status, r.body)
	}

	// Without format, and on errors, the upstream's answer passes unchanged.
	r = post(t, base+api+"General/LoginPublisherAccountByName", creds)
	if r.status != 200 || !regexp.MustCompile(`^"[0-9a-f-]{36}"$`).MatchString(r.body) {
		t.Errorf("no format: %d %s", r.status, r.body)
	}
	r = post(t, base+api+"General/LoginPublisherAccountByName?format=object", `{"accountName":"watch@example.org","password":"wrong password"}`)
	wantCode(t, "wrong password with format=object", r, 500, share.CodeAccountPasswordInvalid)

	// The same on glucoshare's own login calls (docs/protocol.md, "Login answer formats").
	r = post(t, f.URL+"/relay/custom/../"+api+"General/LoginPublisherAccountById?format=object", "")
	if r.status == 200 {
		t.Errorf("a path outside the relay's calls was relayed: %s", r.body)
	}
}

// Many watches polling the same read share one upstream call per window;
// the next window makes one more.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	id := up.publisher(t, "sam", 120, 118, 117)
	f := newFront(t, relay.Options{Upstream: up.URL, Coalesce: 5 * time.Second})
	base := customBase(f)
	session := login(t, base, id)

	const watches = 40
	read := func() []response {
		var wg sync.WaitGroup
		rs := make([]response, watches)
		for i := range watches {
			wg.Go(func() { _, rs[i] = readValues(t, base, session, 2) })
		}
		wg.Wait()
		return rs
	}
	answers := read()
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != 1 {
		t.Errorf("%d concurrent identical reads made %d upstream reads, want 1", watches, n)
	}
	for i, r := range answers {
		if r.status != 200 || r.body != answers[0].body || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("watch %d got %d %q, want the shared answer %q", i, r.status, r.body, answers[0].body)
		}
	}
	if vs, _ := readValues(t, base, session, 2); !slices.Equal(vs, []int{120, 118}) {
		t.Errorf("answer %v", vs)
	}
	if got := f.counter(t, "glucoshare_relay_coalesced_total"); got != watches {
		t.Errorf("coalesced_total %v, want %d", got, watches)
	}

	// Within the window still one call; after it, one more for the lot.
	f.clock.Advance(4 * time.Second)
	read()
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != 1 {
		t.Errorf("reads within the window: %d upstream reads, want 1", n)
	}
	f.clock.Advance(time.Second)
	read()
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != 2 {
		t.Errorf("reads in the next window: %d upstream reads, want 2", n)
	}

	// A different request is a different key: maxCount, or the body.
	readValues(t, base, session, 3)
	post(t, base+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId="+session, `{"minutes":1440,"maxCount":2}`)
	post(t, base+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId="+session, `{"minutes":1440,"maxCount":1}`)
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != 5 {
		t.Errorf("three different reads: %d upstream reads, want 5", n)
	}
	// Logins and uploads are never coalesced.
	login(t, base, id)
	login(t, base, id)
	if n := up.count("LoginPublisherAccountById"); n != 3 {
		t.Errorf("logins: %d upstream calls, want 3", n)
	}
	if got, want := f.counter(t, "glucoshare_relay_upstream_requests_total"), 8.0; got != want {
		t.Errorf("upstream_requests_total %v, want %v", got, want)
	}
}

// Two accounts reading through the relay at once never see each other's
// readings: the session is part of the coalescing key.
func TestAccountsStayApart(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	sam := up.publisher(t, "sam", 101, 102)
	kim := up.publisher(t, "kim", 201, 202)
	f := newFront(t, relay.Options{Upstream: up.URL})
	base := customBase(f)
	sessions := map[string]string{"sam": login(t, base, sam), "kim": login(t, base, kim)}
	want := map[string][]int{"sam": {101, 102}, "kim": {201, 202}}

	var wg sync.WaitGroup
	for i := range 40 {
		who := []string{"sam", "kim"}[i%2]
		wg.Go(func() {
			if got, r := readValues(t, base, sessions[who], 2); !slices.Equal(got, want[who]) {
				t.Errorf("%s read %v (%d %s), want %v", who, got, r.status, r.body, want[who])
			}
		})
	}
	wg.Wait()
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != 2 {
		t.Errorf("upstream reads %d, want one per account", n)
	}
	// Nor does a session of one account read another's through a
	// different request shape.
	r := post(t, base+api+"Publisher/ReadPublisherLatestGlucoseValues", `{"sessionId":"`+sessions["kim"]+`","minutes":1440,"maxCount":2}`)
	var rs []struct{ Value int }
	if err := json.Unmarshal([]byte(r.body), &rs); err != nil || len(rs) != 2 || rs[0].Value != 201 || rs[1].Value != 202 {
		t.Errorf("kim's session in the body read %s", r.body)
	}
}

// An upstream 429 with Retry-After passes through, and until then the
// relay answers 429 itself without calling the upstream.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	id := up.publisher(t, "sam", 120)
	f := newFront(t, relay.Options{Upstream: up.URL})
	base := customBase(f)
	session := login(t, base, id)

	up.setPause(http.StatusTooManyRequests, "30")
	_, r := readValues(t, base, session, 1)
	if r.status != 429 || r.header.Get("Retry-After") != "30" || !strings.Contains(r.body, "slow down") {
		t.Errorf("upstream 429: %d Retry-After %q %s, want it passed through", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Errorf("upstream cookie passed on")
	}
	up.setPause(0, "")
	calls := up.count("ReadPublisherLatestGlucoseValues")

	f.clock.Advance(10 * time.Second)
	for _, target := range []string{
		api + "Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + session,
		api + "General/LoginPublisherAccountById",
	} {
		r = post(t, base+target, "")
		wantCode(t, "during the pause", r, 429, share.CodeTooManyRequests)
		if r.header.Get("Retry-After") != "20" {
			t.Errorf("Retry-After %q during the pause, want 20", r.header.Get("Retry-After"))
		}
	}
	if n := up.count("ReadPublisherLatestGlucoseValues"); n != calls || up.count("LoginPublisherAccountById") != 1 {
		t.Errorf("the upstream was called during the pause")
	}
	if got := f.counter(t, "glucoshare_relay_throttled_total"); got != 2 {
		t.Errorf("throttled_total %v, want 2", got)
	}

	f.clock.Advance(20 * time.Second)
	if vs, r := readValues(t, base, session, 1); !slices.Equal(vs, []int{120}) {
		t.Errorf("after the pause: %d %s", r.status, r.body)
	}

	// 503 with Retry-After pauses too; without it, it does not.
	up.setPause(http.StatusServiceUnavailable, "")
	post(t, base+api+"General/SystemUtcTime", "")
	up.setPause(0, "")
	if r := post(t, base+api+"General/SystemUtcTime", ""); r.status != 200 {
		t.Errorf("503 without Retry-After paused the relay: %d %s", r.status, r.body)
	}
	up.setPause(http.StatusServiceUnavailable, "5")
	post(t, base+api+"General/SystemUtcTime", "")
	up.setPause(0, "")
	wantCode(t, "after a 503 with Retry-After", post(t, base+api+"General/SystemUtcTime", ""), 429, share.CodeTooManyRequests)
}

func TestRelayKey(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	f := newFront(t, relay.Options{Upstream: up.URL, Key: "s3cret-key"})
	target := customBase(f) + api + "General/SystemUtcTime"
	for _, q := range []string{"", "?relayKey=wrong", "?relayKey=", "?relayKey=s3cret-ke", "?relaykey=s3cret-keyX"} {
		wantCode(t, "key "+q, call(t, "GET", target+q, ""), 404, share.CodeEndpointNotFound)
	}
	if up.count("SystemUtcTime") != 0 {
		t.Fatal("a call without the key reached the upstream")
	}
	for _, q := range []string{"?relayKey=s3cret-key", "?RELAYKEY=s3cret-key&x=1"} {
		if r := call(t, "GET", target+q, ""); r.status != 200 {
			t.Errorf("key %s: %d %s", q, r.status, r.body)
		}
	}
	if q := up.lastRequest().URL.RawQuery; q != "x=1" {
		t.Errorf("upstream query %q, want relayKey removed and the rest kept", q)
	}
}

// What reaches the upstream, for each region, and what does not.
func TestForwarding(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	transport := roundTripper(func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		seen = append(seen, r)
		mu.Unlock()
		h := http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=b"}, "X-Powered-By": {"ASP.NET"}}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(`"x"`)), Request: r}, nil
	})
	f := newFront(t, relay.Options{Transport: transport})
	for region, host := range map[string]string{"us": "share2.dexcom.com", "ous": "shareous1.dexcom.com", "jp": "share.dexcom.jp"} {
		r := call(t, "POST", f.URL+"/relay/"+region+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId=abc&minutes=10&format=object&relayKey=k",
			`{"x":1}`, "Content-Type", "text/plain", "Accept", "application/json", "Cookie", "c=d",
			"X-Forwarded-For", "10.0.0.1", "Authorization", "Basic eA==", "User-Agent", "")
		if r.status != 200 || r.body != `"x"` || r.header.Get("Set-Cookie") != "" || r.header.Get("X-Powered-By") != "" {
			t.Errorf("%s: answer %d %v %s", region, r.status, r.header, r.body)
		}
		mu.Lock()
		got := seen[len(seen)-1]
		mu.Unlock()
		body, _ := io.ReadAll(got.Body)
		if got.URL.String() != "https://"+host+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId=abc&minutes=10" ||
			got.Method != "POST" || string(body) != `{"x":1}` || got.ContentLength != 7 {
			t.Errorf("%s: upstream request %s %s %q", region, got.Method, got.URL, body)
		}
		want := http.Header{"Content-Type": {"text/plain"}, "Accept": {"application/json"},
			"User-Agent": {"Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0"}}
		if !equalHeader(got.Header, want) {
			t.Errorf("%s: upstream headers %v, want %v", region, got.Header, want)
		}
	}
	call(t, "POST", f.URL+"/relay/us"+api+"General/SystemUtcTime", "", "User-Agent", "Dextrack/2.1")
	mu.Lock()
	if ua := seen[len(seen)-1].Header.Get("User-Agent"); ua != "Dextrack/2.1" {
		t.Errorf("User-Agent %q, want the client's", ua)
	}
	n := len(seen)
	mu.Unlock()

	for _, path := range []string{
		"/relay/custom" + api + "General/SystemUtcTime", // no custom upstream configured
		"/relay/eu" + api + "General/SystemUtcTime",
		"/relay/us/",
		"/relay/us/index.html",
		"/relay/us" + api + "General",
		"/relay/us/ShareWebServices/Services/General/SystemUtcTime/extra",
		"/relay/us/ShareWebServices/Services/../../admin",
		"/relay/us/ShareWebServices/Services/General/..%2F..%2Fadmin",
		"/relay/us/ShareWebServices/Services/Other/SystemUtcTime",
	} {
		wantCode(t, path, call(t, "GET", f.URL+path, ""), 404, share.CodeEndpointNotFound)
	}
	if len(seen) != n {
		t.Errorf("a refused path reached the upstream")
	}
	// docs/protocol.md, "Hosts and paths": repeated slashes and case are tolerated.
	if r := call(t, "GET", f.URL+"/relay/us//sharewebservices/services/general/systemutctime/", ""); r.status != 200 {
		t.Errorf("lenient path: %d %s", r.status, r.body)
	}
	if r := call(t, "POST", f.URL+"/relay/us"+api+"General/SystemUtcTime", strings.Repeat("x", 4<<20+1)); r.status != 413 {
		t.Errorf("large body: %d", r.status)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// An unreachable or silent upstream answers 502 UpstreamUnavailable, and
// the log names method, path, status and duration, never the query, the
// body or a credential.
func TestUpstreamUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	f := newFront(t, relay.Options{Upstream: closed})
	r := post(t, customBase(f)+api+"General/LoginPublisherAccountByName?sessionId=feed0000-0000-4000-8000-00000000beef",
		`{"accountName":"sam","password":"hunter2 hunter2"}`)
	wantCode(t, "closed port", r, 502, share.CodeUpstreamUnavailable)

	up := newUpstream(t)
	id := up.publisher(t, "sam", 120)
	g := newFront(t, relay.Options{Upstream: up.URL, Timeout: 300 * time.Millisecond})
	session := login(t, customBase(g), id)
	up.setSilence(5 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 { // the coalesced followers get the 502 too
		wg.Go(func() {
			_, r := readValues(t, customBase(g), session, 1)
			wantCode(t, "silent upstream", r, 502, share.CodeUpstreamUnavailable)
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent upstream answered after %v, want about the 300ms timeout", d)
	}
	up.setSilence(0)
	if vs, r := readValues(t, customBase(g), session, 1); !slices.Equal(vs, []int{120}) {
		t.Errorf("a failed read was kept for the window: %d %s", r.status, r.body)
	}
	if got := g.counter(t, "glucoshare_relay_upstream_errors_total"); got < 1 {
		t.Errorf("upstream_errors_total %v, want at least 1", got)
	}

	for _, logs := range []string{f.logs.String(), g.logs.String()} {
		for _, secret := range []string{"hunter2", "feed0000", session, "sessionId", password} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains %q:\n%s", secret, logs)
			}
		}
		if !strings.Contains(logs, "status=") || !strings.Contains(logs, "duration=") || !strings.Contains(logs, "path=/relay/custom") {
			t.Errorf("log lines lack method, path, status or duration:\n%s", logs)
		}
	}
}

func TestBadUpstream(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://example.org", "example.org", "https://", "https://x.org/?a=b", "https://u:p@x.org"} {
		if _, err := relay.New(relay.Options{Upstream: u}); err == nil {
			t.Errorf("Upstream %q accepted", u)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	f := newFront(t, relay.Options{Upstream: up.URL})
	post(t, customBase(f)+api+"General/SystemUtcTime", "")
	r := call(t, "GET", f.URL+"/metrics", "")
	for _, want := range []string{
		`glucoshare_relay_requests_total{region="custom"} 1`,
		`glucoshare_relay_upstream_requests_total{region="custom"} 1`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, r.body)
		}
	}
	var v any
	if json.Unmarshal([]byte(r.body), &v) == nil {
		t.Errorf("/metrics is JSON, want the exposition format")
	}
}

// An upstream that stalls in the middle of a shared read's body gives the
// whole flight the 502 of an unavailable upstream, not half an answer.
func TestUpstreamBreaksOff(t *testing.T) {
	t.Parallel()
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"Value":1`))
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stall.Close)
	f := newFront(t, relay.Options{Upstream: stall.URL, Timeout: 200 * time.Millisecond})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, r := readValues(t, customBase(f), "feed0000-0000-4000-8000-00000000beef", 1)
			wantCode(t, "broken-off body", r, 502, share.CodeUpstreamUnavailable)
		})
	}
	wg.Wait()
}
