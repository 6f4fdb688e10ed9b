// Package shareapi serves the Share web-service protocol under
// /ShareWebServices/Services/, exactly as docs/protocol.md specifies.
// Each handler quotes the contract line it implements; protocol_doc_test.go
// keeps the reference and the route table in step.
package shareapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/share"
)

// BasePath is where the protocol lives; matched case-insensitively.
const BasePath = "/ShareWebServices/Services/"

// Body limits (docs/protocol.md, "Request limits").
const (
	defaultBodyLimit = 1 << 20
	largeBodyLimit   = 4 << 20
)

// API is the http.Handler for the protocol.
type API struct {
	svc     *core.Service
	clock   glucose.Clock
	log     *slog.Logger
	metrics *metrics.Metrics
	addrs   *clientaddr.Resolver
	routes  map[string]*endpoint // by lower-case "area/name"
	exact   map[string]*endpoint // by the full path as the route table spells it
}

// Options configures an API.
type Options struct {
	Clock   glucose.Clock    // default glucose.SystemClock
	Logger  *slog.Logger     // default slog.Default()
	Metrics *metrics.Metrics // optional
	// ClientAddr tells which address a request came from (for the
	// throttling of failed credentials); nil trusts a proxy on loopback.
	ClientAddr *clientaddr.Resolver
}

// New returns the protocol handler over svc.
func New(svc *core.Service, opts Options) *API {
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{svc: svc, clock: opts.Clock, log: opts.Logger, metrics: opts.Metrics, addrs: opts.ClientAddr,
		routes: map[string]*endpoint{}, exact: map[string]*endpoint{}}
	for _, ep := range a.endpoints() {
		ep.full = ep.area + "/" + ep.name
		ep.metrics = opts.Metrics.Endpoint(ep.full)
		a.routes[strings.ToLower(ep.full)] = ep
		a.exact[BasePath+ep.full] = ep
	}
	return a
}

// endpoint is one row of the route table.
type endpoint struct {
	area, name string
	full       string // "area/name", for metrics and logs
	get        bool   // a GET endpoint, which also accepts HEAD and POST (docs/protocol.md, "Methods")
	noSession  bool   // the endpoint does not take a session
	bodyLimit  int64  // 0 = defaultBodyLimit
	fn         func(*call) (reply, error)
	metrics    *metrics.Endpoint
}

// call is one request on its way through a handler.
type call struct {
	ctx   context.Context
	r     *http.Request
	p     *params
	now   time.Time // read once per request (docs/protocol.md, "Dates and times")
	reqID string
	ep    *endpoint
	sess  *glucose.Session
	acct  *glucose.Account // the session's account
	// headerValues holds the values of the headers a success sets
	// (setHeader), so that they cost no allocation of their own.
	headerValues [3]string
	params       params // what p points to, allocated with the call
}

// setHeader sets header name, which must be in canonical form, to value
// as http.Header.Set does, keeping the value in c.headerValues[i]. The
// slice's capacity is 1, so a later Add to the same header copies it.
func (c *call) setHeader(h http.Header, i int, name, value string) {
	c.headerValues[i] = value
	h[name] = c.headerValues[i : i+1 : i+1]
}

// reply is a success response.
type reply struct {
	contentType string
	body        []byte
	cache       string // Cache-Control, for images
}

func voidReply() (reply, error) { return reply{contentType: "application/json"}, nil }

func idReply(id string) (reply, error) {
	return reply{contentType: "application/json", body: []byte(`"` + id + `"`)}, nil
}

func boolReply(b bool) (reply, error) {
	return reply{contentType: "application/json", body: strconv.AppendBool(nil, b)}, nil
}

func intReply(n int) (reply, error) {
	return reply{contentType: "application/json", body: strconv.AppendInt(nil, int64(n), 10)}, nil
}

func rawReply(body []byte) (reply, error) {
	return reply{contentType: "application/json", body: body}, nil
}

// jsonReply encodes v compactly, without HTML escaping and without the
// trailing newline that json.Encoder appends (docs/protocol.md, "Success responses").
func jsonReply(v any) (reply, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return reply{}, err
	}
	return rawReply(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// IsProtocolPath reports whether path belongs to the protocol, after the
// normalisation of docs/protocol.md, "Hosts and paths".
func IsProtocolPath(path string) bool {
	if strings.HasPrefix(path, BasePath) {
		return true // as every client spells it; no need to normalise
	}
	// The other paths of the server (the Nightscout API's, the web
	// pages') are told apart without normalising, which allocates: an
	// ASCII path must start with slashes and the first segment of
	// BasePath in any case. (A path that is not ASCII may lower-case to
	// ASCII, as İ does to i, and is normalised.)
	if rest := strings.TrimLeft(path, "/"); isASCII(path) &&
		(len(rest) == len(path) || len(rest) < len(baseSegment) || !strings.EqualFold(rest[:len(baseSegment)], baseSegment)) {
		return false
	}
	p := strings.ToLower(cleanPath(path))
	return p+"/" == lowerBasePath || strings.HasPrefix(p, lowerBasePath)
}

var (
	lowerBasePath = strings.ToLower(BasePath)
	baseSegment   = "ShareWebServices" // BasePath's first segment
)

// cleanPath collapses repeated slashes and drops one trailing slash (docs/protocol.md, "Hosts and paths").
func cleanPath(path string) string {
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && i > 0 && path[i-1] == '/' {
			continue
		}
		b.WriteByte(path[i])
	}
	p := b.String()
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// ServeHTTP routes a protocol request. Every response carries its request
// id in X-Request-Id (errors also in SubCode); the access log, at debug
// level, names the endpoint but never the query string or body, where
// session ids and passwords travel.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{ctx: r.Context(), r: r, reqID: share.NewRequestID()}
	c.setHeader(w.Header(), 0, "X-Request-Id", c.reqID)
	rep, err := a.serve(c, w)
	code := "OK"
	if err != nil {
		code = string(a.writeError(w, c, err))
	} else {
		a.writeReply(w, c, rep)
	}
	name := "unknown"
	elapsed := time.Since(start)
	if c.ep != nil {
		name = c.ep.full
		c.ep.metrics.Request(code, elapsed)
	} else {
		a.metrics.Request(name, code, elapsed)
	}
	if a.log.Enabled(c.ctx, slog.LevelDebug) {
		a.log.Debug("share request", "request_id", c.reqID, "method", r.Method, "endpoint", name,
			"code", code, "duration", elapsed)
	}
}

func (a *API) serve(c *call, w http.ResponseWriter) (reply, error) {
	ep := a.exact[c.r.URL.Path] // the common case, without normalising
	if ep == nil {
		rest := strings.ToLower(cleanPath(c.r.URL.Path))
		ep = a.routes[strings.TrimPrefix(rest, lowerBasePath)]
	}
	if ep == nil {
		return reply{}, glucose.Errorf(share.CodeEndpointNotFound, "No endpoint at %s.", sanitizePath(c.r.URL.Path))
	}
	c.ep = ep
	if err := checkMethod(ep, c.r.Method, w); err != nil {
		return reply{}, err
	}
	body, err := readBody(c.r, ep.bodyLimit)
	if err != nil {
		return reply{}, err
	}
	c.now = a.clock.Now()
	c.ctx = a.svc.Fresh(c.ctx)
	c.p = &c.params
	c.p.init(c.r.URL.RawQuery, body, c.r.Header.Get("Content-Type"))
	if !ep.noSession {
		raw, _, _, err := c.p.String("sessionId")
		if err != nil && c.p.bodyErr != nil {
			return reply{}, err // the body was needed and is unparsable (docs/protocol.md, "Parameters")
		}
		if err != nil {
			raw = "" // a malformed session parameter is a missing one
		}
		if c.sess, c.acct, err = a.svc.Session(c.ctx, raw, c.now); err != nil {
			return reply{}, err
		}
	}
	return ep.fn(c)
}

func sanitizePath(p string) string {
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.ToValidUTF8(p, "?")
}

// checkMethod applies docs/protocol.md, "Methods".
func checkMethod(ep *endpoint, method string, w http.ResponseWriter) error {
	switch {
	case method == http.MethodPost:
		return nil
	case ep.get && (method == http.MethodGet || method == http.MethodHead):
		return nil
	case ep.get:
		w.Header().Set("Allow", "GET, HEAD, POST")
	default:
		w.Header().Set("Allow", "POST")
	}
	return glucose.Errorf(share.CodeMethodNotAllowed, "Method %s is not allowed here.", sanitizePath(method))
}

// readBody reads the body within the endpoint's limit (docs/protocol.md, "Request limits"): the declared
// length is checked first, and reading stops at the limit when no length is
// given.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if limit == 0 {
		limit = defaultBodyLimit
	}
	unreadable := func() error { return glucose.InvalidArgument("the request body could not be read") }
	switch {
	case r.ContentLength > limit:
		return nil, tooLarge(limit)
	case r.ContentLength == 0: // a server request's 0 is a known empty body
		return nil, nil
	case r.ContentLength > 0: // declared: read exactly that much
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, unreadable()
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, unreadable()
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return glucose.Errorf(share.CodeRequestTooLarge, "The request body is larger than %d bytes.", limit)
}

// writeReply writes a success response (docs/protocol.md, "Success responses"): status 200, exact
// Content-Type, Content-Length, no trailing newline, gzip only when asked.
func (a *API) writeReply(w http.ResponseWriter, c *call, rep reply) {
	r := c.r
	h := w.Header()
	c.setHeader(h, 1, "Content-Type", rep.contentType)
	if rep.cache != "" {
		h.Set("Cache-Control", rep.cache)
	}
	body := rep.body
	if len(body) >= gzipMin && strings.HasPrefix(rep.contentType, "application/json") {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body = gzipBytes(body)
			h.Set("Content-Encoding", "gzip")
		}
	}
	c.setHeader(h, 2, "Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// gzipMin is the smallest body worth compressing.
const gzipMin = 1024

// acceptsGzip reports whether an Accept-Encoding header lists gzip with a
// non-zero quality. pydexcom's "application/json" does not.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, q, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q = strings.TrimSpace(q)
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b)
	zw.Close()
	gzipPool.Put(zw)
	return buf.Bytes()
}

// writeError is the one writer of error bodies (docs/protocol.md, "Errors"). Errors that carry a
// protocol code are answered with it; anything else is an InternalError and
// the only kind logged with full detail.
func (a *API) writeError(w http.ResponseWriter, c *call, err error) share.Code {
	code := glucose.ErrorCode(err)
	var ge *glucose.Error
	msg := ""
	switch {
	case errors.As(err, &ge):
		msg = ge.Message
		if ge.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ge.RetryAfter))
		}
	case errors.Is(err, context.Canceled) && c.ctx.Err() != nil:
		code, msg = share.CodeServiceUnavailable, "The request was cancelled."
	case code == share.CodeServiceUnavailable || errors.Is(err, context.DeadlineExceeded):
		code, msg = share.CodeServiceUnavailable, "The service is temporarily unavailable; try again shortly."
		w.Header().Set("Retry-After", "5")
		a.log.Warn("storage unavailable", "request_id", c.reqID, "err", err)
	default:
		code, msg = share.CodeInternalError, "An internal error occurred. [RequestId = "+c.reqID+"]"
		a.log.Error("internal error", "request_id", c.reqID, "path", sanitizePath(c.r.URL.Path), "err", err)
	}
	body := share.AppendErrorBody(nil, &share.Error{Code: code, Message: msg, SubCode: c.reqID})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code.HTTPStatus())
	if c.r.Method != http.MethodHead {
		w.Write(body)
	}
	return code
}
