package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// defaultUserAgent is sent when the client sent none (docs/protocol.md, "Relay").
const defaultUserAgent = "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0"

// loginBodyLimit bounds a login answer the relay rewrites; a session id is
// 38 bytes.
const loginBodyLimit = 64 << 10

var discardLog = log.New(io.Discard, "", 0)

// defaultTransport verifies upstream certificates (docs/protocol.md, "Relay": "Upstream
// certificates are verified") and gives up on a silent upstream.
func defaultTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
	}
}

// docs/protocol.md, "Relay": "Request forwarded: method, the path below /relay/{region}, the
// query string without format and relayKey, the body bytes, Content-Type
// and Accept. User-Agent is passed through, or set to `Dexcom
// Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0` when the client sent
// none. No cookies and no client-address headers are added."
func (rl *Relay) rewrite(pr *httputil.ProxyRequest) {
	c := callFrom(pr.In.Context())
	rl.m.upstream.WithLabelValues(c.region).Inc()
	out := pr.Out
	u := *c.target
	out.URL = &u
	out.Host = ""
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Accept"} {
		if v := pr.In.Header.Values(k); len(v) > 0 {
			h[k] = slices.Clone(v)
		}
	}
	ua := pr.In.Header.Get("User-Agent")
	if ua == "" {
		ua = defaultUserAgent
	}
	h.Set("User-Agent", ua)
	out.Header = h
	out.TransferEncoding = nil
	out.ContentLength = int64(len(c.body))
	out.Body = http.NoBody
	if len(c.body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(c.body))
	}
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body)), nil }
}

// passedHeaders are the response headers the client gets: docs/protocol.md, "Relay" passes
// "status, Content-Type and body"; Retry-After and Allow belong to the
// status they come with. Cookies and the upstream's other headers stay
// behind.
var passedHeaders = []string{"Content-Type", "Content-Length", "Retry-After", "Allow"}

// modifyResponse notes an upstream request for a pause, keeps only the
// passed headers, and rewrites login answers (docs/protocol.md, "Relay": "for the four login
// calls, when the request carried format=object or format=text and the
// upstream answered 2xx with a JSON string body, the body is rewritten as
// in docs/protocol.md, "Login answer formats". The relay does not interpret the value").
func (rl *Relay) modifyResponse(resp *http.Response) error {
	c := callFrom(resp.Request.Context())
	rl.noteRetryAfter(resp)
	kept := http.Header{}
	for _, k := range passedHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			kept[k] = v
		}
	}
	resp.Header = kept
	if c.format == "" || resp.StatusCode/100 != 2 {
		return nil
	}
	body, passOn, err := bodyOf(resp.Body, loginBodyLimit)
	if err != nil {
		return err
	}
	if passOn != nil {
		resp.Body = passOn
		return nil
	}
	if out, contentType, ok := rewriteID(body, c.format, c.member); ok {
		body = out
		resp.Header.Set("Content-Type", contentType)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// rewriteID turns a JSON string body into the docs/protocol.md, "Login answer formats" answer for format.
func rewriteID(body []byte, format, member string) ([]byte, string, bool) {
	body = bytes.TrimSpace(body)
	var id string
	if len(body) == 0 || body[0] != '"' || json.Unmarshal(body, &id) != nil {
		return nil, "", false
	}
	if format == "text" {
		return []byte(id), "text/plain; charset=utf-8", true
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]string{member: id})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "application/json", true
}

// upstreamFailed answers docs/protocol.md, "Relay"'s "Upstream unreachable, or silent for 30
// seconds → 502 UpstreamUnavailable". The cause is logged without the
// URL, whose query holds the session.
func (rl *Relay) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	if cw, ok := w.(*capture); ok {
		cw.failed = true
	}
	rl.m.upstreamErrors.WithLabelValues(c.region).Inc()
	reason := err
	var ue *url.Error
	if errors.As(err, &ue) {
		reason = ue.Err
	}
	if errors.Is(context.Cause(r.Context()), errSilent) {
		reason = errSilent
	}
	rl.log.Warn("relay: upstream unavailable", "region", c.region, "host", c.target.Host, "request_id", c.reqID, "err", reason)
	writeError(w, r, &relayError{code: share.CodeUpstreamUnavailable,
		msg: "The upstream Share service could not be reached. [RequestId = " + c.reqID + "]"}, c.reqID)
}

var errSilent = errors.New("upstream silent for too long")

// upstreamContext returns a context for one upstream exchange that is
// cancelled when the upstream stays silent for the timeout: every response
// header and body read sets the watchdog back.
func (rl *Relay) upstreamContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	wd := &watchdog{d: rl.timeout}
	wd.timer = time.AfterFunc(rl.timeout, func() { cancel(errSilent) })
	ctx = context.WithValue(ctx, watchdogKey{}, wd)
	return ctx, func() {
		wd.stop()
		cancel(nil)
	}
}

type watchdogKey struct{}

// watchdog cancels an exchange after d without progress.
type watchdog struct {
	mu      sync.Mutex
	d       time.Duration
	timer   *time.Timer
	stopped bool
}

func (wd *watchdog) kick() {
	wd.mu.Lock()
	if !wd.stopped {
		wd.timer.Reset(wd.d)
	}
	wd.mu.Unlock()
}

func (wd *watchdog) stop() {
	wd.mu.Lock()
	wd.stopped = true
	wd.timer.Stop()
	wd.mu.Unlock()
}

// silenceTransport sets the request's watchdog back when the response
// headers arrive and at every body read.
type silenceTransport struct{ base http.RoundTripper }

func (t silenceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	wd, _ := req.Context().Value(watchdogKey{}).(*watchdog)
	if err != nil || wd == nil {
		return resp, err
	}
	wd.kick()
	resp.Body = &kickingBody{ReadCloser: resp.Body, wd: wd}
	return resp, nil
}

type kickingBody struct {
	io.ReadCloser
	wd *watchdog
}

func (b *kickingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.wd.kick()
	}
	return n, err
}
