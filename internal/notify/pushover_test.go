package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePushover is Pushover's API as its documentation describes it:
//
//   - https://pushover.net/api: "POST an HTTPS request to
//     https://api.pushover.net/1/messages.json" with form fields token
//     (the application's, 30 characters), user (the user or group key, 30
//     characters) and message (up to 1024 characters), and optionally
//     attachment, device, html, priority (-2 to 2), sound, timestamp (Unix
//     time), title (up to 250), ttl, url (up to 512) and url_title (up to
//     100). Emergency priority 2 requires retry (at least 30 seconds) and
//     expire (at most 10800 seconds), and takes callback, a URL Pushover
//     calls when the message is acknowledged. The answer is JSON with
//     status 1 and a request id; for priority 2 also a receipt. Bad input
//     is answered 4xx with status 0 and errors.
//   - https://pushover.net/api/receipts: on acknowledgement Pushover POSTs
//     to the callback URL the fields receipt, acknowledged (1),
//     acknowledged_at (Unix time), acknowledged_by (the user key) and
//     acknowledged_by_device; repeats are cancelled with a POST to
//     /1/receipts/(receipt)/cancel.json with the application's token.
type fakePushover struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	messages  []url.Values
	receipts  map[string]url.Values // receipt → its message
	cancelled []string
}

var (
	pushoverKey     = regexp.MustCompile(`^[A-Za-z0-9]{30}$`)
	pushoverFields  = []string{"token", "user", "message", "attachment", "device", "html", "priority", "sound", "timestamp", "title", "ttl", "url", "url_title", "retry", "expire", "callback", "tags"}
	pushoverReceipt = regexp.MustCompile(`^/1/receipts/([A-Za-z0-9]+)/cancel\.json$`)
)

func newFakePushover(t *testing.T) *fakePushover {
	f := &fakePushover{t: t, receipts: map[string]url.Values{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePushover) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	reject := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.t.Errorf("pushover: %s", msg)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":0,"errors":[%q],"request":"5042853c-402d-4a18-abcb-168734a801de"}`, msg)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		reject("%s with %q", r.Method, r.Header.Get("Content-Type"))
		return
	}
	if err := r.ParseForm(); err != nil {
		reject("form: %v", err)
		return
	}
	if r.PostForm.Get("token") != pushoverToken {
		reject("application token invalid")
		return
	}
	if m := pushoverReceipt.FindStringSubmatch(r.URL.Path); m != nil {
		f.mu.Lock()
		_, known := f.receipts[m[1]]
		f.cancelled = append(f.cancelled, m[1])
		f.mu.Unlock()
		if !known {
			reject("receipt not found")
			return
		}
		fmt.Fprint(w, `{"status":1,"request":"e460545a-8e3d-4f2b-8a9a-0ffd3a23ca58"}`)
		return
	}
	if r.URL.Path != "/1/messages.json" {
		http.NotFound(w, r)
		return
	}
	if problem := checkPushoverMessage(r.PostForm); problem != "" {
		reject("%s", problem)
		return
	}
	f.mu.Lock()
	f.messages = append(f.messages, r.PostForm)
	receipt := ""
	if r.PostForm.Get("priority") == "2" {
		receipt = fmt.Sprintf("r%029d", len(f.messages))
		f.receipts[receipt] = r.PostForm
	}
	f.mu.Unlock()
	if receipt != "" {
		fmt.Fprintf(w, `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b","receipt":%q}`, receipt)
		return
	}
	fmt.Fprint(w, `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}`)
}

func checkPushoverMessage(form url.Values) string {
	for k := range form {
		if !slices.Contains(pushoverFields, k) {
			return "unknown parameter " + k
		}
	}
	limit := map[string]int{"message": 1024, "title": 250, "url": 512, "url_title": 100}
	for k, n := range limit {
		if len([]rune(form.Get(k))) > n {
			return k + " too long"
		}
	}
	prio, err := strconv.Atoi(form.Get("priority"))
	switch {
	case !pushoverKey.MatchString(form.Get("user")):
		return "user identifier is not a valid user, group, or subscribed user key"
	case form.Get("message") == "":
		return "message cannot be blank"
	case form.Has("priority") && (err != nil || prio < -2 || prio > 2):
		return "priority is invalid"
	case form.Has("timestamp") && !isInt(form.Get("timestamp")):
		return "timestamp is invalid"
	}
	if prio != 2 {
		return ""
	}
	retry, err1 := strconv.Atoi(form.Get("retry"))
	expire, err2 := strconv.Atoi(form.Get("expire"))
	switch {
	case err1 != nil || retry < 30:
		return "retry is required for emergency priority and must be at least 30 seconds"
	case err2 != nil || expire > 10800 || expire < 1:
		return "expire is required for emergency priority and must be at most 10800 seconds"
	case form.Has("callback") && !strings.HasPrefix(form.Get("callback"), "http"):
		return "callback is not a URL"
	}
	return ""
}

func isInt(s string) bool { _, err := strconv.ParseInt(s, 10, 64); return err == nil }

func (f *fakePushover) sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.messages...)
}

func (f *fakePushover) cancels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cancelled...)
}

// receiptOf returns the receipt of the emergency message with the title,
// other than the one given.
func (f *fakePushover) receiptOf(title, not string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for r, m := range f.receipts {
		if m.Get("title") == title && r != not {
			return r
		}
	}
	f.t.Fatalf("no emergency message %q", title)
	return ""
}

// acknowledge is the follower pressing Acknowledge in the Pushover app:
// Pushover calls the message's callback URL.
func (f *fakePushover) acknowledge(receipt string, at time.Time) int {
	f.t.Helper()
	f.mu.Lock()
	msg := f.receipts[receipt]
	f.mu.Unlock()
	form := url.Values{"receipt": {receipt}, "acknowledged": {"1"}, "acknowledged_at": {strconv.FormatInt(at.Unix(), 10)},
		"acknowledged_by": {msg.Get("user")}, "acknowledged_by_device": {"kims-iphone"}}
	res, err := http.PostForm(msg.Get("callback"), form)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// An urgent low goes to Pushover at emergency priority with retry, expire
// and a callback; the other alarms at 1 and their clearing at -1.
// Acknowledging in the Pushover app calls the callback: the alarm then
// reads Acknowledged through Subscriber/ListSubscriptionAlarms, no
// re-alarm follows within its interval, and when an alarm is acknowledged
// elsewhere its emergency repeats are cancelled.
func TestPushoverCallbackRoundTrip(t *testing.T) {
	fake := newFakePushover(t)
	w := newWorld(t, worldOptions{alerts: lowAlerts(), pushover: fake.srv.URL})
	const userKey = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
	if _, err := w.svc.AddPushover(context.Background(), w.kim, userKey, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.upload(50) // Low and urgent low
	w.deliver()
	msgs := fake.sent()
	if len(msgs) != 2 {
		t.Fatalf("sent %v", msgs)
	}
	byTitle := map[string]url.Values{}
	for _, m := range msgs {
		byTitle[m.Get("title")] = m
	}
	urgent, low := byTitle["Sam: urgent low"], byTitle["Sam: low"]
	if urgent.Get("priority") != "2" || urgent.Get("retry") != "60" || urgent.Get("expire") != "3600" ||
		!regexp.MustCompile(`^`+regexp.QuoteMeta(w.srv.URL)+`/notify/ack/[A-Za-z0-9_-]{43}$`).MatchString(urgent.Get("callback")) {
		t.Errorf("urgent low: %v", urgent)
	}
	if low.Get("priority") != "1" || low.Has("retry") || low.Has("callback") {
		t.Errorf("low: %v", low)
	}
	if urgent.Get("user") != userKey || urgent.Get("message") != "50 mg/dL ↓, just now." ||
		urgent.Get("timestamp") != strconv.FormatInt(t0.Unix(), 10) || urgent.Get("url") != w.srv.URL+"/" {
		t.Errorf("message %v", urgent)
	}

	// Acknowledged in the Pushover app.
	receipt := fake.receiptOf("Sam: urgent low", "")
	if code := fake.acknowledge(receipt, w.clock.Now()); code != http.StatusOK {
		t.Fatalf("callback answered %d", code)
	}
	if got := w.alarmStates(); !slices.Contains(got, "UrgentLow/Acknowledged") || !slices.Contains(got, "Low/Active") {
		t.Fatalf("ListSubscriptionAlarms after the callback: %v", got)
	}
	// The acknowledged event cancels the repeats, and sends nothing new.
	w.deliver()
	if c := fake.cancels(); len(c) != 1 || c[0] != receipt {
		t.Errorf("cancelled receipts %v, want the urgent low's", c)
	}
	if n := len(fake.sent()); n != 2 {
		t.Errorf("%d messages after the acknowledgement, want none new", n-2)
	}

	// Still low 20 minutes later: the Low alarm is acknowledged on the
	// dashboard; no re-alarm of either follows before its interval.
	w.clock.Advance(20 * time.Minute)
	w.upload(49)
	w.tick()
	w.deliver()
	if n := len(fake.sent()); n != 2 {
		t.Errorf("%d messages within the re-alarm interval, want none", n-2)
	}
	// After the interval both repeat: an acknowledgement silences an
	// alarm until its re-alarm interval has passed again (docs/protocol.md, "Alarm lifecycle"), and the urgent low rings as an emergency again.
	w.clock.Advance(10 * time.Minute)
	w.upload(49)
	w.tick()
	w.deliver()
	got := fake.sent()[2:]
	if len(got) != 2 {
		t.Fatalf("after 30 minutes: %v, want both repeats", got)
	}
	again := fake.receiptOf("Sam: urgent low", receipt)

	// Cleared: priority -1, and the repeats of the urgent low's new
	// message are cancelled (the first one's were already).
	w.clock.Advance(5 * time.Minute)
	w.upload(100)
	w.deliver()
	got = fake.sent()[4:]
	if len(got) != 2 || got[0].Get("priority") != "-1" || got[1].Get("priority") != "-1" {
		t.Errorf("cleared: %v", got)
	}
	if c := fake.cancels(); !slices.Equal(c, []string{receipt, again}) {
		t.Errorf("cancelled %v, want %v", c, []string{receipt, again})
	}
	// A used callback does nothing more.
	if code := fake.acknowledge(receipt, w.clock.Now()); code != http.StatusGone {
		t.Errorf("a replayed callback: %d, want 410", code)
	}
}

// Without the operator's Pushover application, a follower cannot add a
// key, and a key must look like one.
func TestPushoverNeedsTheOperatorsApplication(t *testing.T) {
	w := newWorld(t, worldOptions{})
	if _, err := w.svc.AddPushover(context.Background(), w.kim, "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", t0); err == nil ||
		!strings.Contains(err.Error(), "--pushover-token") {
		t.Errorf("AddPushover without an application: %v", err)
	}
	fake := newFakePushover(t)
	w = newWorld(t, worldOptions{pushover: fake.srv.URL})
	for _, bad := range []string{"", "short", "uQiRzpo4DXghDmr9QzzfQu27cmVRs!", strings.Repeat("a", 31)} {
		if _, err := w.svc.AddPushover(context.Background(), w.kim, bad, t0); err == nil {
			t.Errorf("user key %q accepted", bad)
		}
	}
}

// Without a public URL Pushover cannot call back: an urgent low goes out
// as an emergency without callback, and acknowledging it on the dashboard
// (or any app) still stops its repeats.
func TestPushoverWithoutPublicURL(t *testing.T) {
	fake := newFakePushover(t)
	w := newWorld(t, worldOptions{pushover: fake.srv.URL, noPublic: true})
	if _, err := w.svc.AddPushover(context.Background(), w.kim, "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.upload(50)
	w.deliver()
	sent := fake.sent()
	if len(sent) != 1 || sent[0].Get("priority") != "2" || sent[0].Has("callback") || sent[0].Has("url") {
		t.Fatalf("sent %v", sent)
	}
	as, err := w.svc.Alarms(context.Background(), w.kim, "", 60, w.clock.Now())
	w.must(err)
	w.must(w.svc.AcknowledgeAlarm(context.Background(), w.kim, as[0].ID, w.clock.Now()))
	w.deliver()
	if c := fake.cancels(); len(c) != 1 || c[0] != fake.receiptOf("Sam: urgent low", "") {
		t.Errorf("cancelled %v", c)
	}
}
