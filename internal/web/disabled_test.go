package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/web"
)

// call calls a Share endpoint of the test server and returns the status
// and body.
func (e *env) call(path, body string) (int, string) {
	e.t.Helper()
	res, err := http.Post(e.srv.URL+"/ShareWebServices/Services/"+path, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// shareLogin logs in through the protocol and returns the session id.
func (e *env) shareLogin(name string) string {
	e.t.Helper()
	status, body := e.call("General/LoginPublisherAccountByName", `{"accountName":"`+name+`","password":"`+password+`"}`)
	var id string
	if status != 200 || json.Unmarshal([]byte(body), &id) != nil {
		e.t.Fatalf("login %s: %d %s", name, status, body)
	}
	return id
}

// token creates an image link on page (profile or following) and returns
// its token.
func (b *browser) token(page string, fields ...string) string {
	b.e.t.Helper()
	p := b.post("/tokens", append([]string{"csrf", b.csrf("/" + page), "back", page, "label", "x"}, fields...)...)
	m := regexp.MustCompile(`token=([A-Za-z0-9_-]{22})"`).FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no token on the page:\n%s", p.body)
	}
	return m[1]
}

// TestDisabledAccountStopsEverything: once an account is disabled, nothing
// reads its data any more — its own image links, its followers' image
// links, its followers' sessions (images, Share reads), its waiting
// invitations — and the image links of a disabled follower stop too.
// Enabling it again restores them: disabling deletes nothing.
func TestDisabledAccountStopsEverything(t *testing.T) {
	e := newEnv(t, web.Options{})
	p := e.share(true, glucose.UnitsUnset)
	sb, kb, sam, kim, subID := p.sb, p.kb, p.sam, p.kim, subscriptionOf(t, p.sb)
	e.upload(sam, 100, 110, 120)
	own := sb.token("profile")
	followerToken := kb.token("following", "subscription", subID)
	waiting := sb.invite("Lee", true)
	e.account("lee", "Lee")
	lb := e.browser()
	lb.signIn("lee")
	kimSID, leeSID := e.shareLogin("kim"), e.shareLogin("lee")
	invitationID := strings.TrimPrefix(waiting, "/invite/")
	anon := e.browser()
	ownImage, followerImage := "/image/"+sam+".png?token="+own, "/image/"+sam+".png?token="+followerToken
	for _, u := range []string{ownImage, followerImage} {
		if p := anon.get(u); p.status != 200 {
			t.Fatalf("%s before: %d", u, p.status)
		}
	}

	setDisabled := func(id string, disabled bool) {
		t.Helper()
		if err := e.svc.SetDisabled(context.Background(), id, disabled, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(sam, true)
	for _, u := range []string{ownImage, followerImage} {
		if p := anon.get(u); p.status != http.StatusNotFound {
			t.Errorf("image link %s of a disabled sharer: %d, want 404", u, p.status)
		}
	}
	if p := kb.get("/image/" + sam + ".png"); p.status != http.StatusNotFound {
		t.Errorf("follower's session, disabled sharer's image: %d, want 404", p.status)
	}
	if p := kb.get("/"); strings.Contains(p.body, `<span class="value">120</span>`) {
		t.Error("the follower's dashboard still shows a disabled sharer's value")
	}
	for _, c := range []struct{ path, body, want string }{
		{"Subscriber/ReadSubscriptionLatestGlucoseValues?sessionId=" + kimSID + "&subscriptionId=" + subID, "", `"SubscriptionNotActive"`},
		{"Subscriber/ReadSubscriptionDisplayName?sessionId=" + kimSID + "&subscriptionId=" + subID, "", `"SubscriptionNotActive"`},
		{"Subscriber/ReadLastGlucoseFromSubscriptions?sessionId=" + kimSID, `["` + subID + `"]`, `"Egv":null`},
		{"Subscriber/ReadInvitation?sessionId=" + leeSID + "&invitationId=" + invitationID, "", `"InvitationIdNotFound"`},
		{"Subscriber/AcceptInvitation?sessionId=" + leeSID + "&invitationId=" + invitationID, "", `"InvitationIdNotFound"`},
	} {
		if _, body := e.call(c.path, c.body); !strings.Contains(body, c.want) {
			t.Errorf("%s: %s, want %s", strings.SplitN(c.path, "?", 2)[0], body, c.want)
		}
	}
	if p := lb.get(waiting); !strings.Contains(p.body, "not found") && p.status != http.StatusNotFound &&
		p.status != http.StatusUnprocessableEntity {
		t.Errorf("a disabled sharer's invitation page: %d\n%.300s", p.status, p.body)
	}

	setDisabled(sam, false)
	for _, u := range []string{ownImage, followerImage} {
		if p := anon.get(u); p.status != 200 {
			t.Errorf("%s after enabling again: %d", u, p.status)
		}
	}
	// A disabled follower's image links stop as well.
	setDisabled(kim, true)
	if p := anon.get(followerImage); p.status != http.StatusNotFound {
		t.Errorf("image link of a disabled follower: %d, want 404", p.status)
	}
}
