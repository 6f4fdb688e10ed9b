package nightscout_test

import (
	"context"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
)

const (
	samSecret = "sam's nightscout secret"
	kimSecret = "kim's nightscout secret"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	kim := e.account("kim", kimSecret)
	e.upload(sam, reading{5, 120, 4})
	e.upload(kim, reading{5, 250, 2})
	hash := core.NightscoutSecretHash(samSecret)
	const list = "/api/v1/entries.json"

	for _, c := range []struct {
		what    string
		target  string
		headers []string
	}{
		{"no credential", list, nil},
		{"wrong secret", list, []string{"api-secret", core.NightscoutSecretHash("not sam's secret")}},
		{"empty secret", list, []string{"api-secret", " "}},
		{"the SHA-1 of the password", list, []string{"api-secret", core.NightscoutSecretHash(password)}},
		{"wrong ?secret=", list + "?secret=" + core.NightscoutSecretHash("nope nope nope"), nil},
		{"wrong token", list + "?token=gs-00000000000000000000000000000000", nil},
		{"wrong bearer", list, []string{"Authorization", "Bearer gs-1234"}},
		{"pebble without credential", "/pebble", nil},
	} {
		wantUnauthorized(t, c.what, e.do("GET", c.target, "", c.headers...))
	}

	// Each credential reads its own account and nothing else.
	samToken, kimToken := e.token(sam, true), e.token(kim, false)
	for _, c := range []struct {
		what    string
		target  string
		headers []string
		want    int
	}{
		{"sam's SHA-1 secret", list, []string{"api-secret", hash}, 120},
		{"sam's SHA-1 secret in upper case", list, []string{"api-secret", strings.ToUpper(hash)}, 120},
		{"sam's plain secret", list, []string{"api-secret", samSecret}, 120},
		{"sam's ?secret=", list + "?secret=" + hash, nil, 120},
		{"kim's secret", list, []string{"api-secret", core.NightscoutSecretHash(kimSecret)}, 250},
		{"sam's ?token=", list + "?token=" + samToken, nil, 120},
		{"kim's bearer token", list, []string{"Authorization", "Bearer " + kimToken}, 250},
		// A wrong credential beside a right one does not help or hurt.
		{"kim's token with sam's wrong secret", list + "?token=" + kimToken, []string{"api-secret", "0000000000000000000000000000000000000000"}, 250},
	} {
		es := e.entries(e.do("GET", c.target, "", c.headers...))
		if len(es) != 1 || es[0].SGV != c.want {
			t.Errorf("%s: entries %v, want one with sgv %d", c.what, values(es), c.want)
		}
	}

	// Writing needs a secret or a token that is not read-only, and lands
	// in the credential's own account.
	post := `[{"type":"sgv","sgv":140,"date":` + itoa(ms(1)) + `,"direction":"Flat"}]`
	wantUnauthorized(t, "POST with a read-only token", e.do("POST", "/api/v1/entries?token="+samToken, post))
	wantUnauthorized(t, "POST without credential", e.do("POST", "/api/v1/entries", post))
	e.entries(e.do("POST", "/api/v1/entries?token="+kimToken, post))
	got := e.entries(e.do("GET", list, "", "api-secret", hash))
	if len(got) != 1 || got[0].SGV != 120 {
		t.Errorf("kim's upload reached sam: %v", values(got))
	}
	got = e.entries(e.do("GET", list, "", "api-secret", core.NightscoutSecretHash(kimSecret)))
	if vs := values(got); len(vs) != 2 || vs[0] != 140 {
		t.Errorf("kim after upload: %v, want [140 250]", vs)
	}

	// A revoked token, and a disabled account's credentials, stop working.
	toks, err := e.svc.NightscoutTokens(context.Background(), kim)
	if err != nil || len(toks) != 1 {
		t.Fatalf("kim's tokens: %v %v", toks, err)
	}
	if err := e.svc.RevokeNightscoutToken(context.Background(), kim, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "revoked token", e.do("GET", list+"?token="+kimToken, ""))
	if err := e.svc.SetDisabled(context.Background(), sam, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "disabled account's secret", e.do("GET", list, "", "api-secret", hash))
	wantUnauthorized(t, "disabled account's token", e.do("GET", list+"?token="+samToken, ""))
}

func TestSecretRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	kim := e.account("kim", "")
	ctx := context.Background()
	for _, c := range []struct{ what, secret, want string }{
		{"too short", "short", "12 to 256"},
		{"the password", password, "differ from the account's password"},
		{"too easy to guess", "aaaaaaaaaaaaaaaaaaaa", "too easy to guess"},
		{"a run", "abcdefghijklmnopqrstuvwxyz", "too easy to guess"},
		{"another account's secret", samSecret, "another account"},
	} {
		err := e.svc.SetNightscoutSecret(ctx, kim, c.secret, e.clock.Now())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.what, err, c.want)
		}
	}
	// Changing a secret retires the old one.
	if err := e.svc.SetNightscoutSecret(ctx, sam, "sam's second secret", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "old secret", e.do("GET", "/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash(samSecret)))
	if r := e.do("GET", "/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash("sam's second secret")); r.status != 200 {
		t.Errorf("new secret: %d %s", r.status, r.body)
	}
	if err := e.svc.RemoveNightscoutSecret(ctx, sam); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "removed secret", e.do("GET", "/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash("sam's second secret")))
}

func TestVerifyAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	readOnly := e.token(sam, true)
	for _, c := range []struct {
		what, target string
		headers      []string
		want         string
	}{
		{"secret", "/api/v1/verifyauth", []string{"api-secret", core.NightscoutSecretHash(samSecret)},
			`{"status":200,"message":{"canRead":true,"canWrite":true,"isAdmin":true,"message":"OK","rolefound":"NOTFOUND","permissions":"ROLE"}}`},
		{"read-only token", "/api/v1/verifyauth?token=" + readOnly, nil,
			`{"status":200,"message":{"canRead":true,"canWrite":false,"isAdmin":false,"message":"OK","rolefound":"FOUND","permissions":"ROLE"}}`},
		{"nothing", "/api/v1/verifyauth", nil,
			`{"status":200,"message":{"canRead":false,"canWrite":false,"isAdmin":false,"message":"UNAUTHORIZED","rolefound":"NOTFOUND","permissions":"DEFAULT"}}`},
		{"a wrong secret", "/api/v1/verifyauth", []string{"api-secret", "0000000000000000000000000000000000000000"},
			`{"status":200,"message":{"canRead":false,"canWrite":false,"isAdmin":false,"message":"UNAUTHORIZED","rolefound":"NOTFOUND","permissions":"ROLE"}}`},
	} {
		if r := e.do("GET", c.target, "", c.headers...); r.status != 200 || r.body != c.want {
			t.Errorf("%s: %d %s\nwant %s", c.what, r.status, r.body, c.want)
		}
	}
}
