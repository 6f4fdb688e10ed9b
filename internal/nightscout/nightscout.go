// Package nightscout serves the Nightscout REST API over glucoshare's
// accounts, so that the Nightscout ecosystem's uploaders and followers
// (xDrip+, Loop, AndroidAPS, LoopFollow, Nightguard, watch faces, Home
// Assistant…) work against glucoshare unchanged. The contract is
// cgm-remote-monitor 15's (lib/api/, lib/api3/, lib/authorization/,
// lib/server/); each handler cites the file it follows.
//
// # Accounts, addresses and credentials
//
// A Nightscout site is one person's; one glucoshare serves many accounts.
// A request names its account by its credential at the root paths
// (/api/v1/…, /pebble), since some apps keep only scheme, host and port
// of the address; or by the account's public handle at /ns/{handle}/…
// (a per-account base URL), where the owner may also allow reading
// without a credential. The credentials, as Nightscout takes them
// (lib/authorization/index.js):
//
//   - the account's API secret, as `api-secret: <SHA-1 hex>` (or the
//     secret itself, or ?secret=): Nightscout's admin role;
//   - an access token as ?token=, as `Authorization: Bearer` (the token,
//     or a JWT issued for it), or as `api-secret: <SHA-1 of the token>`
//     (what the xDrip+ follower and Home Assistant send): the token's
//     role, admin for a read-write token, readable for a read-only or a
//     follower's token.
//
// core/nightscout.go maps roles onto glucoshare's credentials and keeps
// them; auth.go resolves them per request and throttles failures per
// client address as Nightscout's delay list does (throttle.go).
//
// # Documents and the query translator
//
// Every collection other than sgv entries — treatments, devicestatus,
// profile, food, activity, settings, and entries of other types (mbg,
// cal) — is kept in one schemaless document store (glucose.DocumentTx,
// internal/store/documents.go). sgv entries are glucoshare's readings,
// the rows the Share API serves, shown as entries; an entries query
// searches both and merges them by date (core.Service.FindEntries). One
// translator turns API v1's find[…] and API v3's filters into a
// glucose.DocQuery (query.go), which the store compiles to SQL on SQLite
// and PostgreSQL alike, with MongoDB's typed comparisons.
//
// # Adding a route (API v2 and v3)
//
// Every route is in the table in routes(), mounted for the root and for
// /ns/{handle} at once. To add one:
//
//  1. Write a handlerFunc, func(*call) error, in a file of its own
//     (v3.go, v2.go). c.acc is the caller's access on c.acc.AccountID,
//     c.now the request's time, read once. Return errors rather than
//     writing them: a.fail maps them (ErrNightscoutDenied → 401,
//     *queryError → 400, core.ErrStorageFull → 507, …). API v3's
//     handlers are wrapped by a.v3 instead (v3.go), which takes the JWT
//     and writes errors in API v3's body with a.v3Fail, and are mounted
//     by v3Routes.
//  2. Register it in routes() with the Nightscout permission it needs,
//     a.handle("api:treatments:read", fn), as lib/api3 demands them
//     (api:<collection>:read|create|update|delete). a.handle resolves the
//     credential, applies the throttle and the site, and answers 401
//     itself; a.open(fn) gives the handler the resolved (possibly nil)
//     access for endpoints that answer anonymous callers too.
//  3. Read and write through core: FindDocuments, CountDocuments,
//     WriteDocuments (with Match rules: identifier, then _id, then the
//     API's dedup fields), DeleteDocuments (soft: history keeps it),
//     FindEntries and ImportReadings for entries. Parse filters with
//     parseV3Query (v3) or parseV1Query (v1); both give a DocQuery.
//     Document bodies are nsdoc objects: decode uploads with nsdoc.Parse,
//     which enforces the limits storage needs.
//  4. Shape the answer: a stored body has no _id and no server fields;
//     v1Document adds _id, a v3 rendering adds identifier, srvCreated,
//     srvModified and isValid. Entries come from core.Entry (readings
//     through entryOf).
//  5. Test it through the real router (nightscout_test.go's env), and
//     extend the authorization matrix (authz_test.go) with its rows.
//
// # The storage socket
//
// socket.go serves lib/api3/storageSocket.js's /storage namespace over
// internal/sio (Engine.IO v4 long-polling): a subscriber is sent, as
// create, update and delete events, what API v3's history reports after
// its subscription, read again whenever core announces that the
// account's readings or documents changed (internal/events).
//
// For API v3's history, documents carry SrvModified (and readings their
// received time, as srvModified): glucose.FieldSrvModified in a
// DocQuery, with IncludeDeleted to report soft deletions.
package nightscout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
	"github.com/glucoshare/glucoshare/internal/sio"
)

// API is the http.Handler for the Nightscout paths: /api/…, /pebble and
// /ns/{handle}/….
type API struct {
	svc      *core.Service
	clock    glucose.Clock
	log      *slog.Logger
	addrs    *clientaddr.Resolver
	throttle *delayList
	mux      *http.ServeMux
	// gets maps the paths of GET routes without wildcards to the handler
	// the mux gives GET and HEAD requests for them (routes).
	gets    map[string]http.Handler
	sockets *sio.Server // the storage socket (socket.go)
	subs    *socketHub
}

// Options configures an API.
type Options struct {
	Clock  glucose.Clock // default glucose.SystemClock
	Logger *slog.Logger  // default slog.Default()
	// ClientAddr tells which address a request came from (for the
	// throttling of failed credentials); nil trusts a proxy on loopback.
	ClientAddr *clientaddr.Resolver
	// Sleep waits out a throttling delay; nil sleeps on the real clock.
	// Tests with a fake clock advance it instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns the Nightscout API over svc.
func New(svc *core.Service, opts Options) *API {
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	a := &API{svc: svc, clock: opts.Clock, log: opts.Logger, addrs: opts.ClientAddr,
		throttle: newDelayList(opts.Clock, opts.Sleep), mux: http.NewServeMux()}
	a.routes()
	return a
}

// variants returns a path with Nightscout's optional ".json" extension and
// trailing slash (Express answers all three).
func variants(path string) []string {
	return []string{path, path + ".json", path + "/{$}"}
}

// routes is the one route table. GET patterns also answer HEAD.
func (a *API) routes() {
	type route struct {
		method, path, permission string
		fn                       handlerFunc
	}
	var table []route
	add := func(method, path, permission string, fn handlerFunc) {
		for _, p := range variants(path) {
			table = append(table, route{method, p, permission, fn})
		}
	}
	// lib/api/entries/index.js
	add("GET", "/api/v1/entries", "api:entries:read", a.listEntries)
	add("POST", "/api/v1/entries", "api:entries:create", a.postEntries)
	add("DELETE", "/api/v1/entries", "api:entries:delete", a.deleteEntries)
	table = append(table,
		route{"GET", "/api/v1/entries/{spec}", "api:entries:read", a.entriesSpec},
		route{"DELETE", "/api/v1/entries/{spec}", "api:entries:delete", a.deleteEntriesSpec})
	// lib/api/treatments/index.js
	add("GET", "/api/v1/treatments", "api:treatments:read", a.listTreatments)
	add("POST", "/api/v1/treatments", "api:treatments:create", a.postTreatments)
	add("PUT", "/api/v1/treatments", "api:treatments:update", a.putTreatments)
	add("DELETE", "/api/v1/treatments", "api:treatments:delete", a.deleteTreatments)
	table = append(table, route{"DELETE", "/api/v1/treatments/{id}", "api:treatments:delete", a.deleteTreatment})
	// lib/api/devicestatus/index.js
	add("GET", "/api/v1/devicestatus", "api:devicestatus:read", a.listDeviceStatus)
	add("POST", "/api/v1/devicestatus", "api:devicestatus:create", a.postDeviceStatus)
	add("DELETE", "/api/v1/devicestatus", "api:devicestatus:delete", a.deleteDeviceStatuses)
	table = append(table, route{"DELETE", "/api/v1/devicestatus/{id}", "api:devicestatus:delete", a.deleteDeviceStatus})
	// lib/api/profile/index.js
	add("GET", "/api/v1/profile", "api:profile:read", a.listProfiles)
	add("GET", "/api/v1/profile/current", "api:profile:read", a.currentProfile)
	add("GET", "/api/v1/profiles", "api:profile:read", a.queryProfiles)
	add("POST", "/api/v1/profile", "api:profile:create", a.postProfiles)
	add("PUT", "/api/v1/profile", "api:profile:update", a.putProfile)
	table = append(table, route{"DELETE", "/api/v1/profile/{id}", "api:profile:delete", a.deleteByID(glucose.CollectionProfile)})
	// lib/api/food/index.js
	add("GET", "/api/v1/food", "api:food:read", a.listFood)
	add("GET", "/api/v1/food/quickpicks", "api:food:read", a.listQuickpicks)
	add("GET", "/api/v1/food/regular", "api:food:read", a.listRegularFood)
	add("POST", "/api/v1/food", "api:food:create", a.postFood)
	add("PUT", "/api/v1/food", "api:food:update", a.putFood)
	table = append(table, route{"DELETE", "/api/v1/food/{id}", "api:food:delete", a.deleteByID(glucose.CollectionFood)})
	// lib/api/activity/index.js
	add("GET", "/api/v1/activity", "api:activity:read", a.listActivity)
	add("POST", "/api/v1/activity", "api:activity:create", a.postActivity)
	add("PUT", "/api/v1/activity", "api:activity:update", a.putActivity)
	table = append(table, route{"DELETE", "/api/v1/activity/{id}", "api:activity:delete", a.deleteByID(glucose.CollectionActivity)})
	// lib/api/experiments/index.js: Loop's setup calls it to test the
	// secret; only admin passes.
	add("GET", "/api/v1/experiments/test", "authorization:debug:test", a.experimentsTest)
	// lib/api/status.js, lib/api/verifyauth.js, lib/server/pebble.js
	add("GET", "/api/v1/status", "api:status:read", a.status)
	add("GET", "/api/v1/verifyauth", "", a.verifyAuth)
	add("GET", "/pebble", "api:entries:read", a.pebble)
	// lib/api2/properties.js: watch faces and Nightguard read the current
	// values here; it also needs api:treatments:read (checked inside).
	table = append(table,
		route{"GET", "/api/v2/properties", "api:entries:read", a.properties},
		route{"GET", "/api/v2/properties/{names...}", "api:entries:read", a.properties})

	// API v2 authorization and API v3 (v2.go, v3.go): v3 authenticates
	// and answers errors its own way, so its handlers are mounted as
	// they are.
	table = append(table,
		route{"GET", "/api/v2/authorization/request/{accessToken}", "", a.authorizationRequest},
		route{"GET", "/api/v2/authorization/subjects", "admin:api:subjects:read", a.listSubjects})
	a.v3Routes(func(method, path string, h http.Handler) {
		a.mux.Handle(strings.TrimSpace(method+" "+path), h)
	})

	a.gets = map[string]http.Handler{}
	for _, rt := range table {
		var h http.Handler
		switch {
		case rt.permission == "":
			h = a.open(rt.fn)
		default:
			h = a.handle(rt.permission, rt.fn)
		}
		a.mux.Handle(rt.method+" "+rt.path, h)
		if rt.method == "GET" && !strings.Contains(rt.path, "{") {
			a.gets[rt.path] = h
		}
	}
	// lib/api3/storageSocket.js, over Engine.IO's polling transport
	// (socket.go); sites at /ns/{handle} name themselves in the namespace.
	a.sockets = a.newSockets()
	a.mux.Handle("/socket.io/", a.sockets)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found", "")
	})
	// Only the paths that the mux itself routes to their GET pattern, for
	// GET and HEAD alike, are served without it (ServeHTTP).
	for path := range a.gets {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if _, pattern := a.mux.Handler(&http.Request{Method: method, URL: &url.URL{Path: path}}); pattern != "GET "+path {
				delete(a.gets, path)
			}
		}
	}
}

// Close ends the storage sockets' sessions, so that their long polls do
// not hold a graceful shutdown.
func (a *API) Close() { a.sockets.Close() }

// ServeHTTP routes a request under /api/, /pebble or /ns/{handle}/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ns/")
	if !ok {
		a.route(w, r)
		return
	}
	handle, path, _ := strings.Cut(rest, "/")
	site, anon, err := a.svc.NightscoutSiteAccess(r.Context(), handle)
	if err != nil {
		if errors.Is(err, glucose.ErrNotFound) {
			writeError(w, http.StatusNotFound, "Not found", "")
		} else {
			a.fail(w, r, err)
		}
		return
	}
	r2 := r.Clone(context.WithValue(r.Context(), siteKey{}, siteContext{site: site, anonymous: anon}))
	r2.URL.Path = "/" + path
	r2.URL.RawPath = ""
	a.route(w, r2)
}

// route serves r with the handler the mux would choose. The GET routes
// without wildcards, which clients poll (entries.json above all), are
// found in a.gets without the mux's matching, when the path is one the
// mux would not clean or redirect: given plainly, and equal to a route's
// (every route's path is clean).
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if h := a.gets[r.URL.Path]; h != nil && r.URL.RawPath == "" {
			h.ServeHTTP(w, r)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// siteKey marks a request that came through /ns/{handle}.
type siteKey struct{}

type siteContext struct {
	site      *glucose.NightscoutSite
	anonymous *core.NightscoutAccess // nil unless the site is open for reading
}

// call is one request, authorised or answered as an anonymous caller.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context
	// acc is the caller's access; nil only for handlers registered with
	// open, when no credential was accepted.
	acc *core.NightscoutAccess
	// site is the /ns/{handle} site, nil at the root paths.
	site *glucose.NightscoutSite
	// presented tells that a credential was presented (and accepted, or
	// acc would be nil).
	presented bool
	now       time.Time  // read once per request
	values    url.Values // the query, once parsed (call.query)
}

type handlerFunc func(*call) error

// errorBody is Nightscout's error shape: {"status":401,"message":"Unauthorized","description":"Invalid/Missing"}.
type errorBody struct {
	Status      int    `json:"status"`
	Message     string `json:"message"`
	Description string `json:"description,omitempty"`
}

// badRequest is a client error the handler describes.
type badRequest struct {
	status               int
	message, description string
}

func (e *badRequest) Error() string { return e.message }

func errBadRequest(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// fail is the one writer of error responses. Only unexpected errors are
// logged, and never with the request's query or headers, where credentials
// travel.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		br *badRequest
		qe *queryError
		ge *glucose.Error
	)
	switch {
	case errors.Is(err, core.ErrNightscoutDenied):
		writeError(w, http.StatusUnauthorized, "Unauthorized", "Invalid/Missing")
	case errors.As(err, &br):
		writeError(w, br.status, br.message, br.description)
	case errors.As(err, &qe):
		writeError(w, http.StatusBadRequest, "Bad request", qe.msg)
	case nsdoc.IsDecodeError(err):
		writeError(w, http.StatusBadRequest, "Bad request", err.Error())
	case errors.Is(err, core.ErrDocumentTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "Payload too large", "a document may be at most 1 MiB")
	case errors.Is(err, core.ErrStorageFull):
		writeError(w, http.StatusInsufficientStorage, "Insufficient storage",
			"this account's Nightscout data has reached its storage limit; the server's operator can raise it or set a retention")
	case errors.As(err, &ge) && ge.Code == "InvalidArgument":
		writeError(w, http.StatusBadRequest, "Bad request", ge.Message)
	case errors.Is(err, glucose.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "Service unavailable", "")
		a.log.Warn("nightscout: storage unavailable", "path", r.URL.Path, "err", err)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		writeError(w, http.StatusInternalServerError, "Internal error", "")
		a.log.Error("nightscout: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

func writeError(w http.ResponseWriter, status int, message, description string) {
	writeJSON(w, status, errorBody{Status: status, Message: message, Description: description})
}

// writeJSON writes v compactly with Nightscout's content type. Write
// errors mean the client went away and are not reported.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the package's own types are encoded; they always encode.
		panic(fmt.Sprintf("nightscout: encoding %T: %v", v, err))
	}
	writeBody(w, status, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// writeBody writes JSON that is already encoded.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	// As h.Set would set them (the names are canonical), with the three
	// values in one allocation; each slice's capacity is 1, so that an
	// Add to one of these headers copies it.
	v := make([]string, 3)
	v[0], v[1], v[2] = "application/json; charset=utf-8", strconv.Itoa(len(body)), "no-store"
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Content-Length"] = v[1:2:2]
	h["Cache-Control"] = v[2:3:3]
	w.WriteHeader(status)
	w.Write(body)
}
