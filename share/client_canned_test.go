package share_test

// Tests of the Client against an httptest.Server that answers with
// docs/protocol.md's example responses (ids written out where the examples elide
// them). They cover the endpoints the in-process server does not serve yet
// (docs/protocol.md, "General" subscription calls, docs/protocol.md, "Publisher: contacts and followers" contacts and followers, docs/protocol.md, "Subscriber" subscriber
// calls and alarms) and check exactly what the client sends.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// Ids of the docs/protocol.md examples, written out in full.
const (
	exAccount      = "b0b4a1c6-0d2e-4f6b-9c1a-5d2e7f3a9b10"
	exSession      = "3c348745-d2b3-4e3e-a8fe-306c0c18eae6"
	exContact      = "7d1e5f0a-3b8c-4e2d-9f61-0a2b3c4d5e6f"
	exSubscription = "9a4f2c1e-6d7b-4e0a-8c3f-5b1d2e7a9c60"
	exInvitation   = "e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d"
	exSubscriber   = "c2d8a7e4-5b3f-4c1d-8e9a-0f6b2d4c8a17"
	exAlarm        = "41c7e2d9-8a3b-4f5c-9d6e-1b2a3c4d5e6f"
)

// The example bodies of docs/protocol.md, "Endpoints".
const (
	exAlertSettings = `{"HighAlert":{"AlertType":1,"IsEnabled":false,"MinValue":200,"MaxValue":401,"AlarmDelay":"PT1H","RealarmDelay":"PT2H","Sound":"High.wav"},` +
		`"LowAlert":{"AlertType":2,"IsEnabled":false,"MinValue":39,"MaxValue":70,"AlarmDelay":"PT30M","RealarmDelay":"PT2H","Sound":"Low.wav"},` +
		`"FixedLowAlert":{"AlertType":3,"IsEnabled":true,"MinValue":39,"MaxValue":55,"AlarmDelay":"PT0M","RealarmDelay":"PT30M","Sound":"UrgentLow.wav"},` +
		`"NoDataAlert":{"AlertType":4,"IsEnabled":false,"MinValue":39,"MaxValue":401,"AlarmDelay":"PT1H","RealarmDelay":"PT0M","Sound":"NoData.wav"}}`
	exReadings = `[{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"},` +
		`{"WT":"Date(1745080713817)","ST":"Date(1745080713817)","DT":"Date(1745080713817-0400)","Value":219,"Trend":"FortyFiveUp"}]`
	exContactBody = `{"ContactId":"` + exContact + `","Name":"Mom","Email":"mom@example.org","PublisherAccountId":"` + exAccount +
		`","State":6,"SubscriptionId":"` + exSubscription + `"}`
	exPublisherSubs = `[{"ContactId":"` + exContact + `","ContactName":"Mom",` +
		`"DateTimeCreated":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0},` +
		`"DateTimeModified":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0},` +
		`"DisplayName":"Sam",` +
		`"InviteExpires":{"DateTime":"/Date(1745604800000)/","OffsetMinutes":0},` +
		`"IsEnabled":false,"IsMonitoringSessionActive":true,"Permissions":1,"State":2,` +
		`"SubscriberId":"00000000-0000-0000-0000-000000000000","SubscriptionId":"` + exSubscription + `"}]`
	exSubscriberSubs = `[{"SubscriptionId":"` + exSubscription + `","SubscriberId":"` + exSubscriber + `","DisplayName":"Sam","Permissions":1,"State":6,` +
		`"IsEnabled":true,"IsMonitoringSessionActive":true,` +
		`"DateTimeCreated":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0},` +
		`"DateTimeModified":{"DateTime":"/Date(1745003600000)/","OffsetMinutes":0},` +
		`"DateTimeAccepted":{"DateTime":"/Date(1745003600000)/","OffsetMinutes":0}}]`
	exInvitationBody = `{"InvitationId":"` + exInvitation + `","DisplayName":"Sam","Permissions":1,"State":2,` +
		`"InviteExpires":{"DateTime":"/Date(1745604800000)/","OffsetMinutes":0},` +
		`"DateTimeCreated":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0},` +
		`"AlertSettings":` + exAlertSettings + `}`
	exAlarms = `[{"AlarmId":"` + exAlarm + `","SubscriptionId":"` + exSubscription + `","AlertType":3,"State":"Active","Value":52,` +
		`"TriggeredAt":{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0},` +
		`"LastNotifiedAt":{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0},"NotifyCount":1,` +
		`"AcknowledgedAt":null,"ClearedAt":null}]`
	exLastGlucose = `[{"SubscriptionId":"` + exSubscription + `","Egv":{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"}},` +
		`{"SubscriptionId":"` + exContact + `","Egv":null}]`
)

// answer is one canned response.
type answer struct {
	status int    // 0 = 200
	ctype  string // "" = application/json
	body   string
	header map[string]string
}

// recorded is one request the fake received.
type recorded struct {
	method, endpoint string
	query            url.Values
	body             string
	header           http.Header
}

// fakeShare answers by endpoint; each endpoint may have a queue of answers,
// the last of which repeats. Logins answer exAccount and exSession unless
// told otherwise.
type fakeShare struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	answers map[string][]answer
	calls   []recorded
}

func newFake(t *testing.T) *fakeShare {
	f := &fakeShare{t: t, answers: map[string][]answer{
		"General/AuthenticatePublisherAccount": {{body: `"` + exAccount + `"`}},
		"General/LoginPublisherAccountById":    {{body: `"` + exSession + `"`}},
		"General/LoginPublisherAccountByName":  {{body: `"` + exSession + `"`}},
		"General/LoginSubscriberAccount":       {{body: `"` + exSession + `"`}},
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeShare) on(endpoint string, as ...answer) {
	f.mu.Lock()
	f.answers[endpoint] = as
	f.mu.Unlock()
}

func (f *fakeShare) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ep, ok := strings.CutPrefix(r.URL.Path, share.BasePath+"/")
	f.mu.Lock()
	f.calls = append(f.calls, recorded{r.Method, ep, r.URL.Query(), string(body), r.Header.Clone()})
	queue := f.answers[ep]
	var a answer
	if ok && len(queue) > 0 {
		a = queue[0]
		if len(queue) > 1 {
			f.answers[ep] = queue[1:]
		}
	} else {
		a = answer{status: 404, body: `{"Code":"EndpointNotFound","Message":"No endpoint.","SubCode":"x","TypeName":"FaultException"}`}
	}
	f.mu.Unlock()
	if a.ctype == "" {
		a.ctype = "application/json"
	}
	w.Header().Set("Content-Type", a.ctype)
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.status == 0 {
		a.status = 200
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// last returns the last request to endpoint.
func (f *fakeShare) last(endpoint string) recorded {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].endpoint == endpoint {
			return f.calls[i]
		}
	}
	f.t.Fatalf("no request to %s", endpoint)
	return recorded{}
}

// count returns how many requests went to endpoint.
func (f *fakeShare) count(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.endpoint == endpoint {
			n++
		}
	}
	return n
}

func (f *fakeShare) client(t *testing.T, opts ...share.Option) *share.Client {
	t.Helper()
	c, err := share.NewClient(append([]share.Option{share.WithBaseURL(f.srv.URL), share.WithAccountID(exAccount, "pw")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantRequest checks the method, the query parameters in want (plus the
// session) and, when wantBody is not "", the JSON body.
func wantRequest(t *testing.T, r recorded, method string, want map[string]string, wantBody string) {
	t.Helper()
	if r.method != method {
		t.Errorf("%s: method %s, want %s", r.endpoint, r.method, method)
	}
	if got := r.query.Get("sessionId"); got != exSession {
		t.Errorf("%s: sessionId %q, want %q", r.endpoint, got, exSession)
	}
	for k, v := range want {
		if got := r.query.Get(k); got != v {
			t.Errorf("%s: query %s = %q, want %q", r.endpoint, k, got, v)
		}
	}
	if wantBody == "" {
		return
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Errorf("%s: body %q is not JSON", r.endpoint, r.body)
	}
	json.Unmarshal([]byte(wantBody), &exp)
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: body %s, want %s", r.endpoint, r.body, wantBody)
	}
}

func dt(ms int64) share.DateTime { return share.DateTime{MS: ms} }

func TestCannedPublisherFollowers(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	void := answer{}

	f.on("Publisher/DoesContactExistByName", answer{body: "true"})
	if ok, err := c.DoesContactExistByName(ctx, "Mom"); err != nil || !ok {
		t.Errorf("DoesContactExistByName = %v, %v", ok, err)
	}
	wantRequest(t, f.last("Publisher/DoesContactExistByName"), "POST", map[string]string{"contactName": "Mom"}, "{}")

	f.on("Publisher/CreateContact", answer{body: `"` + exContact + `"`})
	if id, err := c.CreateContact(ctx, "Mom", "mom@example.org"); err != nil || id != exContact {
		t.Errorf("CreateContact = %q, %v", id, err)
	}
	wantRequest(t, f.last("Publisher/CreateContact"), "POST", map[string]string{"contactName": "Mom", "emailAddress": "mom@example.org"}, "")
	if _, err := c.CreateContact(ctx, "Dad", ""); err != nil {
		t.Fatal(err)
	}
	if r := f.last("Publisher/CreateContact"); r.query.Has("emailAddress") {
		t.Errorf("CreateContact without e-mail sent emailAddress=%q", r.query.Get("emailAddress"))
	}

	f.on("Publisher/ReadContact", answer{body: exContactBody})
	ct, err := c.ReadContact(ctx, exContact)
	want := share.Contact{ContactID: exContact, Name: "Mom", Email: "mom@example.org", PublisherAccountID: exAccount, State: share.StateActive, SubscriptionID: exSubscription}
	if err != nil || ct != want {
		t.Errorf("ReadContact = %+v, %v", ct, err)
	}
	wantRequest(t, f.last("Publisher/ReadContact"), "POST", map[string]string{"contactId": exContact}, "")

	f.on("Publisher/UpdateContactName", void)
	if err := c.UpdateContactName(ctx, exContact, "Mum"); err != nil {
		t.Error(err)
	}
	wantRequest(t, f.last("Publisher/UpdateContactName"), "POST", map[string]string{"contactId": exContact, "contactName": "Mum"}, "")

	f.on("Publisher/CreateSubscriptionInvitation", answer{body: `"` + exSubscription + `"`})
	if id, err := c.CreateSubscriptionInvitation(ctx, exContact, share.Invite{}); err != nil || id != exSubscription {
		t.Errorf("CreateSubscriptionInvitation = %q, %v", id, err)
	}
	wantRequest(t, f.last("Publisher/CreateSubscriptionInvitation"), "POST", map[string]string{"contactId": exContact}, `{"Permissions":1}`)
	alerts := share.DefaultAlertSettings()
	if _, err := c.CreateSubscriptionInvitation(ctx, exContact, share.Invite{DisplayName: "Sam", CurrentValueOnly: true, AlertSettings: &alerts}); err != nil {
		t.Fatal(err)
	}
	wantRequest(t, f.last("Publisher/CreateSubscriptionInvitation"), "POST", nil,
		`{"Permissions":0,"DisplayName":"Sam","AlertSettings":`+string(mustMarshal(t, alerts))+`}`)

	f.on("Publisher/ReadSubscriptionInviteId", answer{body: `"` + exInvitation + `"`})
	if id, err := c.ReadSubscriptionInviteID(ctx, exSubscription); err != nil || id != exInvitation {
		t.Errorf("ReadSubscriptionInviteID = %q, %v", id, err)
	}
	wantRequest(t, f.last("Publisher/ReadSubscriptionInviteId"), "POST", map[string]string{"subscriptionId": exSubscription}, "")

	f.on("Publisher/ListPublisherAccountSubscriptions", answer{body: exPublisherSubs})
	subs, err := c.ListPublisherAccountSubscriptions(ctx)
	wantSub := share.PublisherSubscription{
		ContactID: exContact, ContactName: "Mom", DateTimeCreated: dt(1745000000000), DateTimeModified: dt(1745000000000),
		DisplayName: "Sam", InviteExpires: dt(1745604800000), IsMonitoringSessionActive: true,
		Permissions: share.PermissionHistory, State: share.StateInviteWaiting, SubscriberID: share.ZeroID, SubscriptionID: exSubscription,
	}
	if err != nil || len(subs) != 1 || subs[0] != wantSub {
		t.Errorf("ListPublisherAccountSubscriptions = %+v, %v", subs, err)
	}

	f.on("Publisher/UpdateSubscriptionPermissions", void)
	if err := c.UpdateSubscriptionPermissions(ctx, exSubscription, share.PermissionCurrentValue); err != nil {
		t.Error(err)
	}
	wantRequest(t, f.last("Publisher/UpdateSubscriptionPermissions"), "POST", map[string]string{"subscriptionId": exSubscription, "permissions": "0"}, "")

	f.on("General/ReadSubscriptionAlerts", answer{body: exAlertSettings})
	got, err := c.ReadSubscriptionAlerts(ctx, exSubscription)
	wantAlerts := share.DefaultAlertSettings()
	wantAlerts.HighAlert.AlarmDelay, wantAlerts.NoDataAlert.AlarmDelay = "PT1H", "PT1H" // the example's spelling
	wantAlerts.HighAlert.RealarmDelay, wantAlerts.LowAlert.RealarmDelay = "PT2H", "PT2H"
	if err != nil || got != wantAlerts {
		t.Errorf("ReadSubscriptionAlerts = %+v, %v", got, err)
	}
	wantRequest(t, f.last("General/ReadSubscriptionAlerts"), "POST", map[string]string{"subscriptionId": exSubscription}, "")

	for name, call := range map[string]func(context.Context, string) error{
		"General/PauseSubscription":  c.PauseSubscription,
		"General/ResumeSubscription": c.ResumeSubscription,
		"Publisher/DeleteContact":    c.DeleteContact,
	} {
		f.on(name, void)
		if err := call(ctx, exSubscription); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		key := "subscriptionId"
		if name == "Publisher/DeleteContact" {
			key = "contactId"
		}
		wantRequest(t, f.last(name), "POST", map[string]string{key: exSubscription}, "")
	}

	f.on("General/PauseSubscription", answer{status: 500, body: `{"Code":"SubscriptionNotPausableState","Message":"The subscription cannot be paused in state 2.","SubCode":"x","TypeName":"FaultException"}`})
	wantCode(t, "Pause in state 2", c.PauseSubscription(ctx, exSubscription), share.CodeSubscriptionNotPausableState)
}

func TestCannedSubscriber(t *testing.T) {
	f := newFake(t)
	c := f.client(t, share.WithLoginMethod(share.LoginSubscriber))
	ctx := context.Background()
	void := answer{}

	f.on("Subscriber/ListSubscriberAccountSubscriptions", answer{body: exSubscriberSubs})
	subs, err := c.ListSubscriberAccountSubscriptions(ctx)
	accepted := dt(1745003600000)
	wantSub := share.SubscriberSubscription{
		SubscriptionID: exSubscription, SubscriberID: exSubscriber, DisplayName: "Sam", Permissions: 1, State: share.StateActive,
		IsEnabled: true, IsMonitoringSessionActive: true, DateTimeCreated: dt(1745000000000), DateTimeModified: dt(1745003600000),
		DateTimeAccepted: &accepted,
	}
	if err != nil || len(subs) != 1 || !reflect.DeepEqual(subs[0], wantSub) {
		t.Errorf("ListSubscriberAccountSubscriptions = %+v, %v", subs, err)
	}
	if login := f.last("General/LoginSubscriberAccount"); !strings.Contains(login.body, `"accountId":"`+exAccount+`"`) {
		t.Errorf("LoginSubscriberAccount body %s", login.body)
	}

	f.on("Subscriber/ReadSubscriptionLatestGlucoseValues", answer{body: exReadings})
	rs, err := c.ReadSubscriptionLatestGlucoseValues(ctx, exSubscription, 60, 12)
	wantRs := []share.Reading{
		{ST: 1745081013817, Offset: -240, Value: 224, Trend: share.TrendFlat},
		{ST: 1745080713817, Offset: -240, Value: 219, Trend: share.TrendFortyFiveUp},
	}
	if err != nil || !reflect.DeepEqual(rs, wantRs) {
		t.Errorf("ReadSubscriptionLatestGlucoseValues = %+v, %v", rs, err)
	}
	wantRequest(t, f.last("Subscriber/ReadSubscriptionLatestGlucoseValues"), "POST",
		map[string]string{"subscriptionId": exSubscription, "minutes": "60", "maxCount": "12"}, "")

	f.on("Subscriber/ReadLastGlucoseFromSubscriptions", answer{body: exLastGlucose})
	last, err := c.ReadLastGlucoseFromSubscriptions(ctx, []string{exSubscription, exContact})
	if err != nil || len(last) != 2 || last[0].Egv == nil || *last[0].Egv != wantRs[0] || last[1].Egv != nil || last[1].SubscriptionID != exContact {
		t.Errorf("ReadLastGlucoseFromSubscriptions = %+v, %v", last, err)
	}
	wantRequest(t, f.last("Subscriber/ReadLastGlucoseFromSubscriptions"), "POST", nil, `["`+exSubscription+`","`+exContact+`"]`)

	f.on("Subscriber/ReadInvitation", answer{body: exInvitationBody})
	inv, err := c.ReadInvitation(ctx, exInvitation)
	if err != nil || inv.InvitationID != exInvitation || inv.DisplayName != "Sam" || inv.State != share.StateInviteWaiting ||
		inv.InviteExpires != dt(1745604800000) || inv.AlertSettings.FixedLowAlert.MaxValue != 55 || !inv.AlertSettings.FixedLowAlert.IsEnabled {
		t.Errorf("ReadInvitation = %+v, %v", inv, err)
	}
	wantRequest(t, f.last("Subscriber/ReadInvitation"), "POST", map[string]string{"invitationId": exInvitation}, "")

	f.on("Subscriber/AcceptInvitation", answer{body: `"` + exSubscription + `"`})
	if id, err := c.AcceptInvitation(ctx, exInvitation); err != nil || id != exSubscription {
		t.Errorf("AcceptInvitation = %q, %v", id, err)
	}
	wantRequest(t, f.last("Subscriber/AcceptInvitation"), "POST", map[string]string{"invitationId": exInvitation}, "")

	f.on("Subscriber/RejectInvitation", answer{status: 500, body: `{"Code":"InvitationExpired","Message":"The invitation expired.","SubCode":"x","TypeName":"FaultException"}`})
	wantCode(t, "RejectInvitation", c.RejectInvitation(ctx, exInvitation), share.CodeInvitationExpired)

	f.on("Subscriber/ReadSubscriptionDisplayName", answer{body: `"Sam"`})
	if name, err := c.ReadSubscriptionDisplayName(ctx, exSubscription); err != nil || name != "Sam" {
		t.Errorf("ReadSubscriptionDisplayName = %q, %v", name, err)
	}

	png := "\x89PNG\r\n\x1a\n-image"
	f.on("Subscriber/ReadSubscriptionImage", answer{ctype: "image/png", body: png},
		answer{status: 404, body: `{"Code":"ImageNotFound","Message":"No image.","SubCode":"x","TypeName":"FaultException"}`})
	if img, err := c.ReadSubscriptionImage(ctx, exSubscription); err != nil || img.ContentType != "image/png" || string(img.Data) != png {
		t.Errorf("ReadSubscriptionImage = %+v, %v", img, err)
	}
	wantRequest(t, f.last("Subscriber/ReadSubscriptionImage"), "GET", map[string]string{"subscriptionId": exSubscription}, "")
	_, err = c.ReadSubscriptionImage(ctx, exSubscription)
	wantCode(t, "ReadSubscriptionImage without image", err, share.CodeImageNotFound)

	f.on("Subscriber/ReadSubscriptionAlertSettings", answer{body: exAlertSettings})
	if s, err := c.ReadSubscriptionAlertSettings(ctx, exSubscription); err != nil || s.LowAlert.MaxValue != 70 || s.HighAlert.Sound != "High.wav" {
		t.Errorf("ReadSubscriptionAlertSettings = %+v, %v", s, err)
	}
	f.on("Subscriber/UpdateSubscriptionAlertSettings", void)
	s := share.DefaultAlertSettings()
	s.LowAlert.IsEnabled, s.LowAlert.MaxValue = true, 80
	if err := c.UpdateSubscriptionAlertSettings(ctx, exSubscription, s); err != nil {
		t.Error(err)
	}
	wantRequest(t, f.last("Subscriber/UpdateSubscriptionAlertSettings"), "POST", map[string]string{"subscriptionId": exSubscription}, string(mustMarshal(t, s)))

	f.on("Subscriber/ListSubscriptionAlarms", answer{body: exAlarms})
	alarms, err := c.ListSubscriptionAlarms(ctx, exSubscription, 120)
	wantAlarm := share.Alarm{AlarmID: exAlarm, SubscriptionID: exSubscription, AlertType: share.AlertTypeFixedLow, State: share.AlarmActive,
		Value: 52, TriggeredAt: dt(1745081013817), LastNotifiedAt: dt(1745081013817), NotifyCount: 1}
	if err != nil || len(alarms) != 1 || !reflect.DeepEqual(alarms[0], wantAlarm) {
		t.Errorf("ListSubscriptionAlarms = %+v, %v", alarms, err)
	}
	wantRequest(t, f.last("Subscriber/ListSubscriptionAlarms"), "POST", map[string]string{"subscriptionId": exSubscription, "minutes": "120"}, "")
	if _, err := c.ListSubscriptionAlarms(ctx, "", 0); err != nil {
		t.Fatal(err)
	}
	if r := f.last("Subscriber/ListSubscriptionAlarms"); r.query.Has("subscriptionId") || r.query.Has("minutes") {
		t.Errorf("ListSubscriptionAlarms for all sent %v", r.query)
	}

	for name, call := range map[string]func(context.Context, string) error{
		"Subscriber/AcknowledgeSubscriptionAlarm": c.AcknowledgeSubscriptionAlarm,
		"Subscriber/DeleteSubscription":           c.DeleteSubscription,
	} {
		f.on(name, void)
		if err := call(ctx, exAlarm); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	wantRequest(t, f.last("Subscriber/AcknowledgeSubscriptionAlarm"), "POST", map[string]string{"alarmId": exAlarm}, "")
	wantRequest(t, f.last("Subscriber/DeleteSubscription"), "POST", map[string]string{"subscriptionId": exAlarm}, "")

	f.on("Subscriber/UpdateSubscriberAccountRuntimeInfo", void)
	if err := c.UpdateSubscriberAccountRuntimeInfo(ctx, share.RuntimeInfo{AppName: "x"}); err != nil {
		t.Error(err)
	}
	wantRequest(t, f.last("Subscriber/UpdateSubscriberAccountRuntimeInfo"), "POST", nil, `{"runtimeInfo":{"AppName":"x"}}`)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCannedRequestShape checks the headers and bodies every call sends.
func TestCannedRequestShape(t *testing.T) {
	f := newFake(t)
	c := f.client(t, share.WithUserAgent("test-agent/1"), share.WithApplicationID("app-1"))
	ctx := context.Background()
	f.on("Publisher/IsRemoteMonitoringSessionActive", answer{body: "false"})
	if _, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil {
		t.Fatal(err)
	}
	r := f.last("Publisher/IsRemoteMonitoringSessionActive")
	if r.body != "{}" || r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != "test-agent/1" ||
		r.header.Get("Accept") != "application/json" {
		t.Errorf("request body %q, headers %v", r.body, r.header)
	}
	login := f.last("General/LoginPublisherAccountById")
	if want := `{"accountId":"` + exAccount + `","password":"pw","applicationId":"app-1"}`; login.body != want {
		t.Errorf("login body %s, want %s", login.body, want)
	}
	if f.count("General/AuthenticatePublisherAccount") != 0 {
		t.Error("Authenticate called although the account id was given")
	}
}

// TestCannedZeroIDs shows the client refuses the all-zero and malformed ids
// the hosted service may answer (docs/protocol.md, "Credential checks").
func TestCannedZeroIDs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		endpoint, body string
		opts           []share.Option
	}{
		{"General/AuthenticatePublisherAccount", `"00000000-0000-0000-0000-000000000000"`, []share.Option{share.WithCredentials("sam", "pw")}},
		{"General/LoginPublisherAccountById", `"00000000-0000-0000-0000-000000000000"`, nil},
		{"General/LoginPublisherAccountById", `"not an id"`, nil},
		{"General/LoginPublisherAccountById", `12`, nil},
		{"General/LoginPublisherAccountByName", `"00000000-0000-0000-0000-000000000000"`, []share.Option{share.WithCredentials("sam", "pw"), share.WithLoginMethod(share.LoginPublisherByName)}},
	} {
		f := newFake(t)
		f.on(tc.endpoint, answer{body: tc.body})
		opts := tc.opts
		if opts == nil {
			opts = []share.Option{share.WithAccountID(exAccount, "pw")}
		}
		c, _ := share.NewClient(append([]share.Option{share.WithBaseURL(f.srv.URL)}, opts...)...)
		if err := c.Login(ctx); !errors.Is(err, share.ErrInvalidID) {
			t.Errorf("%s answering %s: %v, want ErrInvalidID", tc.endpoint, tc.body, err)
		}
		if c.SessionID() != "" {
			t.Errorf("%s answering %s: session %q kept", tc.endpoint, tc.body, c.SessionID())
		}
	}
	// GetMonitoredReceiverIdIfEnabled answers the zero id for "none".
	f := newFake(t)
	f.on("Publisher/GetMonitoredReceiverIdIfEnabled", answer{body: `"` + share.ZeroID + `"`})
	if id, ok, err := f.client(t).GetMonitoredReceiverIDIfEnabled(ctx); err != nil || ok || id != "" {
		t.Errorf("GetMonitoredReceiverIDIfEnabled with zero = %q, %v, %v", id, ok, err)
	}
}

// TestCannedRelogin shows one re-login per ended session, and none for a
// session the client was given without credentials.
func TestCannedRelogin(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	expired := answer{status: 500, body: `{"Code":"SessionIdNotFound","Message":"Session not found.","SubCode":"x","TypeName":"FaultException"}`}
	f.on("Publisher/ReadPublisherLatestGlucoseValues", expired, answer{body: exReadings})
	c := f.client(t)
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, 10, 1)
	if err != nil || len(rs) != 2 {
		t.Fatalf("read after SessionIdNotFound = %v, %v", rs, err)
	}
	if n := f.count("General/LoginPublisherAccountById"); n != 2 {
		t.Errorf("%d logins, want 2 (first use and one re-login)", n)
	}
	// A server that keeps answering SessionNotValid gets one re-login per call.
	f.on("Publisher/ReadPublisherLatestGlucoseValues", answer{status: 500, body: `{"Code":"SessionNotValid","Message":"ended","SubCode":"x","TypeName":"FaultException"}`})
	_, err = c.ReadPublisherLatestGlucoseValues(ctx, 10, 1)
	wantCode(t, "persistent SessionNotValid", err, share.CodeSessionNotValid)
	if n := f.count("General/LoginPublisherAccountById"); n != 3 {
		t.Errorf("%d logins, want 3", n)
	}
	// A failing re-login is what the caller sees.
	f.on("General/LoginPublisherAccountById", answer{status: 500, body: `{"Code":"AccountPasswordInvalid","Message":"Publisher account password failed","SubCode":"x","TypeName":"FaultException"}`})
	_, err = c.ReadPublisherLatestGlucoseValues(ctx, 10, 1)
	wantCode(t, "failing re-login", err, share.CodeAccountPasswordInvalid)
}

// TestCannedErrorBodies checks the decoding of error answers that are not
// glucoshare's, and the aliases errors.Is accepts.
func TestCannedErrorBodies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		body   string
		target error
		want   string
	}{
		{500, `{"Code":"SSO_AuthenticateMaxAttemptsExceeed","Message":"locked","SubCode":"<x/>","TypeName":"FaultException"}`, share.ErrMaxAttempts, "SSO_AuthenticateMaxAttemptsExceeed: locked"},
		{500, `{"Code":"SSO_AuthenticatePasswordInvalid","Message":"bad","SubCode":{"nested":1},"TypeName":"FaultException"}`, share.ErrAccountPasswordInvalid, "SSO_AuthenticatePasswordInvalid: bad"},
		{500, `{"Code":"SSO_AuthenticateAccountNotFound","Message":"who"}`, share.ErrAccountPasswordInvalid, "who"},
		{502, `<html>Bad Gateway</html>`, nil, "HTTP 502 Bad Gateway: <html>Bad Gateway</html>"},
	} {
		f := newFake(t)
		f.on("General/LoginPublisherAccountById", answer{status: tc.status, body: tc.body})
		err := f.client(t).Login(ctx)
		var ce *share.CallError
		if !errors.As(err, &ce) || ce.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v", tc.body, err)
		}
		if tc.target != nil && !errors.Is(err, tc.target) {
			t.Errorf("%s: errors.Is(%v) is false", tc.body, tc.target)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		server, base, appID string
	}{
		{"us", "https://share2.dexcom.com/ShareWebServices/Services", share.ApplicationID},
		{"OUS", "https://shareous1.dexcom.com/ShareWebServices/Services", share.ApplicationID},
		{"jp", "https://share.dexcom.jp/ShareWebServices/Services", share.ApplicationIDJP},
		{"apac", "https://share.dexcom.jp/ShareWebServices/Services", share.ApplicationIDJP},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/ShareWebServices/Services", share.ApplicationID},
		{"https://gs.example.org/relay/us/", "https://gs.example.org/relay/us/ShareWebServices/Services", share.ApplicationID},
		{"https://gs.example.org/ShareWebServices/Services/", "https://gs.example.org/ShareWebServices/Services", share.ApplicationID},
	} {
		c, err := share.NewClient(share.WithServer(tc.server))
		if err != nil || c.BaseURL() != tc.base {
			t.Errorf("WithServer(%q): base %q, %v; want %q", tc.server, c.BaseURL(), err, tc.base)
		}
	}
	if c, _ := share.NewClient(); c.BaseURL() != share.RegionUS.BaseURL() {
		t.Errorf("default base %q", c.BaseURL())
	}
	for _, bad := range []string{"eu", "ftp://x", "http://", "http://h/?q=1", "share2.dexcom.com"} {
		if _, err := share.NewClient(share.WithServer(bad)); err == nil {
			t.Errorf("WithServer(%q) accepted", bad)
		}
	}
	if _, err := share.NewClient(share.WithHTTPClient(nil)); err == nil {
		t.Error("nil http client accepted")
	}
	if _, err := share.NewClient(share.WithSession("nope")); err == nil {
		t.Error("malformed session accepted")
	}

	// The injected client carries every request; WithTimeout bounds each.
	f := newFake(t)
	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	f.on("Publisher/IsRemoteMonitoringSessionActive", answer{body: "true"})
	if on, err := f.client(t, share.WithHTTPClient(hc)).IsRemoteMonitoringSessionActive(context.Background()); err != nil || !on || !used {
		t.Errorf("with injected client: %v %v used=%v", on, err, used)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	c, _ := share.NewClient(share.WithBaseURL(slow.URL), share.WithTimeout(50*time.Millisecond))
	start := time.Now()
	if _, err := c.SystemUTCTime(context.Background()); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
