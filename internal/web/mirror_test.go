package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/mirror"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/web"
)

const dexcomPassword = "Dexcom-secret-4711"

// The profile page links the account to a Share server, shows the link's
// status but never the password, and unlinks it; when the upstream refuses
// the password, the dashboard says so and points to the profile.
func TestProfileLinksAndShowsTheMirror(t *testing.T) {
	key, _ := secretkey.Load(secretkey.Generate())
	e := newEnvConfig(t, web.Options{}, core.Config{SecretKey: key, AllowPrivateAddresses: true})
	sam := e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	// Dexcom's answer to a wrong password (share/testdata/hosted).
	recorded, err := os.ReadFile("../../share/testdata/hosted/us-bad-password/01-General-AuthenticatePublisherAccount.http")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(recorded), "\r\n\r\n")
	if body == "" {
		_, body, _ = strings.Cut(string(recorded), "\n\n")
	}
	dexcom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(body))
	}))
	defer dexcom.Close()

	if to := b.submit("/profile", "/profile/mirror", "server", "url", "server_url", dexcom.URL,
		"username", "sam@example.org", "password", dexcomPassword); to != "/profile?ok=linked#mirror" {
		t.Fatalf("link redirects to %s", to)
	}
	p := b.get("/profile")
	if !strings.Contains(p.body, "sam@example.org") || !strings.Contains(p.body, "mirroring") || strings.Contains(p.body, dexcomPassword) {
		t.Fatalf("profile after linking (password shown: %v):\n%s", strings.Contains(p.body, dexcomPassword), p.body)
	}
	if p := b.get("/"); !strings.Contains(p.body, "mirrored from Dexcom Share") {
		t.Errorf("the dashboard does not say the readings are mirrored:\n%s", p.body)
	}

	poller := mirror.New(e.svc, mirror.Options{Holder: "test", Clock: e.clock, AllowPrivate: true})
	if _, err := poller.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	p = b.get("/")
	if !strings.Contains(p.body, "Your Dexcom mirror stopped") || !strings.Contains(p.body, "AccountPasswordInvalid") ||
		!strings.Contains(p.body, `href="/profile#mirror"`) {
		t.Errorf("no banner for the stopped mirror on the dashboard:\n%s", p.body)
	}
	if p := b.get("/healthz"); p.status != http.StatusOK {
		t.Errorf("/healthz %d while the upstream refuses the link: upstream failures are not the server's health", p.status)
	}
	if p := b.get("/profile"); !strings.Contains(p.body, "stopped: the server refused") || strings.Contains(p.body, dexcomPassword) {
		t.Errorf("profile of the stopped mirror:\n%s", p.body)
	}

	if to := b.submit("/profile", "/profile/mirror/unlink"); to != "/profile?ok=unlinked#mirror" {
		t.Fatalf("unlink redirects to %s", to)
	}
	if _, err := e.svc.MirrorLink(context.Background(), sam); !errors.Is(err, glucose.ErrNotFound) {
		t.Errorf("after unlinking, the link is still stored (%v)", err)
	}
	if p := b.get("/"); strings.Contains(p.body, "Dexcom mirror") || strings.Contains(p.body, "mirrored from") {
		t.Errorf("the dashboard still mentions the mirror after unlinking")
	}
}

// Without the operator's key, or to a private address the operator did not
// allow, linking is refused with a reason, and nothing is stored.
func TestProfileRefusesALinkItCannotKeep(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  core.Config
		url  string
		want string
	}{
		{"no key", core.Config{}, "https://share.example.org", "has not set a secret key"},
		{"private address", core.Config{SecretKey: mustKey(t)}, "http://10.1.2.3:8080", "not globally routable"},
		{"not a URL", core.Config{SecretKey: mustKey(t)}, "share.example.org", "want us, ous, jp or a URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvConfig(t, web.Options{}, c.cfg)
			sam := e.account("sam", "Sam")
			b := e.browser()
			b.signIn("sam")
			p := b.post("/profile/mirror", "csrf", b.csrf("/profile"), "server", "url", "server_url", c.url,
				"username", "sam@example.org", "password", dexcomPassword)
			if !strings.Contains(p.body, c.want) || strings.Contains(p.body, dexcomPassword) {
				t.Errorf("%d, want an error saying %q, and no password:\n%s", p.status, c.want, p.body)
			}
			if _, err := e.svc.MirrorLink(context.Background(), sam); !errors.Is(err, glucose.ErrNotFound) {
				t.Errorf("a refused link was stored (%v)", err)
			}
		})
	}
}

func mustKey(t *testing.T) *secretkey.Key {
	k, err := secretkey.Load(secretkey.Generate())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
