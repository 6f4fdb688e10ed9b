package nightscout_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestSite: /ns/{handle} names the account for apps without a credential,
// and reports the site's default role.
func TestSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam := e.account("sam", samSecret)
	e.upload(sam, reading{1, 120, 4})
	site, err := e.svc.SetNightscoutSite(ctx, sam, "", false)
	if err != nil || len(site.Handle) != 16 {
		t.Fatalf("generated site: %+v %v", site, err)
	}
	base := "/ns/" + site.Handle
	wantUnauthorized(t, "closed site without a credential", e.do("GET", base+"/api/v1/entries.json", ""))
	if r := e.do("GET", base+"/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash(samSecret)); r.status != 200 {
		t.Errorf("closed site with the secret: %d", r.status)
	}
	// Turning anonymous reading on keeps the handle.
	if again, err := e.svc.SetNightscoutSite(ctx, sam, "", true); err != nil || again.Handle != site.Handle {
		t.Fatalf("open the site: %+v %v", again, err)
	}
	if got := values(e.entries(e.do("GET", base+"/api/v1/entries.json", ""))); len(got) != 1 || got[0] != 120 {
		t.Errorf("open site without a credential: %v", got)
	}
	r := e.do("GET", base+"/api/v1/verifyauth", "")
	if want := `{"status":200,"message":{"canRead":true,"canWrite":false,"isAdmin":false,"message":"UNAUTHORIZED","rolefound":"NOTFOUND","permissions":"DEFAULT"}}`; r.body != want {
		t.Errorf("verifyauth at an open site: %s\nwant %s", r.body, want)
	}
	var status struct {
		Settings struct {
			Units            string `json:"units"`
			AuthDefaultRoles string `json:"authDefaultRoles"`
			Thresholds       struct {
				BGHigh, BGTargetTop, BGTargetBottom, BGLow int
			} `json:"thresholds"`
		} `json:"settings"`
		Authorized any `json:"authorized"`
	}
	if err := e.svc.SetUnits(ctx, sam, glucose.UnitsMmol); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", base+"/api/v1/status.json", "")
	if err := json.Unmarshal([]byte(r.body), &status); err != nil || r.status != 200 {
		t.Fatalf("status at the site: %d %s", r.status, r.body)
	}
	if s := status.Settings; s.Units != "mmol" || s.AuthDefaultRoles != "readable" || s.Thresholds.BGTargetBottom != 70 ||
		s.Thresholds.BGTargetTop != 180 || status.Authorized != nil {
		t.Errorf("status at the site: %s", r.body)
	}
	// The site is for reading; writing needs a credential.
	wantUnauthorized(t, "anonymous upload", e.do("POST", base+"/api/v1/treatments", `{"eventType":"Note"}`))
	// A wrong credential is refused even at an open site, as Nightscout does.
	wantUnauthorized(t, "a wrong secret at an open site", e.do("GET", base+"/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash("nope")))
	// Unknown, malformed and disabled sites are not found.
	for _, path := range []string{"/ns/no-such-site-here/api/v1/entries.json", "/ns/UPPER/api/v1/entries.json"} {
		if r := e.do("GET", path, ""); r.status != 404 {
			t.Errorf("%s: %d", path, r.status)
		}
	}
	if err := e.svc.SetDisabled(ctx, sam, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", base+"/api/v1/entries.json", ""); r.status != 404 {
		t.Errorf("a disabled account's site: %d %s", r.status, r.body)
	}
}

// TestJWT: a JWT from status.json's authorized block works as a bearer
// until it expires or its token is revoked; a forged one is refused.
func TestJWT(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam := e.account("sam", samSecret)
	e.upload(sam, reading{1, 120, 4})
	token := e.namedToken(sam, "LoopFollow", false)
	var status struct {
		Authorized struct {
			Token            string     `json:"token"`
			Sub              string     `json:"sub"`
			PermissionGroups [][]string `json:"permissionGroups"`
			IAT, Exp         int64
		} `json:"authorized"`
	}
	r := e.do("GET", "/api/v1/status.json?token="+token, "")
	if err := json.Unmarshal([]byte(r.body), &status); err != nil {
		t.Fatal(err)
	}
	a := status.Authorized
	if a.Sub != "LoopFollow" || a.IAT != t0.Unix() || a.Exp != t0.Add(8*time.Hour).Unix() || len(a.PermissionGroups) != 2 || a.PermissionGroups[0][0] != "*" {
		t.Fatalf("authorized: %+v", a)
	}
	if strings.Contains(a.Token, token) || strings.Contains(a.Token, strings.TrimPrefix(token, "gs-")) {
		t.Error("the JWT carries the token")
	}
	bearer := []string{"Authorization", "Bearer " + a.Token}
	if r := e.do("POST", "/api/v1/treatments", `{"eventType":"Note","notes":"from LoopFollow"}`, append(bearer, "Content-Type", "application/json")...); r.status != 200 {
		t.Errorf("upload with the JWT: %d %s", r.status, r.body)
	}
	parts := strings.Split(a.Token, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	wantUnauthorized(t, "a forged JWT", e.do("GET", "/api/v1/entries.json", "", "Authorization", "Bearer "+forged))
	// Another server's JWT (another key) is refused.
	other := newEnvConfig(t, core.Config{})
	otherSam := other.account("sam", samSecret)
	otherToken := other.token(otherSam, false)
	wantUnauthorized(t, "another server's JWT", e.do("GET", "/api/v1/entries.json", "", "Authorization", "Bearer "+other.jwt(otherToken)))

	e.clock.Advance(8*time.Hour + time.Second)
	wantUnauthorized(t, "an expired JWT", e.do("GET", "/api/v1/entries.json", "", bearer...))
	fresh := e.jwt(token)
	if r := e.do("GET", "/api/v1/entries.json", "", "Authorization", "Bearer "+fresh); r.status != 200 {
		t.Errorf("a fresh JWT: %d", r.status)
	}
	toks, _ := e.svc.NightscoutTokens(ctx, sam)
	if err := e.svc.RevokeNightscoutToken(ctx, sam, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "the JWT of a revoked token", e.do("GET", "/api/v1/entries.json", "", "Authorization", "Bearer "+fresh))
}
