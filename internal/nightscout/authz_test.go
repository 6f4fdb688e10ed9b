package nightscout_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestAuthorizationMatrix runs every endpoint with every kind of
// credential (role × the forms clients send it in × whose account it is)
// at the root and at two accounts' sites, and checks each answer against
// the rules: the role allows the operation, the site's account is the
// credential's, and no cell ever reads or writes another account's data.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const samSite, kimSite = "sam-site-handle", "kim-site-handle"
	sam, kim := e.account("sam", samSecret), e.account("kim", kimSecret)
	lee, max, dan := e.account("lee", ""), e.account("max", ""), e.account("dan", "dan's nightscout secret")
	if _, err := e.svc.SetNightscoutSite(ctx, sam, samSite, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetNightscoutSite(ctx, kim, kimSite, false); err != nil {
		t.Fatal(err)
	}
	e.upload(sam, reading{1, 120, 4})
	e.upload(kim, reading{1, 250, 4})
	e.upload(dan, reading{1, 333, 4})
	for _, owner := range []struct{ id, name string }{{sam, "sam"}, {kim, "kim"}, {dan, "dan"}} {
		e.seed(owner.id, owner.name)
	}
	leeToken := e.follow(sam, lee, 1)
	maxToken := e.follow(sam, max, 0)
	danFollower := e.follow(dan, lee, 1)
	if err := e.svc.SetDisabled(ctx, dan, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	type credential struct {
		name    string
		owner   string // whose data it reaches: "" none
		admin   bool
		current bool // permission 0: the newest reading alone, no documents
		apply   func(path string) (string, []string)
	}
	secretForms := func(name, owner, secret string) []credential {
		h := core.NightscoutSecretHash(secret)
		return []credential{
			{name + " as api-secret SHA-1", owner, true, false, header("api-secret", h)},
			{name + " as api-secret plain", owner, true, false, header("api-secret", secret)},
			{name + " as ?secret=", owner, true, false, query("secret", h)},
		}
	}
	tokenForms := func(name, owner, token string, admin, current bool) []credential {
		jwt := e.jwt(token)
		return []credential{
			{name + " as ?token=", owner, admin, current, query("token", token)},
			{name + " as Bearer", owner, admin, current, header("Authorization", "Bearer "+token)},
			{name + " as Bearer JWT", owner, admin, current, header("Authorization", "Bearer "+jwt)},
			{name + " as ?token=JWT", owner, admin, current, query("token", jwt)},
			{name + " as api-secret SHA-1", owner, admin, current, header("api-secret", core.NightscoutSecretHash(token))},
			// py-nightscout's access_token (marciogranzotto/py-nightscout,
			// py_nightscout/api.py request_headers).
			{name + " as api-secret token=", owner, admin, current, header("api-secret", "token="+token)},
		}
	}
	var creds []credential
	creds = append(creds, secretForms("sam's secret", "sam", samSecret)...)
	creds = append(creds, tokenForms("sam's read-write token", "sam", e.token(sam, false), true, false)...)
	creds = append(creds, tokenForms("sam's read-only token", "sam", e.token(sam, true), false, false)...)
	creds = append(creds, tokenForms("lee's follower token", "sam", leeToken, false, false)...)
	creds = append(creds, tokenForms("max's current-value token", "sam", maxToken, false, true)...)
	creds = append(creds, secretForms("kim's secret", "kim", kimSecret)[:1]...)
	creds = append(creds, tokenForms("kim's read-write token", "kim", e.token(kim, false), true, false)[:1]...)
	creds = append(creds,
		credential{"dan's secret (disabled)", "", false, false, header("api-secret", core.NightscoutSecretHash("dan's nightscout secret"))},
		credential{"lee's token on disabled dan", "", false, false, query("token", danFollower)},
		credential{"no credential", "", false, false, func(p string) (string, []string) { return p, nil }},
		credential{"a wrong secret", "", false, false, header("api-secret", core.NightscoutSecretHash("wrong"))},
		credential{"a wrong token", "", false, false, query("token", "gs-00000000000000000000000000000000")},
	)

	type endpoint struct {
		method, path string
		write        bool
		admin        bool // needs admin even to read (experiments/test)
		body         func(marker string) string
	}
	now := t0.UnixMilli()
	n := 0
	unique := func() int64 { n++; return now - int64(n)*1000 }
	endpoints := []endpoint{
		{method: "GET", path: "/api/v1/entries.json?count=100"},
		{method: "GET", path: "/api/v1/entries/current.json"},
		{method: "GET", path: "/api/v1/treatments.json"},
		{method: "GET", path: "/api/v1/devicestatus.json"},
		{method: "GET", path: "/api/v1/profile/current.json"},
		{method: "GET", path: "/api/v1/food.json"},
		{method: "GET", path: "/api/v1/activity.json"},
		{method: "GET", path: "/api/v1/status.json"},
		{method: "GET", path: "/pebble"},
		{method: "GET", path: "/api/v1/experiments/test", admin: true},
		{method: "GET", path: "/api/v2/authorization/subjects", admin: true},
		{method: "POST", path: "/api/v1/entries", write: true, body: func(m string) string {
			return fmt.Sprintf(`[{"type":"mbg","mbg":99,"date":%d,"device":%q}]`, unique(), m)
		}},
		{method: "POST", path: "/api/v1/treatments", write: true, body: func(m string) string {
			// A treatment at the time and of the type of another replaces it.
			return fmt.Sprintf(`{"eventType":"Note","notes":%q,"created_at":%q}`, m, glucose.FromMS(unique()).Format(time.RFC3339Nano))
		}},
		{method: "PUT", path: "/api/v1/treatments", write: true, body: func(m string) string {
			return fmt.Sprintf(`{"eventType":"Note","notes":%q,"created_at":%q}`, m, glucose.FromMS(unique()).Format(time.RFC3339Nano))
		}},
		{method: "POST", path: "/api/v1/devicestatus", write: true, body: func(m string) string { return fmt.Sprintf(`{"device":%q}`, m) }},
		{method: "POST", path: "/api/v1/profile", write: true, body: func(m string) string { return fmt.Sprintf(`{"defaultProfile":%q}`, m) }},
		{method: "POST", path: "/api/v1/food", write: true, body: func(m string) string { return fmt.Sprintf(`{"name":%q}`, m) }},
		{method: "POST", path: "/api/v1/activity", write: true, body: func(m string) string { return fmt.Sprintf(`{"notes":%q}`, m) }},
		{method: "DELETE", path: "/api/v1/treatments/{sam's}", write: true},
		{method: "DELETE", path: "/api/v1/entries.json?find[sgv]=120", write: true},
	}
	sites := []struct{ prefix, account string }{{"", ""}, {"/ns/" + samSite, "sam"}, {"/ns/" + kimSite, "kim"}}
	anonymous := map[string]bool{"sam": true}
	accounts := map[string]string{"sam": sam, "kim": kim, "dan": dan}

	var written []struct{ marker, owner string }
	cells, failures := 0, 0
	for _, site := range sites {
		for _, c := range creds {
			for _, ep := range endpoints {
				cells++
				name := fmt.Sprintf("%s %s%s with %s", ep.method, site.prefix, ep.path, c.name)
				marker := fmt.Sprintf("marker-%d", cells)
				r, victim := e.matrixRequest(sam, ep.method, site.prefix+ep.path, ep.body, marker, c.apply)

				// Whom the request acts for, and whether it may.
				owner, admin := c.owner, c.admin
				if owner == "" && c.name == "no credential" && anonymous[site.account] {
					owner = site.account
				}
				allowed := owner != "" && (site.account == "" || site.account == owner) && (admin || !ep.write && !ep.admin)
				switch {
				case allowed && r.status != 200:
					failures++
					t.Errorf("%s: %d %s, want 200", name, r.status, r.body)
				case !allowed && r.status != 401:
					failures++
					t.Errorf("%s: %d %s, want 401", name, r.status, r.body)
				}
				if r.status == 200 && !ep.write {
					for other := range accounts {
						if other != owner && (strings.Contains(r.body, `"owner":"`+other+`"`) || strings.Contains(r.body, sgvOf[other])) {
							failures++
							t.Errorf("%s: %s's data in the answer: %s", name, other, r.body)
						}
					}
					if c.current && strings.Contains(r.body, `"owner":"sam"`) {
						failures++
						t.Errorf("%s: documents for a current-value-only follower: %s", name, r.body)
					}
				}
				if ep.body != nil {
					who := ""
					if r.status == 200 {
						who = owner
					}
					written = append(written, struct{ marker, owner string }{marker, who})
				}
				if victim != "" {
					e.checkVictim(t, name, sam, victim, r.status == 200 && owner == "sam")
				}
			}
		}
	}
	// Every write landed in its credential's account and nowhere else.
	for id, acc := range accounts {
		data := e.everything(acc)
		for _, w := range written {
			if strings.Contains(data, `"`+w.marker+`"`) != (w.owner == id) {
				failures++
				t.Errorf("%s is in %s's data: %v, want %v", w.marker, id, !(w.owner == id), w.owner == id)
			}
		}
	}
	t.Logf("%d cells, %d failures", cells, failures)
}

// sgvOf marks each account's reading in an answer.
var sgvOf = map[string]string{"sam": `"sgv":120`, "kim": `"sgv":250`, "dan": `"sgv":333`}

func header(name, value string) func(string) (string, []string) {
	return func(p string) (string, []string) { return p, []string{name, value} }
}

func query(name, value string) func(string) (string, []string) {
	return func(p string) (string, []string) {
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		return p + sep + name + "=" + value, nil
	}
}

// seed stores one document of every collection for the account, marked
// with its owner.
func (e *env) seed(accountID, owner string) {
	e.t.Helper()
	acc := &core.NightscoutAccess{AccountID: accountID, Admin: true}
	created := glucose.FromMS(t0.UnixMilli() - 60_000).Format(time.RFC3339Nano)
	for coll, body := range map[string]string{
		glucose.CollectionTreatments:   `{"eventType":"Note","created_at":"` + created + `","owner":"` + owner + `"}`,
		glucose.CollectionDeviceStatus: `{"device":"x","created_at":"` + created + `","owner":"` + owner + `"}`,
		glucose.CollectionProfile:      `{"defaultProfile":"x","startDate":"` + created + `","owner":"` + owner + `"}`,
		glucose.CollectionFood:         `{"name":"x","owner":"` + owner + `"}`,
		glucose.CollectionActivity:     `{"created_at":"` + created + `","owner":"` + owner + `"}`,
		glucose.CollectionEntries:      fmt.Sprintf(`{"type":"mbg","mbg":101,"date":%d,"owner":"%s"}`, t0.UnixMilli()-120_000, owner),
	} {
		if _, err := e.svc.WriteDocuments(context.Background(), acc, coll, []core.DocumentWrite{{Body: []byte(body)}}, e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
}

// seedTreatment stores a treatment to be deleted and returns its _id.
func (e *env) seedTreatment(accountID string) string {
	e.t.Helper()
	acc := &core.NightscoutAccess{AccountID: accountID, Admin: true}
	ds, err := e.svc.WriteDocuments(context.Background(), acc, glucose.CollectionTreatments,
		[]core.DocumentWrite{{Body: []byte(`{"eventType":"Note","created_at":"` + glucose.FromMS(t0.UnixMilli()-90_000).Format(time.RFC3339Nano) + `","owner":"sam"}`)}},
		e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return ds[0].ID
}

// checkVictim checks that a treatment is gone exactly when it should be.
func (e *env) checkVictim(t *testing.T, name, accountID, id string, wantGone bool) {
	t.Helper()
	acc := &core.NightscoutAccess{AccountID: accountID}
	ds, err := e.svc.FindDocuments(context.Background(), acc, glucose.CollectionTreatments,
		glucose.DocQuery{Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(id)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if gone := len(ds) == 0; gone != wantGone {
		t.Errorf("%s: sam's treatment deleted: %v, want %v", name, gone, wantGone)
	}
}

// everything returns all of an account's documents and readings as text.
func (e *env) everything(accountID string) string {
	e.t.Helper()
	var b strings.Builder
	err := e.svc.EachDocument(context.Background(), accountID, func(d glucose.Document) error {
		b.Write(d.Body)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}

// subscribe makes follower follow publisher with the permissions and
// returns the subscription's id.
func (e *env) subscribe(publisher, follower string, permissions int) string {
	e.t.Helper()
	ctx := context.Background()
	contact, err := e.svc.CreateContact(ctx, publisher, "Follower "+follower[:8], "", e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	perms := int64(permissions)
	sub, err := e.svc.Invite(ctx, publisher, contact.ID, core.Invitation{Permissions: &perms}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.AcceptInvitation(ctx, follower, sub.InvitationID, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return sub.ID
}

// follow subscribes follower to publisher and returns the follower's
// token for it.
func (e *env) follow(publisher, follower string, permissions int) string {
	e.t.Helper()
	sub := e.subscribe(publisher, follower, permissions)
	token, _, err := e.svc.CreateNightscoutFollowerToken(context.Background(), follower, sub, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// jwt returns the JWT status.json hands out for a token.
func (e *env) jwt(token string) string {
	e.t.Helper()
	acc, err := e.svc.NightscoutTokenAccess(context.Background(), token, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := e.svc.IssueNightscoutJWT(acc, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if !core.LooksLikeJWT(j.Token) {
		e.t.Fatalf("JWT %q", j.Token)
	}
	return j.Token
}

// TestAuthorizationMatrixV3 runs API v3's endpoints with every kind of
// credential at the root and at two accounts' sites. API v3 takes a JWT as
// bearer, or an api-secret header (the secret, or a token's SHA-1); every
// other form is refused with 401, as is a credential of another site's
// account. A role without the permission gets 403; a document of another
// account is not found (404); and no cell reads or writes another
// account's data. A current-value follower sees the newest reading alone.
func TestAuthorizationMatrixV3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const samSite, kimSite = "sam-site-handle", "kim-site-handle"
	sam, kim := e.account("sam", samSecret), e.account("kim", kimSecret)
	lee, max, dan := e.account("lee", ""), e.account("max", ""), e.account("dan", "dan's nightscout secret")
	if _, err := e.svc.SetNightscoutSite(ctx, sam, samSite, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetNightscoutSite(ctx, kim, kimSite, false); err != nil {
		t.Fatal(err)
	}
	e.upload(sam, reading{1, 120, 4})
	e.upload(kim, reading{1, 250, 4})
	e.upload(dan, reading{1, 333, 4})
	for _, owner := range []struct{ id, name string }{{sam, "sam"}, {kim, "kim"}, {dan, "dan"}} {
		e.seed(owner.id, owner.name)
	}
	leeToken, maxToken, danFollower := e.follow(sam, lee, 1), e.follow(sam, max, 0), e.follow(dan, lee, 1)
	danJWT := e.jwt(danFollower) // issued before dan was disabled
	if err := e.svc.SetDisabled(ctx, dan, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// pat's JWT was issued while the share was active; sam then paused it.
	pat := e.account("pat", "")
	patSub := e.subscribe(sam, pat, 1)
	patToken, _, err := e.svc.CreateNightscoutFollowerToken(ctx, pat, patSub, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	patJWT := e.jwt(patToken)
	if err := e.svc.PauseSubscription(ctx, sam, patSub, e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	type credential struct {
		name     string
		owner    string // whose data it reaches: "" none
		admin    bool
		current  bool
		accepted bool // a form API v3 takes
		apply    func(path string) (string, []string)
	}
	secretForms := func(name, owner, secret string) []credential {
		h := core.NightscoutSecretHash(secret)
		return []credential{
			{name + " as api-secret SHA-1", owner, true, false, true, header("api-secret", h)},
			{name + " as api-secret plain", owner, true, false, true, header("api-secret", secret)},
			{name + " as ?secret=", owner, true, false, false, query("secret", h)},
		}
	}
	tokenForms := func(name, owner, token string, admin, current bool) []credential {
		jwt := e.jwt(token)
		return []credential{
			{name + " as Bearer JWT", owner, admin, current, true, header("Authorization", "Bearer "+jwt)},
			{name + " as api-secret SHA-1", owner, admin, current, true, header("api-secret", core.NightscoutSecretHash(token))},
			{name + " as ?token=", owner, admin, current, false, query("token", token)},
			{name + " as Bearer", owner, admin, current, false, header("Authorization", "Bearer "+token)},
			{name + " as ?token=JWT", owner, admin, current, false, query("token", jwt)},
		}
	}
	var creds []credential
	creds = append(creds, secretForms("sam's secret", "sam", samSecret)...)
	creds = append(creds, tokenForms("sam's read-write token", "sam", e.token(sam, false), true, false)...)
	creds = append(creds, tokenForms("sam's read-only token", "sam", e.token(sam, true), false, false)...)
	creds = append(creds, tokenForms("lee's follower token", "sam", leeToken, false, false)...)
	creds = append(creds, tokenForms("max's current-value token", "sam", maxToken, false, true)...)
	creds = append(creds, secretForms("kim's secret", "kim", kimSecret)[:1]...)
	creds = append(creds, tokenForms("kim's read-write token", "kim", e.token(kim, false), true, false)[:1]...)
	creds = append(creds,
		credential{"dan's secret (disabled)", "", false, false, true, header("api-secret", core.NightscoutSecretHash("dan's nightscout secret"))},
		credential{"lee's JWT on disabled dan", "", false, false, true, header("Authorization", "Bearer "+danJWT)},
		credential{"pat's JWT on a paused share", "", false, false, true, header("Authorization", "Bearer "+patJWT)},
		credential{"pat's token on a paused share as api-secret SHA-1", "", false, false, true, header("api-secret", core.NightscoutSecretHash(patToken))},
		credential{"no credential", "", false, false, false, func(p string) (string, []string) { return p, nil }},
		credential{"a wrong secret", "", false, false, true, header("api-secret", core.NightscoutSecretHash("wrong"))},
	)

	type endpoint struct {
		method, path string
		write        bool
		samOnly      bool // names a document of sam's: others find nothing
		status       int  // the success status
		body         func(marker string) string
	}
	now := t0.UnixMilli()
	n := 0
	unique := func() int64 { n++; return now - int64(n)*1000 }
	since := strconv.FormatInt(now-24*3600_000, 10)
	endpoints := []endpoint{
		{method: "GET", path: "/api/v3/status", status: 200},
		{method: "GET", path: "/api/v3/lastModified", status: 200},
		{method: "GET", path: "/api/v3/entries?limit=100", status: 200},
		{method: "GET", path: "/api/v3/entries/history/" + since, status: 200},
		{method: "GET", path: "/api/v3/treatments", status: 200},
		{method: "GET", path: "/api/v3/treatments/history/" + since, status: 200},
		{method: "GET", path: "/api/v3/devicestatus?limit=5", status: 200},
		{method: "GET", path: "/api/v3/treatments/{sam's}", samOnly: true, status: 200},
		{method: "POST", path: "/api/v3/treatments", write: true, status: 201, body: func(m string) string {
			return fmt.Sprintf(`{"eventType":"Note","notes":%q,"date":%d,"utcOffset":0,"app":"matrix"}`, m, unique())
		}},
		{method: "POST", path: "/api/v3/entries", write: true, status: 201, body: func(m string) string {
			return fmt.Sprintf(`{"type":"mbg","mbg":99,"device":%q,"date":%d,"utcOffset":0,"app":"matrix"}`, m, unique())
		}},
		{method: "PATCH", path: "/api/v3/treatments/{sam's}", write: true, samOnly: true, status: 200, body: func(m string) string {
			return fmt.Sprintf(`{"notes":%q}`, m)
		}},
		{method: "DELETE", path: "/api/v3/treatments/{sam's}", write: true, samOnly: true, status: 200},
	}
	sites := []struct{ prefix, account string }{{"", ""}, {"/ns/" + samSite, "sam"}, {"/ns/" + kimSite, "kim"}}
	accounts := map[string]string{"sam": sam, "kim": kim, "dan": dan}

	var written []struct{ marker, owner string }
	cells, failures := 0, 0
	for _, site := range sites {
		for _, c := range creds {
			for _, ep := range endpoints {
				cells++
				name := fmt.Sprintf("%s %s%s with %s", ep.method, site.prefix, ep.path, c.name)
				marker := fmt.Sprintf("marker-%d", cells)
				r, victim := e.matrixRequest(sam, ep.method, site.prefix+ep.path, ep.body, marker, c.apply)

				authenticated := c.accepted && c.owner != "" && (site.account == "" || site.account == c.owner)
				want := ep.status
				switch {
				case !authenticated:
					want = 401
				case ep.write && !c.admin:
					want = 403
				case ep.samOnly && (c.owner != "sam" || c.current):
					want = 404
				}
				if r.status != want {
					failures++
					t.Errorf("%s: %d %s, want %d", name, r.status, r.body, want)
				}
				if r.status < 300 && !ep.write {
					for other := range accounts {
						if other != c.owner && (strings.Contains(r.body, `"owner":"`+other+`"`) || strings.Contains(r.body, sgvOf[other])) {
							failures++
							t.Errorf("%s: %s's data in the answer: %s", name, other, r.body)
						}
					}
					if c.current && strings.Contains(r.body, `"owner":"sam"`) {
						failures++
						t.Errorf("%s: documents for a current-value-only follower: %s", name, r.body)
					}
				}
				if ep.method == "POST" {
					who := ""
					if r.status < 300 {
						who = c.owner
					}
					written = append(written, struct{ marker, owner string }{marker, who})
				}
				if victim != "" {
					e.checkVictim(t, name, sam, victim, ep.method == "DELETE" && r.status == 200)
					if ep.method == "PATCH" {
						e.checkPatched(t, name, sam, victim, marker, r.status == 200)
					}
				}
			}
		}
	}
	for id, acc := range accounts {
		data := e.everything(acc)
		for _, w := range written {
			if strings.Contains(data, `"`+w.marker+`"`) != (w.owner == id) {
				failures++
				t.Errorf("%s is in %s's data: %v, want %v", w.marker, id, !(w.owner == id), w.owner == id)
			}
		}
	}
	t.Logf("%d cells, %d failures", cells, failures)
}

// checkPatched checks that a PATCH changed sam's treatment exactly when it
// succeeded.
func (e *env) checkPatched(t *testing.T, name, accountID, id, marker string, want bool) {
	t.Helper()
	acc := &core.NightscoutAccess{AccountID: accountID}
	ds, err := e.svc.FindDocuments(context.Background(), acc, glucose.CollectionTreatments,
		glucose.DocQuery{Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(id)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ds) == 1 && strings.Contains(string(ds[0].Body), `"`+marker+`"`); got != want {
		t.Errorf("%s: sam's treatment patched: %v, want %v", name, got, want)
	}
}

// matrixRequest sends one cell of an authorization matrix: {sam's} in path
// becomes a treatment of sam's seeded for the cell (its id is returned, to
// check afterwards whether the request changed it), and the body, if any,
// carries the cell's marker; apply adds the cell's credential.
func (e *env) matrixRequest(sam, method, path string, body func(marker string) string, marker string,
	apply func(path string) (string, []string)) (response, string) {
	var victim string
	if strings.Contains(path, "{sam's}") {
		victim = e.seedTreatment(sam)
		path = strings.ReplaceAll(path, "{sam's}", victim)
	}
	b := ""
	if body != nil {
		b = body(marker)
	}
	target, headers := apply(path)
	if b != "" {
		headers = append(headers, "Content-Type", "application/json")
	}
	return e.do(method, target, b, headers...), victim
}
