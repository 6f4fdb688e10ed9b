// Package relay is the relay of docs/protocol.md, "Relay": it passes Share calls
// from /relay/{region}/ShareWebServices/Services/… to Dexcom's hosted
// service (or to a configured upstream, such as another glucoshare),
// unchanged except for the login answers of the Garmin-friendly format
// switch (docs/protocol.md, "Login answer formats"). It stores and logs no credential.
//
// Beyond docs/protocol.md, "Relay", the relay protects the upstream from fleets of polling
// watches: identical glucose reads within a short window share one
// upstream call (coalesce.go), and an upstream 429 or 503 with Retry-After
// makes the relay answer for the upstream until then (throttle.go).
//
// It is built on httputil.ReverseProxy with Rewrite (upstream.go).
package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glucoshare/glucoshare/share"
)

// Prefix is where the relay is mounted.
const Prefix = "/relay/"

// docs/protocol.md, "Relay": "region us → https://share2.dexcom.com, ous →
// https://shareous1.dexcom.com, jp → https://share.dexcom.jp, and custom →
// an operator-configured upstream base URL (optional)".
var hostedRegions = map[string]string{
	"us":  "https://share2.dexcom.com",
	"ous": "https://shareous1.dexcom.com",
	"jp":  "https://share.dexcom.jp",
}

// Region names the configured upstream.
const customRegion = "custom"

// Defaults.
const (
	DefaultCoalesce = 5 * time.Second
	// DefaultTimeout is docs/protocol.md, "Relay"'s "silent for 30 seconds → 502".
	DefaultTimeout = 30 * time.Second
	// bodyLimit is the largest request body of docs/protocol.md, "Request limits".
	bodyLimit = 4 << 20
)

// Clock tells the time; glucose.Clock satisfies it.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// Options configures a Relay. Zero values select the defaults.
type Options struct {
	// Upstream is the base URL of region "custom", e.g.
	// "https://share.example.org" or another glucoshare's
	// "https://other.example.org/relay/us"; "" leaves custom unset.
	Upstream string
	// Key, when set, must be sent as the relayKey query parameter; a
	// missing or wrong key answers 404 EndpointNotFound (docs/protocol.md, "Relay").
	Key string
	// Coalesce is how long identical glucose reads share one upstream
	// answer; default DefaultCoalesce, negative disables coalescing.
	Coalesce time.Duration
	// Timeout is how long the upstream may stay silent before the relay
	// answers 502 UpstreamUnavailable; default DefaultTimeout.
	Timeout time.Duration
	// Transport makes the upstream requests; default a transport that
	// verifies certificates.
	Transport http.RoundTripper
	// Clock times the coalescing window and Retry-After; default the
	// system clock.
	Clock Clock
	// Logger receives one line per request: method, path, status and
	// duration, never the query, body or session.
	Logger *slog.Logger
	// Registerer receives the relay's metrics (metrics.go); nil keeps
	// them unregistered.
	Registerer prometheus.Registerer
}

// Relay is the relay's http.Handler, to be mounted at Prefix.
type Relay struct {
	regions  map[string]*url.URL
	key      []byte // SHA-256 of Options.Key; nil when no key is required
	clock    Clock
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	flights  *flights // nil when coalescing is off
	throttle *throttle
	timeout  time.Duration
	m        *metrics
}

// New returns a relay. It fails when Upstream is not an http or https
// URL.
func New(opts Options) (*Relay, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = DefaultCoalesce
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Transport == nil {
		opts.Transport = defaultTransport(opts.Timeout)
	}
	rl := &Relay{
		regions: map[string]*url.URL{}, clock: opts.Clock, log: opts.Logger,
		throttle: newThrottle(), timeout: opts.Timeout, m: newMetrics(opts.Registerer),
	}
	for name, base := range hostedRegions {
		rl.regions[name], _ = url.Parse(base)
	}
	if opts.Upstream != "" {
		u, err := parseUpstream(opts.Upstream)
		if err != nil {
			return nil, err
		}
		rl.regions[customRegion] = u
	}
	if opts.Key != "" {
		sum := sha256.Sum256([]byte(opts.Key))
		rl.key = sum[:]
	}
	if opts.Coalesce > 0 {
		rl.flights = newFlights(opts.Coalesce)
	}
	rl.proxy = &httputil.ReverseProxy{
		Rewrite:        rl.rewrite,
		Transport:      silenceTransport{base: opts.Transport},
		ModifyResponse: rl.modifyResponse,
		ErrorHandler:   rl.upstreamFailed,
		// The proxy's own messages could quote what it was copying; the
		// relay logs for itself instead.
		ErrorLog: discardLog,
	}
	return rl, nil
}

// parseUpstream checks the custom upstream's base URL.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case err != nil:
		return nil, fmt.Errorf("relay upstream %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("relay upstream %q: want an http:// or https:// URL", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("relay upstream %q: a base URL has no query, fragment or user", raw)
	}
	return u, nil
}

// call is one relayed request on its way through the proxy.
type call struct {
	region   string
	target   *url.URL // the upstream URL: base + path + filtered query
	body     []byte
	format   string // "object" or "text" on a login call; else ""
	member   string // the member of an object answer: SessionId or AccountId
	coalesce string // the coalescing key; "" when the call is not shared
	reqID    string
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// ServeHTTP relays one request and logs method, path, status and
// duration; never the query string, the body or a session.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	rl.serve(sw, r)
	rl.log.Info("relay", "method", r.Method, "path", sanitize(r.URL.Path), "status", sw.status,
		"duration", time.Since(start))
}

func (rl *Relay) serve(w http.ResponseWriter, r *http.Request) {
	c, err := rl.parse(r)
	if err != nil {
		rl.m.requests.WithLabelValues("none").Inc()
		writeError(w, r, err, share.NewID())
		return
	}
	rl.m.requests.WithLabelValues(c.region).Inc()
	if wait := rl.throttle.wait(c.target.Host, rl.clock.Now()); wait > 0 {
		rl.m.throttled.WithLabelValues(c.region).Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		e := &relayError{code: share.CodeTooManyRequests, retryAfter: secs,
			msg: fmt.Sprintf("The upstream asked for a pause; retry in %d seconds.", secs)}
		writeError(w, r, e, c.reqID)
		return
	}
	if c.coalesce != "" && rl.flights != nil {
		rl.shared(w, r, c)
		return
	}
	ctx, stop := rl.upstreamContext(r.Context())
	defer stop()
	rl.proxy.ServeHTTP(w, r.WithContext(withCall(ctx, c)))
}

// parse checks the relay key and the route and reads the body. Every
// failure is answered like an unknown path, so that without the key the
// relay reveals nothing.
func (rl *Relay) parse(r *http.Request) (*call, error) {
	notFound := &relayError{code: share.CodeEndpointNotFound, msg: "No endpoint at " + sanitize(r.URL.Path) + "."}
	query, params := splitQuery(r.URL.RawQuery)
	if rl.key != nil {
		got := sha256.Sum256([]byte(params["relaykey"]))
		if subtle.ConstantTimeCompare(got[:], rl.key) != 1 {
			return nil, notFound
		}
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), Prefix)
	if !ok {
		return nil, notFound
	}
	region, path, _ := strings.Cut(rest, "/")
	base := rl.regions[region]
	method, isShare := shareMethod(path)
	if base == nil || !isShare {
		return nil, notFound
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(base.String() + "/" + path)
	if err != nil {
		return nil, notFound
	}
	target.RawQuery = query
	c := &call{region: region, target: target, body: body, reqID: share.NewRequestID()}
	if member, login := loginCalls[method]; login {
		if f := strings.ToLower(params["format"]); f == "object" || f == "text" {
			c.format, c.member = f, member
		}
	}
	if coalescedReads[method] {
		c.coalesce = coalesceKey(r, c)
	}
	return c, nil
}

// loginCalls are the four login calls of docs/protocol.md, "Login answer formats" and the member of their
// format=object answer.
var loginCalls = map[string]string{
	"general/loginpublisheraccountbyname":  "SessionId",
	"general/authenticatepublisheraccount": "AccountId",
	"general/loginpublisheraccountbyid":    "SessionId",
	"general/loginsubscriberaccount":       "SessionId",
}

// coalescedReads are the glucose reads that watches poll.
var coalescedReads = map[string]bool{
	"publisher/readpublisherlatestglucosevalues":     true,
	"subscriber/readsubscriptionlatestglucosevalues": true,
	"subscriber/readlastglucosefromsubscriptions":    true,
}

// shareMethod returns "area/method" in lower case when path (the escaped
// path below the region) is a Share call, matched like docs/protocol.md, "Hosts and paths":
// case-insensitively, repeated slashes collapsed, one trailing slash
// ignored. Anything else — other paths, dot segments, escaped characters —
// is not relayed, so that the relay reaches nothing of the upstream but its
// Share calls.
func shareMethod(path string) (string, bool) {
	var parts []string
	for _, p := range strings.Split(strings.ToLower(path), "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) != 4 || parts[0] != "sharewebservices" || parts[1] != "services" || !isWord(parts[3]) {
		return "", false
	}
	switch parts[2] {
	case "general", "publisher", "subscriber":
		return parts[2] + "/" + parts[3], true
	}
	return "", false
}

// isWord reports whether s is a method name: ASCII letters and digits.
func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// splitQuery removes relayKey and format from a raw query string (docs/protocol.md, "Relay":
// "the query string without format and relayKey") and returns the rest
// byte for byte, with the first value of each removed parameter under its
// lower-case name. Names compare case-insensitively, as all Share
// parameters do (docs/protocol.md, "Parameters").
func splitQuery(raw string) (string, map[string]string) {
	params := map[string]string{}
	var kept []string
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if lower := strings.ToLower(name); err == nil && (lower == "relaykey" || lower == "format") {
			if _, seen := params[lower]; !seen {
				params[lower], _ = url.QueryUnescape(rawValue)
			}
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&"), params
}

// readBody reads the request body within docs/protocol.md, "Request limits"'s largest limit.
func readBody(r *http.Request) ([]byte, error) {
	tooLarge := &relayError{code: share.CodeRequestTooLarge, msg: fmt.Sprintf("The request body is larger than %d bytes.", bodyLimit)}
	if r.ContentLength > bodyLimit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, bodyLimit+1))
	if err != nil {
		return nil, &relayError{code: share.CodeInvalidArgument, msg: "the request body could not be read"}
	}
	if len(body) > bodyLimit {
		return nil, tooLarge
	}
	return body, nil
}

// relayError is an error the relay answers itself, in the body of docs/protocol.md, "Errors".
type relayError struct {
	code       share.Code
	msg        string
	retryAfter int // seconds; 0 = no Retry-After
}

func (e *relayError) Error() string { return string(e.code) + ": " + e.msg }

// writeError writes the docs/protocol.md, "Errors" error body.
func writeError(w http.ResponseWriter, r *http.Request, err error, reqID string) {
	var e *relayError
	if !errors.As(err, &e) {
		e = &relayError{code: share.CodeInternalError, msg: "An internal error occurred. [RequestId = " + reqID + "]"}
	}
	body := share.AppendErrorBody(nil, &share.Error{Code: e.code, Message: e.msg, SubCode: reqID})
	h := w.Header()
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.code.HTTPStatus())
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// sanitize keeps a logged or echoed path short and printable.
func sanitize(p string) string {
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(p, "?"))
}

// statusWriter remembers the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bodyOf reads a small upstream body for rewriting.
func bodyOf(rc io.ReadCloser, limit int64) ([]byte, io.ReadCloser, error) {
	buf, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		rc.Close()
		return nil, nil, err
	}
	if int64(len(buf)) > limit {
		// Too large to be a session id: pass it on as it is.
		return nil, struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), rc), rc}, nil
	}
	rc.Close()
	return buf, nil, nil
}
