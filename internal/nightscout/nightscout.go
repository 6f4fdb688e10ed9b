// Package nightscout serves a compatible subset of Nightscout's REST API
// v1, so that the Nightscout ecosystem can read from and write to
// glucoshare: followers and watch faces read /api/v1/entries and /pebble;
// uploaders (xDrip+, share2nightscout-bridge and the like) post
// /api/v1/entries into an account.
//
// The contract is cgm-remote-monitor's (Nightscout 14.x, lib/api/entries,
// lib/api/status.js, lib/api/verifyauth.js, lib/server/pebble.js), narrowed
// to glucose: entries of type "sgv". One glucoshare serves many accounts,
// whereas a Nightscout site is one person's, so every call names its
// account by its credential:
//
//   - `api-secret: <hex SHA-1 of the account's API secret>` (or `?secret=`),
//     as every Nightscout uploader sends it: full access to that account;
//   - an access token, as `?token=` or `Authorization: Bearer`: reads, and
//     writes unless the token is read-only.
//
// There is no anonymous access: a call without a valid credential answers
// 401, as a Nightscout site with AUTH_DEFAULT_ROLES=denied does. Directions
// map to and from Share trends through share.NightscoutDirection and
// share.TrendFromDirection (PROTOCOL.md §1.9).
package nightscout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// API is the http.Handler for the Nightscout paths: /api/v1/… and /pebble.
type API struct {
	svc   *core.Service
	clock glucose.Clock
	log   *slog.Logger
	addrs *clientaddr.Resolver
	mux   *http.ServeMux
}

// Options configures an API.
type Options struct {
	Clock  glucose.Clock // default glucose.SystemClock
	Logger *slog.Logger  // default slog.Default()
	// ClientAddr tells which address a request came from (for the
	// throttling of failed credentials); nil trusts a proxy on loopback.
	ClientAddr *clientaddr.Resolver
}

// New returns the Nightscout API over svc.
func New(svc *core.Service, opts Options) *API {
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{svc: svc, clock: opts.Clock, log: opts.Logger, addrs: opts.ClientAddr, mux: http.NewServeMux()}
	a.routes()
	return a
}

// routes is the one route table. GET patterns also answer HEAD.
func (a *API) routes() {
	for _, p := range []string{"/api/v1/entries", "/api/v1/entries.json"} {
		a.mux.Handle("GET "+p, a.reader(a.listEntries))
		a.mux.Handle("POST "+p, a.writer(a.postEntries))
	}
	a.mux.Handle("GET /api/v1/entries/{spec}", a.reader(a.entriesSpec))
	a.mux.HandleFunc("GET /api/v1/status.json", a.status)
	a.mux.HandleFunc("GET /api/v1/status", a.status)
	a.mux.HandleFunc("GET /api/v1/verifyauth", a.verifyAuth)
	a.mux.Handle("GET /pebble", a.reader(a.pebble))
	a.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found", "")
	})
}

// ServeHTTP routes a request under /api/v1/ or /pebble.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// call is one authorised request.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context
	acc *core.NightscoutAccess
	now time.Time // read once per request
}

type handlerFunc func(*call) error

// reader wraps a handler that needs read access to an account.
func (a *API) reader(fn handlerFunc) http.Handler { return a.authorised(fn, false) }

// writer wraps a handler that needs write access.
func (a *API) writer(fn handlerFunc) http.Handler { return a.authorised(fn, true) }

func (a *API) authorised(fn handlerFunc, write bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, ctx: r.Context(), now: a.clock.Now()}
		acc, err := a.access(r, c.now)
		if err == nil && write && !acc.Write {
			err = core.ErrNightscoutDenied
		}
		if err == nil {
			c.acc = acc
			err = fn(c)
		}
		if err != nil {
			a.fail(w, r, err)
		}
	})
}

// access resolves the request's credential: an access token (?token= or
// Authorization: Bearer) or the API secret (api-secret header or ?secret=).
// Each credential presented is tried; none valid → ErrNightscoutDenied.
func (a *API) access(r *http.Request, now time.Time) (*core.NightscoutAccess, error) {
	q := r.URL.Query()
	tokens := []string{q.Get("token")}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tokens = append(tokens, v)
	}
	for _, t := range tokens {
		if t == "" {
			continue
		}
		acc, err := a.svc.NightscoutTokenAccess(r.Context(), t, now)
		if !errors.Is(err, core.ErrNightscoutDenied) {
			return acc, err
		}
	}
	for _, s := range []string{r.Header.Get("api-secret"), q.Get("secret")} {
		if s == "" {
			continue
		}
		acc, err := a.svc.NightscoutSecretAccess(r.Context(), s)
		if !errors.Is(err, core.ErrNightscoutDenied) {
			return acc, err
		}
	}
	return nil, core.ErrNightscoutDenied
}

// errorBody is Nightscout's error shape: {"status":401,"message":"Unauthorized","description":"Invalid/Missing"}.
type errorBody struct {
	Status      int    `json:"status"`
	Message     string `json:"message"`
	Description string `json:"description,omitempty"`
}

// badRequest is a client error the handler describes.
type badRequest struct {
	status  int
	message string
}

func (e *badRequest) Error() string { return e.message }

func errBadRequest(format string, args ...any) error {
	return &badRequest{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// fail is the one writer of error responses. Only unexpected errors are
// logged, and never with the request's query or headers, where credentials
// travel.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	switch {
	case errors.Is(err, core.ErrNightscoutDenied):
		writeError(w, http.StatusUnauthorized, "Unauthorized", "Invalid/Missing")
	case errors.As(err, &br):
		writeError(w, br.status, br.message, "")
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
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
