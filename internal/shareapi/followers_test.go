package shareapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/mail"
	"github.com/glucoshare/glucoshare/internal/mail/mailtest"
)

// Handler tests of docs/protocol.md, "Publisher: contacts and followers", "Subscriber", "General" (subscription calls) and
// docs/protocol.md, "Follower state machine" through the real router.

// call posts to path with the query built from name/value pairs and no body.
func (e *env) call(path string, kv ...string) response {
	e.t.Helper()
	return e.callBody(path, "", kv...)
}

// callBody posts body to path with the query built from name/value pairs.
func (e *env) callBody(path, body string, kv ...string) response {
	e.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return e.post(path+"?"+v.Encode(), body)
}

// okID expects a 200 whose body is a JSON string id, and returns it.
func (e *env) okID(r response) string {
	e.t.Helper()
	e.ok(r)
	var id string
	if err := json.Unmarshal([]byte(r.body), &id); err != nil || len(id) != 36 || len(r.body) != 38 {
		e.t.Fatalf("id body %q: %v", r.body, err)
	}
	return id
}

func (e *env) createContact(sid, name, email string) string {
	e.t.Helper()
	return e.okID(e.call("Publisher/CreateContact", "sessionId", sid, "contactName", name, "emailAddress", email))
}

// invite creates an invitation for the contact and returns the
// subscription id and the invitation id.
func (e *env) invite(sid, contactID, body string) (sub, inv string) {
	e.t.Helper()
	sub = e.okID(e.callBody("Publisher/CreateSubscriptionInvitation", body, "sessionId", sid, "contactId", contactID))
	inv = e.okID(e.call("Publisher/ReadSubscriptionInviteId", "sessionId", sid, "subscriptionId", sub))
	return sub, inv
}

func (e *env) accept(sid, inv string) string {
	e.t.Helper()
	return e.okID(e.call("Subscriber/AcceptInvitation", "sessionId", sid, "invitationId", inv))
}

// postReadings uploads values as readings 5 minutes apart, the last one at
// the clock's now.
func (e *env) postReadings(sid, serial string, values ...int) {
	e.t.Helper()
	now := e.clock.Now().UnixMilli()
	var egvs []string
	for i, v := range values {
		st := now - int64(len(values)-1-i)*5*60_000
		egvs = append(egvs, fmt.Sprintf(`{"ST":"/Date(%d)/","DT":"/Date(%d)/","Value":%d,"Trend":4}`, st, st, v))
	}
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid,
		`{"SN":"`+serial+`","Egvs":[`+strings.Join(egvs, ",")+`]}`))
}

// state reads a subscription's state from the publisher's list.
func (e *env) state(pubSID, sub string) int {
	e.t.Helper()
	return int(e.listed(pubSID, sub)["State"].(float64))
}

// listed returns a subscription's item of the publisher's list.
func (e *env) listed(pubSID, sub string) map[string]any {
	e.t.Helper()
	for _, item := range e.publisherList(pubSID) {
		if item["SubscriptionId"] == sub {
			return item
		}
	}
	e.t.Fatalf("subscription %s not listed", sub)
	return nil
}

func (e *env) publisherList(sid string) []map[string]any {
	e.t.Helper()
	var items []map[string]any
	r := e.ok(e.call("Publisher/ListPublisherAccountSubscriptions", "sessionId", sid))
	if err := json.Unmarshal([]byte(r.body), &items); err != nil {
		e.t.Fatalf("list body %q: %v", r.body, err)
	}
	return items
}

// sharing is a publisher with readings and a follower who accepted.
type sharing struct {
	pub, fol     string // session ids
	pubID, folID string
	contact      string
	sub, inv     string
}

// share sets up publisher pub (serial 8G1234, three readings) followed by
// fol through contact "Friend".
func (e *env) share(pub, fol string) sharing {
	e.t.Helper()
	var s sharing
	serial := serialFor(pub)
	if e.exists(pub) {
		s.pub = e.login(pub)
		e.ok(e.call("Publisher/StartRemoteMonitoringSession", "sessionId", s.pub, "serialNumber", serial))
	} else {
		s.pub = e.publisher(pub, serial)
	}
	s.pubID = e.accountID(pub)
	if !e.exists(fol) {
		e.account(fol)
	}
	s.folID = e.accountID(fol)
	s.fol = e.login(fol)
	e.postReadings(s.pub, serial, 100, 110, 120)
	s.contact = e.createContact(s.pub, fol+" following "+pub, fol+"@example.org")
	s.sub, s.inv = e.invite(s.pub, s.contact, "")
	if got := e.accept(s.fol, s.inv); got != s.sub {
		e.t.Fatalf("accept returned %s, want %s", got, s.sub)
	}
	return s
}

// serialFor gives each publisher a serial of its own.
func serialFor(name string) string { return "8G" + strings.ToUpper(name) }

// forTest returns the env for a subtest: same router and store, failures
// reported to t.
func (e *env) forTest(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// TestFollowerCalls runs the handler tests that need no special
// configuration on one database, each subtest under account names of its
// own: on PostgreSQL, creating a database per test is what takes time.
func TestFollowerCalls(t *testing.T) {
	t.Parallel()
	shared := newEnv(t)
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env, n func(string) string)
	}{
		{"contacts", testContactCalls},
		{"contact-limit", testContactLimit},
		{"publisher-list", testListPublisherAccountSubscriptions},
		{"permissions", testUpdateSubscriptionPermissions},
		{"pause-resume", testPauseAndResume},
		{"invitation-answers", testInvitationAnswers},
		{"subscriber-calls", testSubscriberCalls},
		{"alert-settings", testUpdateSubscriptionAlertSettings},
		{"delete-subscription", testDeleteSubscription},
		{"subscriber-list-order", testSubscriberListOrder},
		{"session-and-ids", testFollowerEndpointsSessionAndIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, shared.forTest(t), func(name string) string { return name + "-" + tc.name })
		})
	}
}

func (e *env) exists(name string) bool {
	_, err := e.svc.FindAccount(context.Background(), name)
	return err == nil
}

func (e *env) accountID(name string) string {
	e.t.Helper()
	a, err := e.svc.FindAccount(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

const defaultAlertsJSON = `{"HighAlert":{"AlertType":1,"IsEnabled":false,"MinValue":200,"MaxValue":401,"AlarmDelay":"PT1H0M","RealarmDelay":"PT2H0M","Sound":"High.wav"},` +
	`"LowAlert":{"AlertType":2,"IsEnabled":false,"MinValue":39,"MaxValue":70,"AlarmDelay":"PT30M","RealarmDelay":"PT2H0M","Sound":"Low.wav"},` +
	`"FixedLowAlert":{"AlertType":3,"IsEnabled":true,"MinValue":39,"MaxValue":55,"AlarmDelay":"PT0M","RealarmDelay":"PT30M","Sound":"UrgentLow.wav"},` +
	`"NoDataAlert":{"AlertType":4,"IsEnabled":false,"MinValue":39,"MaxValue":401,"AlarmDelay":"PT1H0M","RealarmDelay":"PT0M","Sound":"NoData.wav"}}`

func dateTime(t time.Time) string {
	return fmt.Sprintf(`{"DateTime":"/Date(%d)/","OffsetMinutes":0}`, t.UnixMilli())
}

func testContactCalls(t *testing.T, e *env, n func(string) string) {
	e.account(n("sam"))
	e.account(n("kim"))
	sam, kim := e.login(n("sam")), e.login(n("kim"))
	samID := e.accountID(n("sam"))

	exists := func(sid, name string) string {
		return e.ok(e.call("Publisher/DoesContactExistByName", "sessionId", sid, "contactName", name)).body
	}
	if got := exists(sam, "Mom"); got != "false" {
		t.Errorf("DoesContactExistByName before: %s", got)
	}
	e.wantError(e.call("Publisher/DoesContactExistByName", "sessionId", sam), 500, "InvalidArgument")

	mom := e.createContact(sam, "  Mom ", "mom@example.org")
	if got := exists(sam, "MOM"); got != "true" {
		t.Errorf("DoesContactExistByName(case-insensitive): %s", got)
	}
	if got := exists(kim, "Mom"); got != "false" {
		t.Errorf("another publisher's contact: %s", got)
	}
	want := `{"ContactId":"` + mom + `","Name":"Mom","Email":"mom@example.org","PublisherAccountId":"` + samID +
		`","State":0,"SubscriptionId":"00000000-0000-0000-0000-000000000000"}`
	if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", strings.ToUpper(mom))).body; got != want {
		t.Errorf("ReadContact:\ngot  %s\nwant %s", got, want)
	}

	// CreateContact errors; the body works as well as the query.
	e.wantError(e.call("Publisher/CreateContact", "sessionId", sam, "contactName", "mom"), 500, "ContactNameAlreadyExists")
	e.wantError(e.post("Publisher/CreateContact?sessionId="+sam, `{"contactName":"Dad","emailAddress":"dad@localhost"}`), 500, "InvalidEmailAddress")
	for _, bad := range []string{"", "   ", strings.Repeat("x", 101), "a\tb"} {
		e.wantError(e.call("Publisher/CreateContact", "sessionId", sam, "contactName", bad), 500, "InvalidArgument")
	}
	dad := e.okID(e.post("Publisher/CreateContact?sessionId="+sam, `{"contactName":"Dad","emailAddress":""}`))
	if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", dad)).body; !strings.Contains(got, `"Email":""`) {
		t.Errorf("contact without e-mail: %s", got)
	}

	// Not found: malformed, zero, unknown and another account's contact all
	// answer alike, echoing the id as given.
	for _, id := range []string{"junk", "00000000-0000-0000-0000-000000000000", "7d1e5f0a-3b8c-4e2d-9f61-0a2b3c4d5e6f", mom} {
		we := e.wantError(e.call("Publisher/ReadContact", "sessionId", kim, "contactId", id), 500, "ContactIdNotFound")
		if we.Message != "Contact not found. [ContactId = "+id+"]" {
			t.Errorf("ReadContact(%s) message %q", id, we.Message)
		}
		e.wantError(e.call("Publisher/UpdateContactName", "sessionId", kim, "contactId", id, "contactName", "x"), 500, "ContactIdNotFound")
		e.wantError(e.call("Publisher/DeleteContact", "sessionId", kim, "contactId", id), 500, "ContactIdNotFound")
	}
	e.wantError(e.call("Publisher/ReadContact", "sessionId", sam), 500, "InvalidArgument")

	// UpdateContactName.
	e.wantError(e.call("Publisher/UpdateContactName", "sessionId", sam, "contactId", dad, "contactName", "MOM"), 500, "ContactNameAlreadyExists")
	e.wantError(e.call("Publisher/UpdateContactName", "sessionId", sam, "contactId", dad, "contactName", ""), 500, "InvalidArgument")
	e.ok(e.call("Publisher/UpdateContactName", "sessionId", sam, "contactId", dad, "contactName", "Father"))
	e.ok(e.call("Publisher/UpdateContactName", "sessionId", sam, "contactId", mom, "contactName", "MOM"))
	if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom)).body; !strings.Contains(got, `"Name":"MOM"`) {
		t.Errorf("renamed contact: %s", got)
	}

	// DeleteContact: then not found everywhere, the name is free again.
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", mom))
	we := e.wantError(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", mom), 500, "ContactAlreadyDeleted")
	if !strings.Contains(we.Message, mom) {
		t.Errorf("ContactAlreadyDeleted message %q", we.Message)
	}
	e.wantError(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom), 500, "ContactIdNotFound")
	e.wantError(e.call("Publisher/UpdateContactName", "sessionId", sam, "contactId", mom, "contactName", "x"), 500, "ContactIdNotFound")
	e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam, "contactId", mom), 500, "ContactIdNotFound")
	if got := exists(sam, "mom"); got != "false" {
		t.Errorf("DoesContactExistByName(deleted): %s", got)
	}
	e.createContact(sam, "Mom", "")
}

func testContactLimit(t *testing.T, e *env, n func(string) string) {
	samID := e.account(n("sam"))
	sam := e.login(n("sam"))
	e.createContact(sam, "c0", "")
	err := e.store.Update(context.Background(), func(tx glucose.Tx) error { // the rest in one go
		for i := 1; i < core.MaxContacts; i++ {
			c := &glucose.Contact{PublisherID: samID, Name: fmt.Sprint("c", i), CreatedAt: e.clock.Now()}
			if err := tx.CreateContact(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.wantError(e.call("Publisher/CreateContact", "sessionId", sam, "contactName", "one more"), 500, "InvalidArgument")
}

func TestCreateSubscriptionInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.Config) { c.MaxFollowers = 2 })
	sam := e.publisher("sam", "8G1234")
	e.account("kim")
	kim := e.login("kim")
	mom := e.createContact(sam, "Mom", "")

	// Defaults: permissions 1, the publisher's display name, docs/protocol.md, "Shared objects" alerts.
	sub, inv := e.invite(sam, mom, "")
	if got := e.ok(e.call("General/ReadSubscriptionAlerts", "sessionId", sam, "subscriptionId", sub)).body; got != defaultAlertsJSON {
		t.Errorf("default alerts:\ngot  %s\nwant %s", got, defaultAlertsJSON)
	}
	var invitation map[string]any
	json.Unmarshal([]byte(e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv)).body), &invitation)
	if invitation["DisplayName"] != "Sam" || invitation["Permissions"] != 1.0 || invitation["State"] != 2.0 {
		t.Errorf("invitation defaults: %v", invitation)
	}
	if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom)).body; !strings.Contains(got, `"State":2,"SubscriptionId":"`+sub+`"`) {
		t.Errorf("ReadContact after invite: %s", got)
	}

	// Re-inviting supersedes the waiting invitation: old → 9, old id dead.
	body := `{"Permissions":5,"DisplayName":"  Sammy  ","AlertSettings":{` +
		`"HighAlert":{"AlertType":9,"IsEnabled":true,"MinValue":200,"MaxValue":250,"AlarmDelay":"pt2h","RealarmDelay":"1H30M","Sound":"x.wav"},` +
		`"FixedLowAlert":{"IsEnabled":false,"MaxValue":70},"lowalert":null,"Unknown":{"a":1}}}`
	sub2, inv2 := e.invite(sam, mom, body)
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", kim, "invitationId", inv), 500, "InvitationNotPending")
	if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom)).body; !strings.Contains(got, `"SubscriptionId":"`+sub2+`"`) {
		t.Errorf("current subscription after re-invite: %s", got)
	}
	if got := e.ok(e.call("Publisher/ReadSubscriptionInviteId", "sessionId", sam, "subscriptionId", sub)).body; got != `"`+inv+`"` {
		t.Errorf("superseded invitation id: %s", got)
	}
	wantAlerts := `{"HighAlert":{"AlertType":1,"IsEnabled":true,"MinValue":200,"MaxValue":250,"AlarmDelay":"pt2h","RealarmDelay":"1H30M","Sound":"x.wav"},` +
		`"LowAlert":{"AlertType":2,"IsEnabled":false,"MinValue":39,"MaxValue":70,"AlarmDelay":"PT30M","RealarmDelay":"PT2H0M","Sound":"Low.wav"},` +
		`"FixedLowAlert":{"AlertType":3,"IsEnabled":true,"MinValue":39,"MaxValue":55,"AlarmDelay":"PT0M","RealarmDelay":"PT30M","Sound":"UrgentLow.wav"},` +
		`"NoDataAlert":{"AlertType":4,"IsEnabled":false,"MinValue":39,"MaxValue":401,"AlarmDelay":"PT1H0M","RealarmDelay":"PT0M","Sound":"NoData.wav"}}`
	if got := e.ok(e.call("General/ReadSubscriptionAlerts", "sessionId", sam, "subscriptionId", sub2)).body; got != wantAlerts {
		t.Errorf("normalised alerts:\ngot  %s\nwant %s", got, wantAlerts)
	}
	json.Unmarshal([]byte(e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv2)).body), &invitation)
	if invitation["DisplayName"] != "Sammy" || invitation["Permissions"] != 1.0 {
		t.Errorf("invitation: %v", invitation)
	}

	// Permissions ≤ 0 → 0; a string of digits is an integer too.
	for _, p := range []string{"0", "-3", `"0"`} {
		dad := e.createContact(sam, "Dad"+p, "")
		s, _ := e.invite(sam, dad, `{"Permissions":`+p+`}`)
		for _, item := range e.publisherList(sam) {
			if item["SubscriptionId"] == s && item["Permissions"] != 0.0 {
				t.Errorf("Permissions %s stored as %v", p, item["Permissions"])
			}
		}
		e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", dad))
	}

	// Invalid bodies change nothing.
	for _, bad := range []string{
		`{"Permissions":1.5}`,
		`{"DisplayName":"` + strings.Repeat("x", 101) + `"}`,
		`{"AlertSettings":[]}`,
		`{"AlertSettings":{"HighAlert":"on"}}`,
		`{"AlertSettings":{"HighAlert":{"IsEnabled":"maybe"}}}`,
		`{"AlertSettings":{"HighAlert":{"MinValue":500}}}`,
		`{"AlertSettings":{"LowAlert":{"MaxValue":38}}}`,
		`{"AlertSettings":{"LowAlert":{"MaxValue":70.5}}}`,
		`{"AlertSettings":{"LowAlert":{"AlarmDelay":"P1M"}}}`,
		`{"AlertSettings":{"LowAlert":{"AlarmDelay":"PT25H"}}}`,
		`{"AlertSettings":{"LowAlert":{"RealarmDelay":30}}}`,
		`{"AlertSettings":{"NoDataAlert":{"Sound":"` + strings.Repeat("s", 65) + `"}}}`,
		`{"AlertSettings":{"HighAlert":{"IsEnabled":true,"MinValue":39,"MaxValue":401}}}`,
		`{"AlertSettings":{"LowAlert":{"IsEnabled":true,"MinValue":401,"MaxValue":39}}}`,
		`{"AlertSettings":`,
	} {
		e.wantError(e.callBody("Publisher/CreateSubscriptionInvitation", bad, "sessionId", sam, "contactId", mom), 500, "InvalidArgument")
	}
	if got := e.state(sam, sub2); got != 2 {
		t.Errorf("after invalid invitations: state %d, want 2", got)
	}
	// A disabled High/Low needs no threshold; Spike's High in MaxValue is one.
	e.invite(sam, mom, `{"AlertSettings":{"HighAlert":{"IsEnabled":false,"MinValue":39,"MaxValue":401},"LowAlert":{"IsEnabled":true,"MinValue":80,"MaxValue":401}}}`)

	e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam), 500, "InvalidArgument")
	e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam, "contactId", "junk"), 500, "ContactIdNotFound")
	e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", kim, "contactId", mom), 500, "ContactIdNotFound")

	// An accepted subscription refuses a new invitation.
	var contact map[string]any
	json.Unmarshal([]byte(e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom)).body), &contact)
	current := contact["SubscriptionId"].(string)
	currentInv := e.okID(e.call("Publisher/ReadSubscriptionInviteId", "sessionId", sam, "subscriptionId", current))
	e.accept(kim, currentInv)
	we := e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam, "contactId", mom), 500, "InvalidArgument")
	if !strings.Contains(we.Message, "already has a subscription") {
		t.Errorf("message %q", we.Message)
	}

	// The follower limit (2 here): live subscriptions count, a superseded
	// re-invite does not add one.
	dad := e.createContact(sam, "Dad", "")
	e.invite(sam, dad, "")
	e.invite(sam, dad, "") // supersedes: still 2 live
	aunt := e.createContact(sam, "Aunt", "")
	we = e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam, "contactId", aunt), 500, "MaxFollowersExceeded")
	if !strings.Contains(we.Message, "limit is 2") {
		t.Errorf("message %q", we.Message)
	}
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", dad))
	e.invite(sam, aunt, "")
}

func testListPublisherAccountSubscriptions(t *testing.T, e *env, n func(string) string) {
	sam := e.publisher(n("sam"), serialFor(n("sam")))
	e.account(n("kim"))
	kim := e.login(n("kim"))
	kimID := e.accountID(n("kim"))
	if got := e.ok(e.call("Publisher/ListPublisherAccountSubscriptions", "sessionId", sam)).body; got != "[]" {
		t.Errorf("empty list: %s", got)
	}
	mom := e.createContact(sam, "Mom", "mom@example.org")
	e.createContact(sam, "Nobody", "") // no subscription: not listed
	created := e.clock.Now()
	sub, inv := e.invite(sam, mom, "")
	expires := created.Add(7 * 24 * time.Hour)
	want := `[{"ContactId":"` + mom + `","ContactName":"Mom","DateTimeCreated":` + dateTime(created) +
		`,"DateTimeModified":` + dateTime(created) + `,"DisplayName":"Sam","InviteExpires":` + dateTime(expires) +
		`,"IsEnabled":false,"IsMonitoringSessionActive":true,"Permissions":1,"State":2,` +
		`"SubscriberId":"00000000-0000-0000-0000-000000000000","SubscriptionId":"` + sub + `"}]`
	if got := e.ok(e.call("Publisher/ListPublisherAccountSubscriptions", "sessionId", sam)).body; got != want {
		t.Errorf("waiting:\ngot  %s\nwant %s", got, want)
	}

	e.clock.Advance(time.Hour)
	accepted := e.clock.Now()
	e.accept(kim, inv)
	e.ok(e.call("Publisher/StopRemoteMonitoringSession", "sessionId", sam))
	want = `[{"ContactId":"` + mom + `","ContactName":"Mom","DateTimeCreated":` + dateTime(created) +
		`,"DateTimeModified":` + dateTime(accepted) + `,"DisplayName":"Sam","InviteExpires":` + dateTime(expires) +
		`,"IsEnabled":true,"IsMonitoringSessionActive":false,"Permissions":1,"State":6,` +
		`"SubscriberId":"` + kimID + `","SubscriptionId":"` + sub + `"}]`
	if got := e.ok(e.call("Publisher/ListPublisherAccountSubscriptions", "sessionId", sam)).body; got != want {
		t.Errorf("accepted:\ngot  %s\nwant %s", got, want)
	}

	// Ordered by creation; deleted contacts are gone.
	e.clock.Advance(time.Minute)
	dad := e.createContact(sam, "Dad", "")
	sub2, _ := e.invite(sam, dad, "")
	list := e.publisherList(sam)
	if len(list) != 2 || list[0]["SubscriptionId"] != sub || list[1]["SubscriptionId"] != sub2 {
		t.Errorf("order: %v", list)
	}
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", mom))
	if list = e.publisherList(sam); len(list) != 1 || list[0]["SubscriptionId"] != sub2 {
		t.Errorf("after DeleteContact: %v", list)
	}
}

func testUpdateSubscriptionPermissions(t *testing.T, e *env, n func(string) string) {
	s := e.share(n("sam"), n("kim"))
	modified := func() any {
		for _, item := range e.publisherList(s.pub) {
			if item["SubscriptionId"] == s.sub {
				return item["DateTimeModified"]
			}
		}
		return nil
	}
	before := modified()
	e.clock.Advance(time.Minute)
	e.ok(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub, "permissions", "1"))
	if got := modified(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("unchanged permissions moved DateTimeModified: %v → %v", before, got)
	}
	e.ok(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub, "permissions", "0"))
	if got := modified(); fmt.Sprint(got) == fmt.Sprint(before) {
		t.Errorf("DateTimeModified did not change: %v", got)
	}
	if got := e.readFollower(s, 1440, 10); len(got) != 1 {
		t.Errorf("permission 0: %d readings, want 1", len(got))
	}
	e.ok(e.post("Publisher/UpdateSubscriptionPermissions?sessionId="+s.pub, `{"subscriptionId":"`+s.sub+`","permissions":7}`))
	if got := e.readFollower(s, 1440, 10); len(got) != 3 {
		t.Errorf("permission 7 (stored 1): %d readings, want 3", len(got))
	}
	// Paused by either party: still allowed.
	e.ok(e.call("General/PauseSubscription", "sessionId", s.fol, "subscriptionId", s.sub))
	e.ok(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub, "permissions", "1"))

	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub), 500, "InvalidArgument")
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub, "permissions", "x"), 500, "InvalidArgument")
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.fol, "subscriptionId", s.sub, "permissions", "1"), 500, "SubscriptionIdNotFound")
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", "junk", "permissions", "1"), 500, "SubscriptionIdNotFound")

	// Not live: rejected (4), cancelled by the follower (10).
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", s.fol, "subscriptionId", s.sub))
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", s.sub, "permissions", "1"), 500, "SubscriptionNotActive")
	friend := e.createContact(s.pub, "Friend 2", "")
	sub2, inv2 := e.invite(s.pub, friend, "")
	e.ok(e.call("Subscriber/RejectInvitation", "sessionId", s.fol, "invitationId", inv2))
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", s.pub, "subscriptionId", sub2, "permissions", "1"), 500, "SubscriptionNotActive")
}

// readFollower reads the follower's view of the publisher's readings.
func (e *env) readFollower(s sharing, minutes, maxCount int) []map[string]any {
	e.t.Helper()
	r := e.ok(e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", s.fol, "subscriptionId", s.sub,
		"minutes", itoa(minutes), "maxCount", itoa(maxCount)))
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		e.t.Fatalf("readings body %q: %v", r.body, err)
	}
	return out
}

func testPauseAndResume(t *testing.T, e *env, n func(string) string) {
	s := e.share(n("sam"), n("kim"))
	pause := func(sid string) response {
		return e.call("General/PauseSubscription", "sessionId", sid, "subscriptionId", s.sub)
	}
	resume := func(sid string) response {
		return e.call("General/ResumeSubscription", "sessionId", sid, "subscriptionId", s.sub)
	}
	e.wantError(resume(s.pub), 500, "SubscriptionNotPaused")
	e.wantError(resume(s.fol), 500, "SubscriptionNotPaused")

	e.ok(pause(s.pub))
	e.ok(pause(s.pub)) // already paused by the caller: no change
	if got := e.state(s.pub, s.sub); got != 7 {
		t.Errorf("paused by publisher: state %d", got)
	}
	e.wantError(pause(s.fol), 500, "SubscriptionNotPausableState")
	e.wantError(resume(s.fol), 500, "SubscriptionNotPaused") // the other party's pause
	e.ok(resume(s.pub))

	e.ok(pause(s.fol))
	e.ok(pause(s.fol))
	if got := e.state(s.pub, s.sub); got != 8 {
		t.Errorf("paused by subscriber: state %d", got)
	}
	e.wantError(pause(s.pub), 500, "SubscriptionNotPausableState")
	e.wantError(resume(s.pub), 500, "SubscriptionNotPaused")
	e.ok(resume(s.fol))
	if got := e.state(s.pub, s.sub); got != 6 {
		t.Errorf("resumed: state %d", got)
	}

	// A waiting invitation cannot be paused by its publisher.
	c := e.createContact(s.pub, "Waiting", "")
	waiting, _ := e.invite(s.pub, c, "")
	e.wantError(e.call("General/PauseSubscription", "sessionId", s.pub, "subscriptionId", waiting), 500, "SubscriptionNotPausableState")
	e.wantError(e.call("General/ResumeSubscription", "sessionId", s.pub, "subscriptionId", waiting), 500, "SubscriptionNotPaused")
	e.wantError(e.call("General/PauseSubscription", "sessionId", s.pub, "subscriptionId", "junk"), 500, "SubscriptionIdNotFound")
	e.wantError(e.call("General/PauseSubscription", "sessionId", s.pub), 500, "InvalidArgument")

	// Cancelled by the publisher (9): the follower gets the docs/protocol.md, "Access rules" answers.
	e.ok(e.call("Publisher/DeleteContact", "sessionId", s.pub, "contactId", s.contact))
	e.wantError(pause(s.fol), 500, "SubscriptionNotPausableState")
	e.wantError(resume(s.fol), 500, "SubscriptionNotPaused")
	e.wantError(pause(s.pub), 500, "SubscriptionIdNotFound")
	// Cancelled by both (11): not found.
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", s.fol, "subscriptionId", s.sub))
	e.wantError(pause(s.fol), 500, "SubscriptionIdNotFound")
	e.wantError(resume(s.fol), 500, "SubscriptionIdNotFound")
}

func testInvitationAnswers(t *testing.T, e *env, n func(string) string) {
	sam := e.publisher(n("sam"), serialFor(n("sam")))
	e.account(n("kim"))
	e.account(n("lee"))
	kim, lee := e.login(n("kim")), e.login(n("lee"))
	kimID := e.accountID(n("kim"))
	mom := e.createContact(sam, "Mom", "")
	created := e.clock.Now()
	sub, inv := e.invite(sam, mom, `{"Permissions":0,"DisplayName":"Sam S."}`)

	want := `{"InvitationId":"` + inv + `","DisplayName":"Sam S.","Permissions":0,"State":2,"InviteExpires":` +
		dateTime(created.Add(7*24*time.Hour)) + `,"DateTimeCreated":` + dateTime(created) + `,"AlertSettings":` + defaultAlertsJSON + `}`
	for _, sid := range []string{kim, lee, sam} {
		if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", sid, "invitationId", inv)).body; got != want {
			t.Errorf("ReadInvitation:\ngot  %s\nwant %s", got, want)
		}
	}
	for _, id := range []string{"junk", "00000000-0000-0000-0000-000000000000", "e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d", sub} {
		for _, m := range []string{"ReadInvitation", "AcceptInvitation", "RejectInvitation"} {
			we := e.wantError(e.call("Subscriber/"+m, "sessionId", kim, "invitationId", id), 500, "InvitationIdNotFound")
			if we.Message != "Invitation not found. [InvitationId = "+id+"]" {
				t.Errorf("%s(%s) message %q", m, id, we.Message)
			}
		}
	}
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", kim), 500, "InvalidArgument")
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", sam, "invitationId", inv), 500, "InvalidArgument")
	e.wantError(e.call("Subscriber/RejectInvitation", "sessionId", sam, "invitationId", inv), 500, "InvalidArgument")

	e.clock.Advance(time.Minute)
	if got := e.accept(kim, strings.ToUpper(inv)); got != sub {
		t.Errorf("accept returned %s, want %s", got, sub)
	}
	if got := e.accept(kim, inv); got != sub { // again: same id
		t.Errorf("second accept returned %s", got)
	}
	for _, m := range []string{"ReadInvitation", "AcceptInvitation", "RejectInvitation"} {
		e.wantError(e.call("Subscriber/"+m, "sessionId", lee, "invitationId", inv), 500, "InvitationAlreadyAccepted")
	}
	e.wantError(e.call("Subscriber/RejectInvitation", "sessionId", kim, "invitationId", inv), 500, "InvitationNotPending")
	if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv)).body; !strings.Contains(got, `"State":6`) {
		t.Errorf("accepter reads: %s", got)
	}
	// The follower's settings start as a copy of the invitation's.
	if got := e.ok(e.call("Subscriber/ReadSubscriptionAlertSettings", "sessionId", kim, "subscriptionId", sub)).body; got != defaultAlertsJSON {
		t.Errorf("follower settings: %s", got)
	}
	list := e.publisherList(sam)
	if list[0]["SubscriberId"] != kimID || list[0]["State"] != 6.0 {
		t.Errorf("after accept: %v", list[0])
	}
	// Paused or cancelled by the follower.
	e.ok(e.call("General/PauseSubscription", "sessionId", kim, "subscriptionId", sub))
	e.accept(kim, inv)
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", kim, "subscriptionId", sub))
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", kim, "invitationId", inv), 500, "InvitationNotPending")

	// Rejection: 2 → 4, again succeeds, then nobody can accept.
	dad := e.createContact(sam, "Dad", "")
	sub2, inv2 := e.invite(sam, dad, "")
	e.ok(e.call("Subscriber/RejectInvitation", "sessionId", lee, "invitationId", inv2))
	e.ok(e.call("Subscriber/RejectInvitation", "sessionId", kim, "invitationId", inv2))
	if got := e.state(sam, sub2); got != 4 {
		t.Errorf("rejected: state %d", got)
	}
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", lee, "invitationId", inv2), 500, "InvitationNotPending")
	// Cancelled by the publisher before acceptance (9).
	aunt := e.createContact(sam, "Aunt", "")
	_, inv3 := e.invite(sam, aunt, "")
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", aunt))
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", lee, "invitationId", inv3), 500, "InvitationNotPending")
	e.wantError(e.call("Subscriber/RejectInvitation", "sessionId", lee, "invitationId", inv3), 500, "InvitationNotPending")
	if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", lee, "invitationId", inv3)).body; !strings.Contains(got, `"State":9`) {
		t.Errorf("cancelled invitation: %s", got)
	}
}

// TestInvitationExpiry drives docs/protocol.md, "Follower state machine"'s lazy expiry with the fake clock: at
// InviteExpires a waiting invitation reads, answers and counts as expired,
// modified at the moment it expired — whether or not a write stored it.
func TestInvitationExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.Config) { c.InviteTTL = time.Hour; c.MaxFollowers = 1 })
	sam := e.publisher("sam", "8G1234")
	e.account("kim")
	kim := e.login("kim")
	mom := e.createContact(sam, "Mom", "")
	created := e.clock.Now()
	expires := created.Add(time.Hour)
	sub, inv := e.invite(sam, mom, "")
	dad := e.createContact(sam, "Dad", "")
	e.wantError(e.call("Publisher/CreateSubscriptionInvitation", "sessionId", sam, "contactId", dad), 500, "MaxFollowersExceeded")

	e.clock.Set(expires.Add(-time.Millisecond))
	if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv)).body; !strings.Contains(got, `"State":2`) {
		t.Errorf("1 ms before expiry: %s", got)
	}

	e.clock.Set(expires)
	check := func(when string) {
		t.Helper()
		if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv)).body; !strings.Contains(got, `"State":5`) {
			t.Errorf("%s: ReadInvitation %s", when, got)
		}
		item := e.publisherList(sam)[0]
		if item["State"] != 5.0 || item["IsEnabled"] != false || fmt.Sprint(item["DateTimeModified"]) != fmt.Sprint(map[string]any{
			"DateTime": fmt.Sprintf("/Date(%d)/", expires.UnixMilli()), "OffsetMinutes": 0.0}) {
			t.Errorf("%s: listed %v", when, item)
		}
		if got := e.ok(e.call("Publisher/ReadContact", "sessionId", sam, "contactId", mom)).body; !strings.Contains(got, `"State":5`) {
			t.Errorf("%s: ReadContact %s", when, got)
		}
	}
	check("at expiry (read only)")
	e.wantError(e.call("Subscriber/AcceptInvitation", "sessionId", kim, "invitationId", inv), 500, "InvitationExpired")
	e.wantError(e.call("Subscriber/RejectInvitation", "sessionId", kim, "invitationId", inv), 500, "InvitationExpired")
	e.wantError(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", sam, "subscriptionId", sub, "permissions", "0"), 500, "SubscriptionNotActive")
	e.wantError(e.call("General/PauseSubscription", "sessionId", sam, "subscriptionId", sub), 500, "SubscriptionNotPausableState")
	if got := e.ok(e.call("Publisher/ReadSubscriptionInviteId", "sessionId", sam, "subscriptionId", sub)).body; got != `"`+inv+`"` {
		t.Errorf("invite id after expiry: %s", got)
	}
	// The expired invitation no longer counts towards the limit.
	e.invite(sam, dad, "")
	e.clock.Advance(20 * time.Hour) // within the sessions' idle lifetime
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", dad))
	check("20 hours later")

	// An expired invitation is no obstacle to a new one for the contact;
	// re-inviting stores the expiry, exactly as it was read.
	e.invite(sam, mom, "")
	err := e.store.View(context.Background(), func(tx glucose.Tx) error {
		stored, err := tx.SubscriptionByID(sub)
		if err == nil && (stored.State != glucose.StateInviteExpired || !stored.ModifiedAt.Equal(expires)) {
			t.Errorf("stored: state %d modified %v; want 5 at %v", stored.State, stored.ModifiedAt, expires)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", kim, "invitationId", inv)).body; !strings.Contains(got, `"State":5`) {
		t.Errorf("old invitation after re-invite: %s", got)
	}
}

func testSubscriberCalls(t *testing.T, e *env, n func(string) string) {
	s := e.share(n("sam"), n("kim"))
	accepted := e.clock.Now()

	want := `[{"SubscriptionId":"` + s.sub + `","SubscriberId":"` + s.folID + `","DisplayName":"Sam","Permissions":1,"State":6,` +
		`"IsEnabled":true,"IsMonitoringSessionActive":true,"DateTimeCreated":` + dateTime(accepted) +
		`,"DateTimeModified":` + dateTime(accepted) + `,"DateTimeAccepted":` + dateTime(accepted) + `}]`
	if got := e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s.fol)).body; got != want {
		t.Errorf("ListSubscriberAccountSubscriptions:\ngot  %s\nwant %s", got, want)
	}
	if got := e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s.pub)).body; got != "[]" {
		t.Errorf("publisher's own list as follower: %s", got)
	}

	// Readings: exactly as the publisher's own read, in either compat.
	pubBody := e.ok(e.call("Publisher/ReadPublisherLatestGlucoseValues", "sessionId", s.pub, "minutes", "60", "maxCount", "2")).body
	folBody := e.ok(e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", s.fol, "subscriptionId", s.sub, "minutes", "60", "maxCount", "2")).body
	if pubBody != folBody || strings.Count(folBody, `"WT"`) != 2 {
		t.Errorf("follower read %s, publisher read %s", folBody, pubBody)
	}
	legacy := e.ok(e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", s.fol, "subscriptionId", s.sub, "compat", "legacy")).body
	if !strings.Contains(legacy, `"WT":"\/Date(`) || !strings.Contains(legacy, `"Trend":4`) {
		t.Errorf("legacy read: %s", legacy)
	}
	if got := e.readFollower(s, 1440, 0); len(got) != 0 {
		t.Errorf("maxCount 0: %v", got)
	}
	e.wantError(e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", s.fol, "subscriptionId", s.sub, "minutes", "-1"), 500, "InvalidArgument")
	e.wantError(e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", s.fol), 500, "InvalidArgument")

	// ReadLastGlucoseFromSubscriptions: request order, null for anything
	// not readable, [] for [].
	newest := `{"WT":"Date(` + itoa(int(accepted.UnixMilli())) + `)","ST":"Date(` + itoa(int(accepted.UnixMilli())) +
		`)","DT":"Date(` + itoa(int(accepted.UnixMilli())) + `+0000)","Value":120,"Trend":"Flat"}`
	last := func(sid, body string) string {
		return e.ok(e.post("Subscriber/ReadLastGlucoseFromSubscriptions?sessionId="+sid, body)).body
	}
	unknown := "9a4f2c1e-6d7b-4e0a-8c3f-5b1d2e7a9c60"
	want = `[{"SubscriptionId":"junk","Egv":null},{"SubscriptionId":"` + strings.ToUpper(s.sub) + `","Egv":` + newest +
		`},{"SubscriptionId":"` + unknown + `","Egv":null},{"SubscriptionId":"17","Egv":null}]`
	if got := last(s.fol, `["junk","`+strings.ToUpper(s.sub)+`","`+unknown+`",17]`); got != want {
		t.Errorf("ReadLastGlucoseFromSubscriptions:\ngot  %s\nwant %s", got, want)
	}
	if got := last(s.pub, `["`+s.sub+`"]`); got != `[{"SubscriptionId":"`+s.sub+`","Egv":null}]` {
		t.Errorf("publisher asking as follower: %s", got)
	}
	if got := last(s.fol, `[]`); got != "[]" {
		t.Errorf("empty request: %s", got)
	}
	if got := e.ok(e.post("Subscriber/ReadLastGlucoseFromSubscriptions?compat=legacy&sessionId="+s.fol, `["`+s.sub+`"]`)).body; !strings.Contains(got, `"ST":"\/Date(`) {
		t.Errorf("legacy Egv: %s", got)
	}
	for _, bad := range []string{"", `{"ids":[]}`, `[` + strings.TrimSuffix(strings.Repeat(`"x",`, 51), ",") + `]`, `["x"`} {
		e.wantError(e.post("Subscriber/ReadLastGlucoseFromSubscriptions?sessionId="+s.fol, bad), 500, "InvalidArgument")
	}

	// Display name, image, alert settings.
	if got := e.ok(e.call("Subscriber/ReadSubscriptionDisplayName", "sessionId", s.fol, "subscriptionId", s.sub)).body; got != `"Sam"` {
		t.Errorf("display name %s", got)
	}
	e.wantError(e.do(http.MethodGet, "/ShareWebServices/Services/Subscriber/ReadSubscriptionImage?sessionId="+s.fol+"&subscriptionId="+s.sub, ""), 404, "ImageNotFound")
	png := []byte("\x89PNG\r\n\x1a\n" + "rest of image")
	e.ok(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+s.pub, fmt.Sprintf(`{"ImageType":"png","ImageData":%s}`, byteArray(png))))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := e.ok(e.do(method, "/ShareWebServices/Services/Subscriber/ReadSubscriptionImage?sessionId="+s.fol+"&subscriptionId="+s.sub, ""))
		if r.body != string(png) || r.header.Get("Content-Type") != "image/png" {
			t.Errorf("%s image: %q %q", method, r.header.Get("Content-Type"), r.body)
		}
	}
	if got := e.ok(e.call("Subscriber/ReadSubscriptionAlertSettings", "sessionId", s.fol, "subscriptionId", s.sub)).body; got != defaultAlertsJSON {
		t.Errorf("alert settings: %s", got)
	}

	// Runtime info.
	e.ok(e.post("Subscriber/UpdateSubscriberAccountRuntimeInfo", `{"sessionId":"`+s.fol+`","runtimeInfo":{"AppName":"WatchSugar"}}`))
	e.wantError(e.post("Subscriber/UpdateSubscriberAccountRuntimeInfo", `{"sessionId":"`+s.fol+`","runtimeInfo":"x"}`), 500, "InvalidArgument")
}

func byteArray(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = itoa(int(c))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func testUpdateSubscriptionAlertSettings(t *testing.T, e *env, n func(string) string) {
	s := e.share(n("sam"), n("kim"))
	read := func() string {
		return e.ok(e.call("Subscriber/ReadSubscriptionAlertSettings", "sessionId", s.fol, "subscriptionId", s.sub)).body
	}
	update := func(body string) response {
		return e.callBody("Subscriber/UpdateSubscriptionAlertSettings", body, "sessionId", s.fol, "subscriptionId", s.sub)
	}
	modified := func() string {
		return e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s.fol)).body
	}
	before := modified()
	e.clock.Advance(time.Minute)
	e.ok(update(""))
	e.ok(update(`{}`))
	if read() != defaultAlertsJSON || modified() != before {
		t.Errorf("an empty update changed something")
	}

	// A bare AlertSettings object: the present kind is replaced as a whole.
	e.ok(update(`{"LowAlert":{"IsEnabled":true,"MaxValue":80,"AlarmDelay":"PT15M"}}`))
	wantLow := `"LowAlert":{"AlertType":2,"IsEnabled":true,"MinValue":39,"MaxValue":80,"AlarmDelay":"PT15M","RealarmDelay":"PT2H0M","Sound":"Low.wav"}`
	if got := read(); !strings.Contains(got, wantLow) || !strings.Contains(got, `"HighAlert":{"AlertType":1,"IsEnabled":false,"MinValue":200`) {
		t.Errorf("after LowAlert update: %s", got)
	}
	if modified() == before {
		t.Errorf("DateTimeModified did not change")
	}
	// Wrapped in AlertSettings, with the session in the body.
	e.ok(e.post("Subscriber/UpdateSubscriptionAlertSettings?subscriptionId="+s.sub,
		`{"sessionId":"`+s.fol+`","AlertSettings":{"HighAlert":{"IsEnabled":true,"MinValue":180},"FixedLowAlert":{"MaxValue":39,"IsEnabled":false}}}`))
	got := read()
	for _, want := range []string{
		wantLow,
		`"HighAlert":{"AlertType":1,"IsEnabled":true,"MinValue":180,"MaxValue":401,"AlarmDelay":"PT1H0M"`,
		`"FixedLowAlert":{"AlertType":3,"IsEnabled":true,"MinValue":39,"MaxValue":55`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("after wrapped update, missing %s in %s", want, got)
		}
	}
	// The publisher sees the follower's settings; the invitation keeps its own.
	if pub := e.ok(e.call("General/ReadSubscriptionAlerts", "sessionId", s.pub, "subscriptionId", s.sub)).body; pub != got {
		t.Errorf("publisher reads %s, follower %s", pub, got)
	}
	if inv := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", s.fol, "invitationId", s.inv)).body; !strings.Contains(inv, defaultAlertsJSON) {
		t.Errorf("invitation settings changed: %s", inv)
	}

	// Failures change nothing.
	for _, bad := range []string{`[1]`, `{"LowAlert":{"MaxValue":402}}`, `{"HighAlert":{"IsEnabled":true,"MinValue":39,"MaxValue":401}}`,
		`{"AlertSettings":"x"}`, `{"NoDataAlert":{"AlarmDelay":"soon"}}`, `{"LowAlert":{"MaxValue":60},"HighAlert":{"MaxValue":0}}`} {
		e.wantError(update(bad), 500, "InvalidArgument")
	}
	if read() != got {
		t.Errorf("a failed update changed the settings")
	}
	e.wantError(e.callBody("Subscriber/UpdateSubscriptionAlertSettings", `{}`, "sessionId", s.pub, "subscriptionId", s.sub), 500, "SubscriptionIdNotFound")
	e.ok(e.call("General/PauseSubscription", "sessionId", s.pub, "subscriptionId", s.sub))
	e.ok(update(`{"LowAlert":{"MaxValue":75}}`)) // paused: still the follower's to change
	e.ok(e.call("Publisher/DeleteContact", "sessionId", s.pub, "contactId", s.contact))
	e.wantError(update(`{"LowAlert":{"MaxValue":75}}`), 500, "SubscriptionNotActive")
	e.wantError(update(`{"LowAlert":{"MaxValue":402}}`), 500, "InvalidArgument") // parameters before state
}

func testDeleteSubscription(t *testing.T, e *env, n func(string) string) {
	s := e.share(n("sam"), n("kim"))
	del := func(sid string) response {
		return e.call("Subscriber/DeleteSubscription", "sessionId", sid, "subscriptionId", s.sub)
	}
	e.wantError(del(s.pub), 500, "SubscriptionIdNotFound") // Subscriber/ calls act for the subscriber only
	e.ok(e.call("General/PauseSubscription", "sessionId", s.pub, "subscriptionId", s.sub))
	e.ok(del(s.fol))
	if got := e.state(s.pub, s.sub); got != 10 {
		t.Errorf("left while paused: state %d", got)
	}
	e.ok(del(s.fol)) // 10: no change
	if got := e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s.fol)).body; got != "[]" {
		t.Errorf("list after leaving: %s", got)
	}
	// DeleteContact in 10 → 11.
	e.ok(e.call("Publisher/DeleteContact", "sessionId", s.pub, "contactId", s.contact))
	e.ok(del(s.fol))
	e.wantError(e.call("Subscriber/ReadSubscriptionDisplayName", "sessionId", s.fol, "subscriptionId", s.sub), 500, "SubscriptionIdNotFound")

	// 9 → 11; listed as cancelled until then.
	s2 := e.share(n("lee"), n("kim"))
	e.ok(e.call("Publisher/DeleteContact", "sessionId", s2.pub, "contactId", s2.contact))
	if got := e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s2.fol)).body; !strings.Contains(got, `"State":9,"IsEnabled":false`) {
		t.Errorf("cancelled by publisher: %s", got)
	}
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", s2.fol, "subscriptionId", s2.sub))
	if got := e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", s2.fol)).body; got != "[]" {
		t.Errorf("after leaving a cancelled one: %s", got)
	}
	e.wantError(e.call("Subscriber/DeleteSubscription", "sessionId", s.fol, "subscriptionId", "junk"), 500, "SubscriptionIdNotFound")
}

// testSubscriberListOrder: active first, then paused, then cancelled; each
// group by acceptance, so [0] stays stable as shares are added.
func testSubscriberListOrder(t *testing.T, e *env, n func(string) string) {
	var subs []string
	var kim string
	e.account(n("kim"))
	kim = e.login(n("kim"))
	for _, name := range []string{"ann", "bob", "cat", "dan"} {
		sid := e.publisher(n(name), serialFor(n(name)))
		c := e.createContact(sid, "Kim", "")
		sub, inv := e.invite(sid, c, "")
		e.accept(kim, inv)
		subs = append(subs, sub)
		e.clock.Advance(time.Minute)
		switch name {
		case "ann":
			e.ok(e.call("General/PauseSubscription", "sessionId", kim, "subscriptionId", sub))
		case "bob":
			e.ok(e.call("Publisher/DeleteContact", "sessionId", sid, "contactId", c))
		case "cat":
			e.ok(e.call("General/PauseSubscription", "sessionId", sid, "subscriptionId", sub))
		}
	}
	var items []map[string]any
	json.Unmarshal([]byte(e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", kim)).body), &items)
	var got []string
	for _, it := range items {
		got = append(got, it["SubscriptionId"].(string))
	}
	if want := []string{subs[3], subs[0], subs[2], subs[1]}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want dan (6), ann (8), cat (7), bob (9)", got)
	}
}

// testFollowerEndpointsSessionAndIDs: every follower endpoint checks the
// session first; an id parameter that is absent is InvalidArgument.
func testFollowerEndpointsSessionAndIDs(t *testing.T, e *env, n func(string) string) {
	for _, ep := range followerEndpoints {
		e.wantError(e.post(ep, ""), 500, "SessionIdNotFound")
	}
	e.account(n("sam"))
	sam := e.login(n("sam"))
	for _, ep := range []string{
		"Publisher/ReadContact", "Publisher/UpdateContactName", "Publisher/DeleteContact",
		"Publisher/CreateSubscriptionInvitation", "Publisher/ReadSubscriptionInviteId",
		"Publisher/UpdateSubscriptionPermissions", "General/ReadSubscriptionAlerts", "General/PauseSubscription",
		"General/ResumeSubscription", "Subscriber/ReadSubscriptionLatestGlucoseValues", "Subscriber/ReadInvitation",
		"Subscriber/AcceptInvitation", "Subscriber/RejectInvitation", "Subscriber/DeleteSubscription",
		"Subscriber/ReadSubscriptionDisplayName", "Subscriber/ReadSubscriptionImage",
		"Subscriber/ReadSubscriptionAlertSettings", "Subscriber/UpdateSubscriptionAlertSettings",
	} {
		we := e.wantError(e.call(ep, "sessionId", sam), 500, "InvalidArgument")
		if !strings.Contains(we.Message, "Id is missing") {
			t.Errorf("%s: message %q", ep, we.Message)
		}
	}
}

var followerEndpoints = []string{
	"Publisher/DoesContactExistByName", "Publisher/CreateContact", "Publisher/ReadContact",
	"Publisher/UpdateContactName", "Publisher/DeleteContact", "Publisher/CreateSubscriptionInvitation",
	"Publisher/ReadSubscriptionInviteId", "Publisher/ListPublisherAccountSubscriptions",
	"Publisher/UpdateSubscriptionPermissions", "General/ReadSubscriptionAlerts", "General/PauseSubscription",
	"General/ResumeSubscription", "Subscriber/ListSubscriberAccountSubscriptions",
	"Subscriber/ReadSubscriptionLatestGlucoseValues", "Subscriber/ReadLastGlucoseFromSubscriptions",
	"Subscriber/ReadInvitation", "Subscriber/AcceptInvitation", "Subscriber/RejectInvitation",
	"Subscriber/DeleteSubscription", "Subscriber/ReadSubscriptionDisplayName", "Subscriber/ReadSubscriptionImage",
	"Subscriber/ReadSubscriptionAlertSettings", "Subscriber/UpdateSubscriptionAlertSettings",
	"Subscriber/UpdateSubscriberAccountRuntimeInfo",
}

// newMailEnv is an env whose invitations are e-mailed through a real SMTP
// client to addr.
func newMailEnv(t *testing.T, host string, port int) (*env, *mail.Sender) {
	t.Helper()
	sender, err := mail.New(mail.Config{Host: host, Port: port, TLS: mail.TLSNone,
		From: "glucoshare <share@example.org>", Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close(context.Background()) })
	e := newEnv(t, func(c *core.Config) {
		c.Mailer = sender
		c.PublicURL = "https://gs.example.org/"
	})
	return e, sender
}

// TestFollowerStory is the end-to-end story through HTTP: invitation by
// e-mail, acceptance, reads, permission change, pause, resume, deletion.
func TestFollowerStory(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t)
	e, sender := newMailEnv(t, smtp.Host, smtp.Port)
	sam := e.publisher("sam", "8G1234")
	// A contact without an address: its invitation sends nothing.
	e.invite(sam, e.createContact(sam, "No address", ""), "")
	e.postReadings(sam, "8G1234", 95, 100, 105, 110)
	e.account("mom")
	mom := e.login("mom")
	momID := e.accountID("mom")

	// The publisher creates a contact with an e-mail and invites with alerts.
	contact := e.createContact(sam, "Mom", "mom@example.org")
	sub := e.okID(e.callBody("Publisher/CreateSubscriptionInvitation",
		`{"Permissions":1,"DisplayName":"Sam","AlertSettings":{"LowAlert":{"IsEnabled":true,"MaxValue":75}}}`,
		"sessionId", sam, "contactId", contact))
	inv := e.okID(e.call("Publisher/ReadSubscriptionInviteId", "sessionId", sam, "subscriptionId", sub))

	// The e-mail arrives with the invitation id and the accept link.
	m := smtp.Next(t, 10*time.Second)
	if len(m.To) != 1 || m.To[0] != "mom@example.org" {
		t.Errorf("e-mail to %v", m.To)
	}
	link := "https://gs.example.org/invite/" + inv
	if !strings.Contains(m.Body, inv) || !strings.Contains(m.Body, link) || !strings.Contains(m.Header.Get("Subject"), "Sam") ||
		!strings.Contains(m.Body, "Proposed alerts: urgent low below 55 mg/dL, low below 75 mg/dL.") {
		t.Errorf("e-mail %q:\n%s", m.Header.Get("Subject"), m.Body)
	}

	// The follower reads and accepts the invitation, then lists and reads.
	if got := e.ok(e.call("Subscriber/ReadInvitation", "sessionId", mom, "invitationId", inv)).body; !strings.Contains(got, `"MaxValue":75`) {
		t.Errorf("invitation: %s", got)
	}
	if got := e.accept(mom, inv); got != sub {
		t.Fatalf("accepted %s, want %s", got, sub)
	}
	var list []map[string]any
	json.Unmarshal([]byte(e.ok(e.call("Subscriber/ListSubscriberAccountSubscriptions", "sessionId", mom)).body), &list)
	if len(list) != 1 || list[0]["SubscriptionId"] != sub || list[0]["State"] != 6.0 {
		t.Fatalf("follower's list: %v", list)
	}
	fs := sharing{pub: sam, fol: mom, sub: sub}
	if got := e.readFollower(fs, 1440, 10); len(got) != 4 || got[0]["Value"] != 110.0 {
		t.Errorf("follower reads %v", got)
	}
	if got := e.ok(e.post("Subscriber/ReadLastGlucoseFromSubscriptions?sessionId="+mom, `["`+sub+`"]`)).body; !strings.Contains(got, `"Value":110`) {
		t.Errorf("last glucose: %s", got)
	}

	// The publisher sees the follower.
	item := e.listed(sam, sub)
	if item["State"] != 6.0 || item["SubscriberId"] != momID || item["IsEnabled"] != true {
		t.Errorf("publisher's list: %v", item)
	}

	// Permission 0: only the newest reading.
	e.ok(e.call("Publisher/UpdateSubscriptionPermissions", "sessionId", sam, "subscriptionId", sub, "permissions", "0"))
	if got := e.readFollower(fs, 1440, 10); len(got) != 1 || got[0]["Value"] != 110.0 {
		t.Errorf("with permission 0: %v", got)
	}

	// Paused by the publisher: the follower is refused; resumed: reads again.
	e.ok(e.call("General/PauseSubscription", "sessionId", sam, "subscriptionId", sub))
	read := func() response {
		return e.call("Subscriber/ReadSubscriptionLatestGlucoseValues", "sessionId", mom, "subscriptionId", sub)
	}
	e.wantError(read(), 500, "SubscriptionNotActive")
	if got := e.ok(e.post("Subscriber/ReadLastGlucoseFromSubscriptions?sessionId="+mom, `["`+sub+`"]`)).body; !strings.Contains(got, `"Egv":null`) {
		t.Errorf("last glucose while paused: %s", got)
	}
	e.ok(e.call("General/ResumeSubscription", "sessionId", sam, "subscriptionId", sub))
	e.ok(read())

	// The contact is deleted: access ends at once.
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", contact))
	e.wantError(read(), 500, "SubscriptionNotActive")
	e.wantError(e.call("Subscriber/ReadSubscriptionDisplayName", "sessionId", mom, "subscriptionId", sub), 500, "SubscriptionNotActive")
	e.wantError(e.call("General/ReadSubscriptionAlerts", "sessionId", sam, "subscriptionId", sub), 500, "SubscriptionIdNotFound")
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", mom, "subscriptionId", sub))
	e.wantError(read(), 500, "SubscriptionIdNotFound")
	if list := e.publisherList(sam); len(list) != 1 || list[0]["ContactName"] != "No address" {
		t.Errorf("publisher's list at the end: %v", list)
	}

	// One e-mail in all: none for the contact without an address.
	if err := sender.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-smtp.Messages:
		t.Errorf("unexpected e-mail to %v", m.To)
	default:
	}
}

// TestInvitationMailFailure: a failing mail server never loses the
// invitation, which stays waiting and readable by its id.
func TestInvitationMailFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	e, sender := newMailEnv(t, "127.0.0.1", port)
	sam := e.publisher("sam", "8G1234")
	contact := e.createContact(sam, "Mom", "mom@example.org")
	sub, inv := e.invite(sam, contact, "")
	if err := sender.Close(context.Background()); err != nil { // waits for the attempt
		t.Fatal(err)
	}
	if got := e.state(sam, sub); got != 2 {
		t.Errorf("state after a failed e-mail: %d, want 2", got)
	}
	e.account("mom")
	e.accept(e.login("mom"), inv)
}
