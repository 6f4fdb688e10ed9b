package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// fakeNtfy is an ntfy server that accepts only what its documentation
// describes for publishing as JSON (https://docs.ntfy.sh/publish/):
//
//   - "To publish as JSON, you must PUT/POST to the ntfy root URL, not to
//     the topic URL" (#publish-as-json); `topic` is the only required
//     field, topic names are [-_A-Za-z0-9]{1,64} (#picking-a-topic);
//   - the fields: topic, message, title, tags (string array), priority
//     (int, one of 1–5), actions (JSON array), click (URL), attach,
//     markdown, icon, filename, delay, email, call;
//   - up to three action buttons (#action-buttons), each with action
//     (view, broadcast or http), label and, for view and http, url; the
//     http action also method (GET/POST/PUT/DELETE, default POST),
//     headers (map), body and clear (bool) (#send-http-request);
//   - access tokens as "Authorization: Bearer <token>" (#access-tokens).
type fakeNtfy struct {
	t     *testing.T
	srv   *httptest.Server
	token string // the access token the topic needs; "" = none

	mu   sync.Mutex
	msgs []ntfyPublished
}

// ntfyPublished is a JSON publish body with every documented field.
type ntfyPublished struct {
	Topic    string            `json:"topic"`
	Message  string            `json:"message"`
	Title    string            `json:"title"`
	Tags     []string          `json:"tags"`
	Priority int               `json:"priority"`
	Actions  []ntfyPublishedAc `json:"actions"`
	Click    string            `json:"click"`
	Attach   string            `json:"attach"`
	Markdown bool              `json:"markdown"`
	Icon     string            `json:"icon"`
	Filename string            `json:"filename"`
	Delay    string            `json:"delay"`
	Email    string            `json:"email"`
	Call     string            `json:"call"`
}

type ntfyPublishedAc struct {
	Action  string            `json:"action"`
	Label   string            `json:"label"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Clear   bool              `json:"clear"`
}

var topicName = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

func newFakeNtfy(t *testing.T, token string) *fakeNtfy {
	f := &fakeNtfy{t: t, token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNtfy) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, format string, args ...any) {
		f.t.Errorf("ntfy: "+format, args...)
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		fail(http.StatusMethodNotAllowed, "method %s", r.Method)
		return
	}
	if r.URL.Path != "/" {
		fail(http.StatusBadRequest, "JSON published to %s: must go to the root URL", r.URL.Path)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"code":40301,"http":403,"error":"forbidden"}`, http.StatusForbidden)
		f.t.Errorf("ntfy: Authorization %q, want the Bearer token", r.Header.Get("Authorization"))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m ntfyPublished
	if err := dec.Decode(&m); err != nil {
		fail(http.StatusBadRequest, "body %s: %v", body, err)
		return
	}
	if problem := m.check(); problem != "" {
		fail(http.StatusBadRequest, "%s in %s", problem, body)
		return
	}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"sPs71M8A2T","time":%d,"event":"message","topic":%q,"message":%q}`, time.Now().Unix(), m.Topic, m.Message)
}

func (m *ntfyPublished) check() string {
	switch {
	case !topicName.MatchString(m.Topic):
		return fmt.Sprintf("topic %q", m.Topic)
	case m.Priority < 1 || m.Priority > 5:
		return fmt.Sprintf("priority %d not one of 1–5", m.Priority)
	case len(m.Actions) > 3:
		return "more than three actions"
	}
	for _, a := range m.Actions {
		switch {
		case a.Action != "view" && a.Action != "broadcast" && a.Action != "http":
			return fmt.Sprintf("action %q", a.Action)
		case a.Label == "":
			return "an action without label"
		case a.Action != "broadcast" && !strings.HasPrefix(a.URL, "http"):
			return fmt.Sprintf("action url %q", a.URL)
		case a.Method != "" && !slices.Contains([]string{"GET", "POST", "PUT", "DELETE"}, a.Method):
			return fmt.Sprintf("action method %q", a.Method)
		}
	}
	return ""
}

func (f *fakeNtfy) published() []ntfyPublished {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ntfyPublished(nil), f.msgs...)
}

// tap presses an http action button as ntfy's app does: its method (POST
// by default), its headers and body.
func (f *fakeNtfy) tap(a ntfyPublishedAc) int {
	f.t.Helper()
	method := a.Method
	if method == "" {
		method = http.MethodPost
	}
	req, _ := http.NewRequest(method, a.URL, strings.NewReader(a.Body))
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "ntfy/1.21.1 (Android)")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// ntfy gets urgent low and NoData at priority 5, high and low at 4,
// cleared at 2, each with a title, tags and a click URL; an alarm that
// rings carries an http action "Acknowledge" whose one-time link
// acknowledges it in glucoshare, as the fake app's tap shows.
func TestNtfyFollowsItsPublishingAPI(t *testing.T) {
	alerts := lowAlerts()
	alerts.NoData = &core.AlertInput{IsEnabled: ptr(true), AlarmDelay: ptr("PT20M"), RealarmDelay: ptr("PT0M")}
	w := newWorld(t, worldOptions{alerts: alerts})
	const token = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
	fake := newFakeNtfy(t, token)
	if _, err := w.svc.AddNtfy(context.Background(), w.kim, fake.srv.URL+"/glucoshare-kim_x7Qp", token, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var stored string
	w.db.SQL().QueryRow(`SELECT token_sealed FROM channels WHERE kind = 'ntfy'`).Scan(&stored)
	if stored == "" || strings.Contains(stored, token) {
		t.Errorf("the access token is stored as %q: want it sealed", stored)
	}

	w.upload(50) // Low and urgent low
	w.deliver()
	got := fake.published()
	if len(got) != 2 {
		t.Fatalf("published %+v", got)
	}
	byTitle := map[string]ntfyPublished{}
	for _, m := range got {
		byTitle[m.Title] = m
	}
	urgent, low := byTitle["Sam: urgent low"], byTitle["Sam: low"]
	if urgent.Priority != 5 || low.Priority != 4 {
		t.Errorf("priorities: urgent low %d, low %d; want 5 and 4", urgent.Priority, low.Priority)
	}
	for _, m := range []ntfyPublished{urgent, low} {
		if m.Topic != "glucoshare-kim_x7Qp" || m.Message != "50 mg/dL ↓, just now." || m.Click != w.srv.URL+"/" ||
			len(m.Tags) != 2 || len(m.Actions) != 1 {
			t.Errorf("message %+v", m)
			continue
		}
		a := m.Actions[0]
		if a.Action != "http" || a.Label != "Acknowledge" || a.Method != "POST" || !a.Clear ||
			!regexp.MustCompile(`^`+regexp.QuoteMeta(w.srv.URL)+`/notify/ack/[A-Za-z0-9_-]{43}$`).MatchString(a.URL) {
			t.Errorf("action %+v", a)
		}
	}
	if urgent.Tags[0] != "rotating_light" || urgent.Tags[1] != "UrgentLow" {
		t.Errorf("urgent low tags %v", urgent.Tags)
	}

	// The follower taps Acknowledge on the urgent low.
	if code := fake.tap(urgent.Actions[0]); code != http.StatusOK {
		t.Fatalf("tapping Acknowledge: %d", code)
	}
	if got := w.alarmStates(); !slices.Contains(got, "UrgentLow/Acknowledged") || !slices.Contains(got, "Low/Active") {
		t.Errorf("after the tap: %v", got)
	}
	if code := fake.tap(urgent.Actions[0]); code != http.StatusGone {
		t.Errorf("a second tap: %d, want 410", code)
	}
	if n := w.deliver(); n != 0 {
		t.Errorf("%d deliveries after an acknowledgement: ntfy cannot take a message back, nothing is sent", n)
	}

	// Back in range: both clear, at priority 2, without action.
	w.clock.Advance(5 * time.Minute)
	w.upload(95)
	w.deliver()
	got = fake.published()[2:]
	if len(got) != 2 || got[0].Priority != 2 || got[1].Priority != 2 || len(got[0].Actions) != 0 ||
		!strings.HasSuffix(got[0].Title, " is over") || got[0].Tags[0] != "white_check_mark" {
		t.Errorf("cleared: %+v", got)
	}

	// No reading for 25 minutes: NoData at priority 5.
	w.clock.Advance(25 * time.Minute)
	w.tick()
	w.deliver()
	got = fake.published()[4:]
	if len(got) != 1 || got[0].Priority != 5 || got[0].Title != "Sam: no data" ||
		got[0].Message != "No reading for 25 min. Last: 95 mg/dL ↓." || len(got[0].Actions) != 1 {
		t.Errorf("NoData: %+v", got)
	}
}

// Without the operator's secret key an access token cannot be kept
// sealed: it is refused, saying why, and a topic without one still works.
func TestNtfyTokenNeedsTheSecretKey(t *testing.T) {
	w := newWorld(t, worldOptions{noKey: true})
	fake := newFakeNtfy(t, "")
	_, err := w.svc.AddNtfy(context.Background(), w.kim, fake.srv.URL+"/mytopic", "tk_secret", w.clock.Now())
	if err == nil || !strings.Contains(err.Error(), "no secret key") || !strings.Contains(err.Error(), "--secret-key") {
		t.Fatalf("a token without a secret key: %v", err)
	}
	for _, bad := range []string{fake.srv.URL + "/", fake.srv.URL + "/a/b c", "ftp://ntfy.sh/x", fake.srv.URL + "/topic?x=1",
		"https://user:pw@ntfy.sh/x", fake.srv.URL + "/" + strings.Repeat("t", 65)} {
		if _, err := w.svc.AddNtfy(context.Background(), w.kim, bad, "", w.clock.Now()); err == nil {
			t.Errorf("topic URL %q accepted", bad)
		}
	}
	if _, err := w.svc.AddNtfy(context.Background(), w.kim, fake.srv.URL+"/mytopic", "", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.upload(50)
	w.deliver()
	if got := fake.published(); len(got) != 1 || got[0].Priority != 5 {
		t.Errorf("published %+v", got)
	}
}

// An ntfy server on the operator's network is refused unless the operator
// allows private addresses.
func TestNtfyRefusesPrivateAddresses(t *testing.T) {
	svc := core.New(storetest.New(t), core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	acct, err := svc.CreateAccount(context.Background(), core.NewAccount{Name: "kim", Password: password}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:8080/topic", "http://192.168.1.2/topic", "http://[::1]/topic"} {
		if _, err := svc.AddNtfy(context.Background(), acct.ID, u, "", t0); err == nil || !strings.Contains(err.Error(), "public address") {
			t.Errorf("AddNtfy(%s): %v", u, err)
		}
	}
	if _, err := svc.AddPushDevice(context.Background(), acct.ID, core.PushDevice{Endpoint: "https://10.1.2.3/push/x"}, t0); err == nil {
		t.Error("a push endpoint on a private address was accepted")
	}
}
