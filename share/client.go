// This file holds the Client's machinery: regions, options, sending with
// re-login and Retry-After, and error decoding. The endpoint methods are in
// client_general.go, client_publisher.go and client_subscriber.go.

package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BasePath is where every endpoint lives below a server's root (docs/protocol.md, "Hosts and paths").
const BasePath = "/ShareWebServices/Services"

// Application ids clients send at login (docs/protocol.md, "Credential checks"). Dexcom's hosted service
// expects ApplicationIDJP on share.dexcom.jp (pydexcom's APAC region);
// glucoshare records the id and never checks it.
const (
	ApplicationID   = "d89443d2-327c-4a6f-89e5-496bbb0317db"
	ApplicationIDJP = "d8665ade-9673-4e27-9ff6-92db4ce13d13"
)

// DefaultTimeout bounds each HTTP attempt unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// Region is one of Dexcom's hosted Share services (docs/protocol.md, "Hosts and paths", "Known clients").
type Region string

// The hosted regions.
const (
	RegionUS  Region = "us"  // share2.dexcom.com
	RegionOUS Region = "ous" // shareous1.dexcom.com, everywhere outside the US and Japan
	RegionJP  Region = "jp"  // share.dexcom.jp (pydexcom calls it APAC)
)

var regionHosts = map[Region]string{
	RegionUS:  "share2.dexcom.com",
	RegionOUS: "shareous1.dexcom.com",
	RegionJP:  "share.dexcom.jp",
}

// ParseRegion reads a region name case-insensitively: us, ous or jp, with
// apac accepted for jp.
func ParseRegion(s string) (Region, error) {
	r := Region(strings.ToLower(strings.TrimSpace(s)))
	if r == "apac" {
		r = RegionJP
	}
	if _, ok := regionHosts[r]; !ok {
		return "", fmt.Errorf("share: unknown region %q (want us, ous or jp)", s)
	}
	return r, nil
}

// Host returns the region's host name, e.g. share2.dexcom.com.
func (r Region) Host() string { return regionHosts[r] }

// BaseURL returns the region's base URL, including BasePath.
func (r Region) BaseURL() string { return "https://" + regionHosts[r] + BasePath }

// ApplicationID returns the application id the region's service expects.
func (r Region) ApplicationID() string {
	if r == RegionJP {
		return ApplicationIDJP
	}
	return ApplicationID
}

// LoginMethod selects the login calls the client makes (docs/protocol.md, "General").
type LoginMethod int

const (
	// LoginPublisher, the default, logs in as pydexcom does:
	// AuthenticatePublisherAccount turns the account name into the account
	// id (skipped when the id is known), then LoginPublisherAccountById.
	LoginPublisher LoginMethod = iota
	// LoginPublisherByName uses LoginPublisherAccountByName, as the xDrip+
	// and xDrip4iOS uploaders do. The hosted service answers it with the
	// all-zero id, which the client rejects with ErrInvalidID.
	LoginPublisherByName
	// LoginSubscriber uses LoginSubscriberAccount with the account id, or
	// with the account name (a glucoshare extension).
	LoginSubscriber
)

// Client talks to one Share server — glucoshare, or Dexcom's hosted
// service in the US, outside the US or in Japan — on behalf of one account.
// It covers every endpoint of docs/protocol.md, publisher and follower side; each
// method is named after its endpoint and takes a context.Context.
//
// The client logs in on first use the way pydexcom does
// (AuthenticatePublisherAccount, then LoginPublisherAccountById), logs in
// once more when the server says the session ended (SessionNotValid or
// SessionIdNotFound), and waits out Retry-After on 429 and 503 answers.
// Server errors come back as *CallError wrapping the decoded *Error body, so
// errors.Is(err, ErrMaxAttempts) and errors.As(err, &callErr) both work.
//
// A Client is safe for concurrent use; concurrent calls share one session
// and one re-login.
type Client struct {
	base      string // …/ShareWebServices/Services, without a trailing slash
	hc        *http.Client
	timeout   time.Duration
	appID     string
	appIDSet  bool
	userAgent string
	method    LoginMethod
	retries   int           // 429/503 retries per call
	maxWait   time.Duration // longest Retry-After the client waits out
	sleep     func(context.Context, time.Duration) error

	loginMu sync.Mutex // held while logging in, so that only one login runs
	mu      sync.Mutex // guards the fields below
	name    string
	account string
	secret  string
	session string
}

// Option configures a Client.
type Option func(*Client) error

// WithRegion talks to a hosted region with its application id.
func WithRegion(r Region) Option {
	return func(c *Client) error {
		if _, ok := regionHosts[r]; !ok {
			return fmt.Errorf("share: unknown region %q", string(r))
		}
		c.base = r.BaseURL()
		if !c.appIDSet {
			c.appID = r.ApplicationID()
		}
		return nil
	}
}

// WithBaseURL talks to the server at base, e.g. http://127.0.0.1:8080 or
// https://glucoshare.example.org/relay/us. BasePath is appended unless base
// already ends with it.
func WithBaseURL(base string) Option {
	return func(c *Client) error {
		u, err := url.Parse(strings.TrimSpace(base))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("share: base URL %q: want http:// or https:// and a host", base)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("share: base URL %q must not have a query or fragment", base)
		}
		path := strings.TrimRight(u.Path, "/")
		if !strings.HasSuffix(strings.ToLower(path), strings.ToLower(BasePath)) {
			path += BasePath
		}
		u.Path, u.RawPath = path, ""
		c.base = u.String()
		if !c.appIDSet {
			c.appID = ApplicationID
		}
		return nil
	}
}

// WithServer accepts what a user types: a region name (us, ous, jp) or a
// base URL.
func WithServer(s string) Option {
	return func(c *Client) error {
		if r, err := ParseRegion(s); err == nil {
			return WithRegion(r)(c)
		}
		if !strings.Contains(s, "://") {
			return fmt.Errorf("share: server %q: want us, ous, jp or a URL such as http://127.0.0.1:8080", s)
		}
		return WithBaseURL(s)(c)
	}
}

// WithHTTPClient sends requests through hc, e.g. one with a custom
// transport, proxy or certificate pool. Its own Timeout, if any, applies on
// top of WithTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("share: nil *http.Client")
		}
		c.hc = hc
		return nil
	}
}

// WithTimeout bounds each HTTP attempt (default DefaultTimeout); 0 means no
// bound beyond the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return errors.New("share: negative timeout")
		}
		c.timeout = d
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// WithApplicationID overrides the application id sent at login.
func WithApplicationID(id string) Option {
	return func(c *Client) error { c.appID, c.appIDSet = id, true; return nil }
}

// WithCredentials logs in with an account name (user name, e-mail address
// or phone number) and password.
func WithCredentials(accountName, password string) Option {
	return func(c *Client) error {
		c.name, c.secret = accountName, password
		return nil
	}
}

// WithAccountID logs in with an account id and password, skipping
// AuthenticatePublisherAccount.
func WithAccountID(accountID, password string) Option {
	return func(c *Client) error {
		id, ok := ParseID(accountID)
		if !ok || id == ZeroID {
			return fmt.Errorf("share: account id %q is not a non-zero UUID", accountID)
		}
		c.account, c.secret = id, password
		return nil
	}
}

// WithSession starts from an existing session id instead of logging in.
// With credentials as well, the client logs in again when it ends.
func WithSession(sessionID string) Option {
	return func(c *Client) error {
		id, ok := ParseID(sessionID)
		if !ok || id == ZeroID {
			return fmt.Errorf("share: session id %q is not a non-zero UUID", sessionID)
		}
		c.session = id
		return nil
	}
}

// WithLoginMethod selects the login calls (default LoginPublisher).
func WithLoginMethod(m LoginMethod) Option {
	return func(c *Client) error {
		if m < LoginPublisher || m > LoginSubscriber {
			return fmt.Errorf("share: unknown login method %d", m)
		}
		c.method = m
		return nil
	}
}

// WithRetry sets how often a call answered 429 TooManyRequests or 503
// ServiceUnavailable is retried (default 2) and the longest Retry-After the
// client waits out (default 1 minute); a longer one is returned at once as
// a *CallError carrying RetryAfter.
func WithRetry(retries int, maxWait time.Duration) Option {
	return func(c *Client) error {
		if retries < 0 || maxWait < 0 {
			return errors.New("share: negative retry setting")
		}
		c.retries, c.maxWait = retries, maxWait
		return nil
	}
}

// NewClient returns a client; without WithRegion, WithBaseURL or WithServer
// it talks to RegionUS, as pydexcom does.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		hc:        &http.Client{},
		timeout:   DefaultTimeout,
		userAgent: "glucoshare-go",
		retries:   2,
		maxWait:   time.Minute,
		sleep:     sleepContext,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.base == "" {
		if err := WithRegion(RegionUS)(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL returns the base URL calls go to, ending in BasePath.
func (c *Client) BaseURL() string { return c.base }

// SessionID returns the current session id, or "" before the first login.
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// AccountID returns the account id, once known (WithAccountID, or after a
// login through AuthenticatePublisherAccount).
func (c *Client) AccountID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.account
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Errors the client returns on its own, besides the server's *CallError.
var (
	// ErrInvalidID means the server answered a login or id call with the
	// all-zero id or something that is not an id. The hosted service
	// answers LoginPublisherAccountByName, and LoginPublisherAccountById
	// with an unknown account id, with the zero id (docs/protocol.md, "Credential checks", "General").
	ErrInvalidID = errors.New("share: the server answered a zero or malformed id")
	// ErrNoCredentials means a call needs a session and the client has
	// neither a session nor credentials to log in with.
	ErrNoCredentials = errors.New("share: no credentials to log in with")
	// ErrNoReadings means LatestReading found no reading.
	ErrNoReadings = errors.New("share: no glucose reading")
	// ErrSessionExpired matches both session codes, SessionNotValid and
	// SessionIdNotFound, in errors.Is.
	ErrSessionExpired = errors.New("share: session expired")
)

// CallError is a failed call: the endpoint, the HTTP status, Retry-After,
// and the server's error body decoded into Err when it was one (docs/protocol.md, "Errors").
// errors.Is and errors.As see through it to Err, and it also matches
// ErrSessionExpired for either session code, ErrMaxAttempts for both
// spellings of the lockout code, and ErrAccountPasswordInvalid for the SSO
// credential codes other servers send.
type CallError struct {
	Endpoint   string        // e.g. "Publisher/ReadPublisherLatestGlucoseValues"
	Status     int           // HTTP status
	RetryAfter time.Duration // from the Retry-After header; 0 if none
	Err        *Error        // the decoded error body; nil if the body was not one
	Body       string        // the start of a body that was not an error object
}

// Error implements error.
func (e *CallError) Error() string {
	msg := e.Endpoint + ": "
	if e.Err != nil {
		msg += e.Err.Error()
	} else {
		msg += fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.Body != "" {
			msg += ": " + e.Body
		}
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Unwrap returns the decoded error body, if any.
func (e *CallError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Code returns the error body's Code, or "" when there was none.
func (e *CallError) Code() Code {
	if e.Err == nil {
		return ""
	}
	return e.Err.Code
}

// Is matches the aliases described on CallError; exact codes are matched by
// *Error.Is through Unwrap.
func (e *CallError) Is(target error) bool {
	code := e.Code()
	switch target {
	case ErrSessionExpired:
		return code == CodeSessionNotValid || code == CodeSessionIDNotFound
	case ErrMaxAttempts:
		return code == CodeSSOMaxAttemptsMisspelt
	case ErrAccountPasswordInvalid:
		return code == CodeSSOPasswordInvalid || code == CodeSSOAccountNotFound
	}
	return false
}

// RetryAfter returns the Retry-After of a *CallError in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var ce *CallError
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		return ce.RetryAfter, true
	}
	return 0, false
}

// maxResponse bounds the answers the client reads: 2,016 readings or a
// 256 KiB image are far below it.
const maxResponse = 16 << 20

// request is one call to send.
type request struct {
	method   string // GET or POST
	endpoint string // Area/Method
	query    url.Values
	body     []byte // JSON; nil sends "{}" on POST, as pydexcom does
}

// response is a successful answer.
type response struct {
	header http.Header
	body   []byte
}

// get and post build requests.
func get(endpoint string, query url.Values) request {
	return request{method: http.MethodGet, endpoint: endpoint, query: query}
}

func post(endpoint string, query url.Values, body []byte) request {
	return request{method: http.MethodPost, endpoint: endpoint, query: query, body: body}
}

// call sends a request that needs a session: it logs in first when there
// is no session, and once more when the server says the session ended.
func (c *Client) call(ctx context.Context, req request) (*response, error) {
	sid, err := c.ensureSession(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, withSession(req, sid))
	if !errors.Is(err, ErrSessionExpired) || !c.hasCredentials() {
		return resp, err
	}
	if sid, err = c.relogin(ctx, sid); err != nil {
		return nil, err
	}
	return c.send(ctx, withSession(req, sid))
}

// withSession returns req with sessionId first in a copy of its query.
func withSession(req request, sid string) request {
	q := url.Values{"sessionId": {sid}}
	for k, v := range req.query {
		q[k] = v
	}
	req.query = q
	return req
}

func (c *Client) hasCredentials() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secret != "" && (c.name != "" || c.account != "")
}

// ensureSession returns the session, logging in when there is none.
func (c *Client) ensureSession(ctx context.Context) (string, error) {
	if sid := c.SessionID(); sid != "" {
		return sid, nil
	}
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if sid := c.SessionID(); sid != "" {
		return sid, nil // another call logged in meanwhile
	}
	return c.login(ctx)
}

// relogin replaces the session stale, unless another call already did.
func (c *Client) relogin(ctx context.Context, stale string) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if sid := c.SessionID(); sid != "" && sid != stale {
		return sid, nil
	}
	c.setSession("")
	return c.login(ctx)
}

func (c *Client) setSession(sid string) {
	c.mu.Lock()
	c.session = sid
	c.mu.Unlock()
}

// send sends req, waiting out Retry-After on 429 and 503 up to c.retries
// times. A failed request changes nothing on the server (docs/protocol.md, "Errors"), so
// repeating it is safe.
func (c *Client) send(ctx context.Context, req request) (*response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.sendOnce(ctx, req)
		var ce *CallError
		if !errors.As(err, &ce) || !retryable(ce.Status) || attempt >= c.retries || ce.RetryAfter > c.maxWait {
			return resp, err
		}
		wait := ce.RetryAfter
		if wait <= 0 {
			wait = time.Duration(attempt+1) * time.Second
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// sendOnce makes one HTTP exchange.
func (c *Client) sendOnce(ctx context.Context, req request) (*response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := c.base + "/" + req.endpoint
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.method == http.MethodPost {
		b := req.body
		if b == nil {
			b = []byte("{}")
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("share: %s: %w", req.endpoint, err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.userAgent)
	res, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("share: %s: %w", req.endpoint, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("share: %s: reading the answer: %w", req.endpoint, err)
	}
	if res.StatusCode/100 == 2 {
		return &response{header: res.Header, body: raw}, nil
	}
	return nil, newCallError(req.endpoint, res, raw)
}

// newCallError decodes an error answer.
func newCallError(endpoint string, res *http.Response, raw []byte) *CallError {
	ce := &CallError{Endpoint: endpoint, Status: res.StatusCode, RetryAfter: parseRetryAfter(res.Header.Get("Retry-After"))}
	var body struct {
		Code, Message, SubCode, TypeName json.RawMessage
	}
	raw = bytes.TrimSpace(raw)
	if json.Unmarshal(raw, &body) == nil && len(body.Code) > 0 {
		ce.Err = &Error{
			Code:     Code(jsonText(body.Code)),
			Message:  jsonText(body.Message),
			SubCode:  jsonText(body.SubCode),
			TypeName: jsonText(body.TypeName),
		}
		return ce
	}
	if len(raw) > 200 {
		raw = raw[:200]
	}
	ce.Body = strings.ToValidUTF8(string(raw), "?")
	return ce
}

// jsonText returns a JSON string's value, or any other JSON value's text:
// servers other than glucoshare may put an object in SubCode.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// Decoding of success bodies (docs/protocol.md, "Success responses").

func decodeJSON(endpoint string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("share: %s: decoding the answer: %w", endpoint, err)
	}
	return nil
}

// decodeID reads an id answer and rejects the zero id and anything that is
// not an id. A bare unquoted id (format=text, docs/protocol.md, "Login answer formats") is accepted too.
func decodeID(endpoint string, body []byte) (string, error) {
	s := string(bytes.TrimSpace(body))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal([]byte(s), &s); err != nil {
			return "", fmt.Errorf("%w: %s answered %.60q", ErrInvalidID, endpoint, body)
		}
	}
	id, ok := ParseID(s)
	if !ok || id == ZeroID {
		return "", fmt.Errorf("%w: %s answered %.60q", ErrInvalidID, endpoint, body)
	}
	return id, nil
}

func decodeString(endpoint string, body []byte) (string, error) {
	var s string
	return s, decodeJSON(endpoint, body, &s)
}

func decodeBool(endpoint string, body []byte) (bool, error) {
	var b bool
	return b, decodeJSON(endpoint, body, &b)
}

func decodeInt(endpoint string, body []byte) (int, error) {
	var n int
	return n, decodeJSON(endpoint, body, &n)
}

// mustJSON encodes request bodies built from plain data, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("share: encoding a request body: " + err.Error())
	}
	return b
}

// Helpers for the common shapes of session calls.

func (c *Client) callVoid(ctx context.Context, req request) error {
	_, err := c.call(ctx, req)
	return err
}

func (c *Client) callID(ctx context.Context, req request) (string, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return "", err
	}
	return decodeID(req.endpoint, resp.body)
}

func (c *Client) callString(ctx context.Context, req request) (string, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return "", err
	}
	return decodeString(req.endpoint, resp.body)
}

func (c *Client) callBool(ctx context.Context, req request) (bool, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return false, err
	}
	return decodeBool(req.endpoint, resp.body)
}

func (c *Client) callJSON(ctx context.Context, req request, v any) error {
	resp, err := c.call(ctx, req)
	if err != nil {
		return err
	}
	return decodeJSON(req.endpoint, resp.body, v)
}

// q builds a query from name, value pairs.
func q(pairs ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return v
}
