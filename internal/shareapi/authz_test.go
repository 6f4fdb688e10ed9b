package shareapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The authorization matrix of docs/protocol.md, "Access rules": every actor that must not
// reach a contact, subscription or invitation gets the answer for an id
// that does not exist — same status, Code and Message template — or the
// exact answer the docs/protocol.md, "Access rules" table gives, and nothing changes.

// idCall is an endpoint that takes one id parameter.
type idCall struct {
	path  string
	param string   // contactId, subscriptionId or invitationId
	extra []string // further query parameters
	body  string
}

var (
	contactCalls = []idCall{
		{path: "Publisher/ReadContact", param: "contactId"},
		{path: "Publisher/UpdateContactName", param: "contactId", extra: []string{"contactName", "Taken over"}},
		{path: "Publisher/DeleteContact", param: "contactId"},
		{path: "Publisher/CreateSubscriptionInvitation", param: "contactId", body: `{"Permissions":0}`},
	}
	publisherSubCalls = []idCall{
		{path: "Publisher/ReadSubscriptionInviteId", param: "subscriptionId"},
		{path: "Publisher/UpdateSubscriptionPermissions", param: "subscriptionId", extra: []string{"permissions", "0"}},
	}
	readAlerts   = idCall{path: "General/ReadSubscriptionAlerts", param: "subscriptionId"}
	pause        = idCall{path: "General/PauseSubscription", param: "subscriptionId"}
	resume       = idCall{path: "General/ResumeSubscription", param: "subscriptionId"}
	generalCalls = []idCall{readAlerts, pause, resume}

	readLatest   = idCall{path: "Subscriber/ReadSubscriptionLatestGlucoseValues", param: "subscriptionId", extra: []string{"maxCount", "10"}}
	displayName  = idCall{path: "Subscriber/ReadSubscriptionDisplayName", param: "subscriptionId"}
	image        = idCall{path: "Subscriber/ReadSubscriptionImage", param: "subscriptionId"}
	readSettings = idCall{path: "Subscriber/ReadSubscriptionAlertSettings", param: "subscriptionId"}
	setSettings  = idCall{path: "Subscriber/UpdateSubscriptionAlertSettings", param: "subscriptionId",
		body: `{"LowAlert":{"IsEnabled":true,"MaxValue":100}}`}
	leave = idCall{path: "Subscriber/DeleteSubscription", param: "subscriptionId"}
	// subscriberReads are the calls of docs/protocol.md, "Access rules"'s third row.
	subscriberReads = []idCall{displayName, image, readSettings, setSettings}
	subscriberCalls = append([]idCall{readLatest, leave}, subscriberReads...)

	invitationCalls = []idCall{
		{path: "Subscriber/ReadInvitation", param: "invitationId"},
		{path: "Subscriber/AcceptInvitation", param: "invitationId"},
		{path: "Subscriber/RejectInvitation", param: "invitationId"},
	}
)

// matrix runs and counts the cells.
type matrix struct {
	e     *env
	cells int
}

func (m *matrix) send(sid string, c idCall, id string) response {
	m.e.t.Helper()
	kv := append([]string{"sessionId", sid, c.param, id}, c.extra...)
	return m.e.callBody(c.path, c.body, kv...)
}

// likeUnknown checks that id answers exactly as an id that was never
// issued, for this caller.
func (m *matrix) likeUnknown(who, sid string, c idCall, id string) {
	m.e.t.Helper()
	m.cells++
	unknown := share.NewID()
	got, ref := m.send(sid, c, id), m.send(sid, c, unknown)
	gotErr := m.e.wantError(got, ref.status, errorCode(ref))
	refErr := m.e.wantError(ref, ref.status, errorCode(ref))
	switch refErr.Code {
	case "ContactIdNotFound", "SubscriptionIdNotFound", "InvitationIdNotFound":
	default:
		m.e.t.Errorf("%s %s: an unknown id answers %s", who, c.path, refErr.Code)
	}
	if want := strings.Replace(refErr.Message, unknown, id, 1); gotErr.Message != want {
		m.e.t.Errorf("%s %s(%s): message %q, want %q", who, c.path, id, gotErr.Message, want)
	}
}

// answer checks that the call gets exactly code.
func (m *matrix) answer(who, sid string, c idCall, id, code string) {
	m.e.t.Helper()
	m.cells++
	r := m.send(sid, c, id)
	if r.status == http.StatusOK {
		m.e.t.Errorf("%s %s(%s): 200 %s, want %s", who, c.path, id, r.body, code)
		return
	}
	m.e.wantError(r, 500, code)
}

// nullEgv checks that ReadLastGlucoseFromSubscriptions gives null for id.
func (m *matrix) nullEgv(who, sid, id string) {
	m.e.t.Helper()
	m.cells++
	r := m.e.ok(m.e.post("Subscriber/ReadLastGlucoseFromSubscriptions?sessionId="+sid, `["`+id+`"]`))
	if want := `[{"SubscriptionId":"` + id + `","Egv":null}]`; r.body != want {
		m.e.t.Errorf("%s ReadLastGlucoseFromSubscriptions: %s, want %s", who, r.body, want)
	}
}

// stranger checks every contact, subscription and invitation call of a
// share against someone it is not.
func (m *matrix) stranger(who, sid string, s sharing) {
	m.e.t.Helper()
	for _, c := range contactCalls {
		m.likeUnknown(who, sid, c, s.contact)
	}
	for _, c := range append(append(append([]idCall{}, publisherSubCalls...), generalCalls...), subscriberCalls...) {
		m.likeUnknown(who, sid, c, s.sub)
	}
	m.nullEgv(who, sid, s.sub)
	for _, c := range invitationCalls {
		m.answer(who, sid, c, s.inv, "InvitationAlreadyAccepted")
	}
}

func errorCode(r response) string {
	var we struct{ Code string }
	json.Unmarshal([]byte(r.body), &we)
	return we.Code
}

// snapshot is every contact and subscription row of the given ids, as
// stored.
func snapshot(t *testing.T, e *env, contacts, subs []string) string {
	t.Helper()
	var b strings.Builder
	err := e.store.View(context.Background(), func(tx glucose.Tx) error {
		for _, id := range contacts {
			c, err := tx.ContactByID(id)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%+v\n", *c)
		}
		for _, id := range subs {
			s, err := tx.SubscriptionByID(id)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%+v\n", *s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *core.Config) { c.InviteTTL = time.Hour })
	m := &matrix{e: e}

	// The expired invitee: invited by sam, never answered, now past expiry.
	sam := e.publisher("sam", "8GSAM")
	e.account("eve")
	eve := e.login("eve")
	eveContact := e.createContact(sam, "Eve", "")
	eveSub, eveInv := e.invite(sam, eveContact, "")
	e.clock.Advance(2 * time.Hour)
	e.postReadings(sam, "8GSAM", 100, 105)

	// Sam's followers, one per state of docs/protocol.md, "Access rules".
	s := e.share("sam", "kim")      // the target: kim follows sam, active
	s.pub = sam                     // share logged in again; keep one session
	other := e.share("sam", "otto") // another follower of sam, active
	p7 := e.share("sam", "paula")   // paused by sam (7)
	p8 := e.share("sam", "pete")    // paused by pete (8)
	c9 := e.share("sam", "carl")    // contact deleted by sam (9)
	c10 := e.share("sam", "cora")   // cora left (10)
	c11 := e.share("sam", "cleo")   // both (11)
	rival := e.share("rita", "rob") // another publisher with her own follower
	e.ok(e.call("General/PauseSubscription", "sessionId", sam, "subscriptionId", p7.sub))
	e.ok(e.call("General/PauseSubscription", "sessionId", p8.fol, "subscriptionId", p8.sub))
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", c9.contact))
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", c10.fol, "subscriptionId", c10.sub))
	e.ok(e.call("Subscriber/DeleteSubscription", "sessionId", c11.fol, "subscriptionId", c11.sub))
	e.ok(e.call("Publisher/DeleteContact", "sessionId", sam, "contactId", c11.contact))
	e.account("stan")
	stan := e.login("stan")
	// Ended sessions of kim and sam.
	kimOld, samOld := e.login("kim"), e.login("sam")
	e.ok(e.call("Publisher/LogoutPublisherAccount", "sessionId", kimOld))
	e.ok(e.call("Publisher/LogoutPublisherAccount", "sessionId", samOld))

	all := []sharing{s, other, p7, p8, c9, c10, c11, rival}
	var contacts, subs []string
	for _, x := range all {
		contacts, subs = append(contacts, x.contact), append(subs, x.sub)
	}
	contacts, subs = append(contacts, eveContact), append(subs, eveSub)
	before := snapshot(t, e, contacts, subs)

	// Accounts with no part in kim's subscription.
	m.stranger("stranger", stan, s)
	m.stranger("other publisher", rival.pub, s)
	m.stranger("other follower", other.fol, s)
	m.stranger("expired invitee", eve, s)
	m.stranger("paused follower", p7.fol, s)
	m.stranger("cancelled follower", c10.fol, s)
	m.stranger("follower of another publisher", rival.fol, s)

	// The follower on publisher calls, the publisher on subscriber calls.
	for _, c := range contactCalls {
		m.likeUnknown("follower", s.fol, c, s.contact)
	}
	for _, c := range publisherSubCalls {
		m.likeUnknown("follower", s.fol, c, s.sub)
	}
	for _, c := range subscriberCalls {
		m.likeUnknown("publisher", sam, c, s.sub)
	}
	m.nullEgv("publisher", sam, s.sub)

	// The expired invitee and its own (never accepted) subscription.
	for _, c := range invitationCalls[1:] {
		m.answer("expired invitee", eve, c, eveInv, "InvitationExpired")
	}
	for _, c := range append(append([]idCall{}, generalCalls...), subscriberCalls...) {
		m.likeUnknown("expired invitee", eve, c, eveSub)
	}
	m.nullEgv("expired invitee", eve, eveSub)

	// Paused (7 by the publisher, 8 by the follower).
	m.answer("paused (7)", p7.fol, readLatest, p7.sub, "SubscriptionNotActive")
	m.answer("paused (7)", p7.fol, pause, p7.sub, "SubscriptionNotPausableState")
	m.answer("paused (7)", p7.fol, resume, p7.sub, "SubscriptionNotPaused")
	m.nullEgv("paused (7)", p7.fol, p7.sub)
	m.answer("paused (8)", p8.fol, readLatest, p8.sub, "SubscriptionNotActive")
	m.answer("paused (8), publisher", sam, pause, p8.sub, "SubscriptionNotPausableState")
	m.answer("paused (8), publisher", sam, resume, p8.sub, "SubscriptionNotPaused")
	m.nullEgv("paused (8)", p8.fol, p8.sub)

	// Cancelled by the publisher (9): the follower gets SubscriptionNotActive,
	// the publisher "not found" (its contact is deleted).
	for _, c := range append([]idCall{readLatest, readAlerts}, subscriberReads...) {
		m.answer("cancelled (9)", c9.fol, c, c9.sub, "SubscriptionNotActive")
	}
	m.answer("cancelled (9)", c9.fol, pause, c9.sub, "SubscriptionNotPausableState")
	m.answer("cancelled (9)", c9.fol, resume, c9.sub, "SubscriptionNotPaused")
	m.nullEgv("cancelled (9)", c9.fol, c9.sub)
	for _, c := range contactCalls {
		if c.path == "Publisher/DeleteContact" {
			m.answer("cancelled (9), publisher", sam, c, c9.contact, "ContactAlreadyDeleted")
			continue
		}
		m.likeUnknown("cancelled (9), publisher", sam, c, c9.contact)
	}
	for _, c := range append(append([]idCall{}, publisherSubCalls...), generalCalls...) {
		m.likeUnknown("cancelled (9), publisher", sam, c, c9.sub)
	}

	// Cancelled by the follower (10) and by both (11): not found, except
	// that leaving again changes nothing.
	for _, x := range []sharing{c10, c11} {
		for _, c := range append(append([]idCall{readLatest}, subscriberReads...), generalCalls...) {
			m.likeUnknown(fmt.Sprint("cancelled ", x.fol), x.fol, c, x.sub)
		}
		m.nullEgv("cancelled", x.fol, x.sub)
		e.ok(m.send(x.fol, leave, x.sub))
	}

	// Ended sessions: SessionNotValid before anything else.
	for _, ended := range []string{kimOld, samOld} {
		for _, c := range append(append(append(append([]idCall{}, contactCalls...), publisherSubCalls...), generalCalls...), subscriberCalls...) {
			id := s.sub
			if c.param == "contactId" {
				id = s.contact
			}
			m.answer("logged out", ended, c, id, "SessionNotValid")
		}
		for _, c := range invitationCalls {
			m.answer("logged out", ended, c, s.inv, "SessionNotValid")
		}
	}

	if after := snapshot(t, e, contacts, subs); after != before {
		t.Errorf("data changed:\nbefore %s\nafter  %s", before, after)
	}
	// And the real follower still reaches its subscription.
	e.ok(m.send(s.fol, readLatest, s.sub))
	t.Logf("authorization matrix: %d cells checked", m.cells)
}
