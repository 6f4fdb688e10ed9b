package shareapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// t0 is the fake clock's start: 2025-04-19T16:43:33.817Z.
var t0 = time.UnixMilli(1745081013817).UTC()

// cheapArgon keeps password hashing fast in tests; production uses
// core.DefaultArgon2.
var cheapArgon = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// env is a handler-test fixture: the real router over a fresh store on the
// engine under test, with a fake clock.
type env struct {
	t     testing.TB
	clock *clocktest.Clock
	svc   *core.Service
	store glucose.Store
	h     http.Handler
	logs  *bytes.Buffer
}

func newEnv(t testing.TB, mod ...func(*core.Config)) *env {
	t.Helper()
	db := storetest.New(t)
	cfg := core.Config{Argon2: cheapArgon}
	for _, m := range mod {
		m(&cfg)
	}
	clock := clocktest.New(t0)
	svc := core.New(db, cfg)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv := server.New(svc, server.Options{Clock: clock, Logger: log})
	return &env{t: t, clock: clock, svc: svc, store: db, h: srv.Handler(), logs: logs}
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request through the router.
func (e *env) do(method, target string, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// post sends a POST with a JSON content type, as most clients do.
func (e *env) post(path, body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/ShareWebServices/Services/"+path, body, "Content-Type", "application/json")
}

// account creates an account with password "correct horse" and returns its id.
func (e *env) account(name string) string {
	e.t.Helper()
	a, err := e.svc.CreateAccount(context.Background(), core.NewAccount{Name: name, Password: "correct horse", DisplayName: "Sam"}, e.clock.Now())
	if err != nil {
		e.t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a.ID
}

// login logs in by name and returns the session id.
func (e *env) login(name string) string {
	e.t.Helper()
	r := e.post("General/LoginPublisherAccountByName", `{"accountName":"`+name+`","password":"correct horse","applicationId":"d89443d2-327c-4a6f-89e5-496bbb0317db"}`)
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var id string
	if err := json.Unmarshal([]byte(r.body), &id); err != nil {
		e.t.Fatalf("login body %q: %v", r.body, err)
	}
	return id
}

// publisher creates an account, logs in, and starts monitoring serial.
func (e *env) publisher(name, serial string) string {
	e.t.Helper()
	e.account(name)
	sid := e.login(name)
	e.ok(e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sid+"&serialNumber="+serial, ""))
	return sid
}

// ok fails the test unless r is a 200.
func (e *env) ok(r response) response {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	return r
}

// wireError is the protocol's error body.
type wireError struct {
	Code, Message, SubCode, TypeName string
}

// wantError checks that r is the protocol error code with status.
func (e *env) wantError(r response, status int, code string) wireError {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d (%s); body %s", r.status, status, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatalf("error body %q: %v", r.body, err)
	}
	if len(m) != 4 {
		e.t.Errorf("error body has %d members, want 4: %s", len(m), r.body)
	}
	for k, v := range m {
		if _, isString := v.(string); !isString {
			e.t.Errorf("error member %s is %T, want string", k, v)
		}
	}
	var we wireError
	json.Unmarshal([]byte(r.body), &we)
	if we.Code != code {
		e.t.Fatalf("Code %q, want %q; body %s", we.Code, code, r.body)
	}
	if we.TypeName != "FaultException" {
		e.t.Errorf("TypeName %q, want FaultException", we.TypeName)
	}
	if we.SubCode == "" {
		e.t.Errorf("SubCode is empty; want the request id")
	}
	return we
}

// readings reads the publisher's latest readings as decoded JSON objects.
func (e *env) readings(sid string, minutes, maxCount int) []map[string]any {
	e.t.Helper()
	r := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+"&minutes="+itoa(minutes)+"&maxCount="+itoa(maxCount), ""))
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		e.t.Fatalf("readings body %q: %v", r.body, err)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
