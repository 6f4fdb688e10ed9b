package web_test

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/internal/web"
)

func TestSignInCookiesAndCSRF(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()

	if p := b.get("/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?next=%2F" {
		t.Fatalf("/ without a session: %d %q", p.status, p.header.Get("Location"))
	}
	tok := b.csrf("/signin")
	// No token, a wrong token: refused before the password is checked.
	if p := b.post("/signin", "name", "sam", "password", password); p.status != http.StatusForbidden {
		t.Errorf("sign-in without token: %d", p.status)
	}
	if p := b.post("/signin", "csrf", tok+"x", "name", "sam", "password", password); p.status != http.StatusForbidden {
		t.Errorf("sign-in with a wrong token: %d", p.status)
	}
	p := b.post("/signin", "csrf", tok, "name", "sam", "password", "wrong password")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "The name or the password is wrong.") {
		t.Errorf("wrong password: %d\n%s", p.status, p.body)
	}
	p = b.post("/signin", "csrf", tok, "name", "sam", "password", password, "next", "//evil.example/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %q (a foreign next must become /)", p.status, p.header.Get("Location"))
	}
	var sess *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "glucoshare_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.Path != "/" {
		t.Fatalf("session cookie %+v", sess)
	}

	home := b.get("/")
	if home.status != http.StatusOK || !strings.Contains(home.body, "Sam") {
		t.Fatalf("dashboard: %d\n%s", home.status, home.body)
	}
	for k, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if !strings.Contains(home.header.Get(k), want) {
			t.Errorf("%s = %q, want %q", k, home.header.Get(k), want)
		}
	}
	// Every form needs the session's token: none, another session's, and a
	// cross-site request are refused.
	if p := b.post("/profile", "display_name", "Mallory"); p.status != http.StatusForbidden {
		t.Errorf("form without token: %d", p.status)
	}
	other := e.browser()
	e.account("kim", "Kim")
	other.signIn("kim")
	if p := b.post("/profile", "csrf", other.csrf("/profile"), "display_name", "Mallory"); p.status != http.StatusForbidden {
		t.Errorf("form with another session's token: %d", p.status)
	}
	b.origin = "https://evil.example"
	if p := b.post("/profile", "csrf", b.csrf("/profile"), "display_name", "Mallory"); p.status != http.StatusForbidden {
		t.Errorf("cross-origin form: %d", p.status)
	}
	b.origin = ""

	// Sign out ends the session on the server, not only the cookie.
	if to := b.submit("/", "/signout"); to != "/signin?ok=signed-out" {
		t.Errorf("sign out → %q", to)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	req.AddCookie(sess)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("old session cookie after sign-out: %d", res.StatusCode)
	}
}

func TestCookieSecureAndSignup(t *testing.T) {
	closed := newEnv(t, web.Options{})
	if p := closed.browser().get("/signup"); p.status != http.StatusNotFound {
		t.Errorf("/signup without --signup: %d", p.status)
	}
	e := newEnv(t, web.Options{Signup: true, CookieSecure: true})
	b := e.browser()
	// The cookie jar does not send Secure cookies over http, so read the
	// answer's headers.
	tok := b.csrf("/signup")
	p := b.post("/signup", "csrf", tok, "name", "new@example.org", "display_name", "New", "password", password, "password2", "different pw")
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "differ") {
		t.Errorf("mismatched passwords: %d", p.status)
	}
	p = b.post("/signup", "csrf", tok, "name", "new@example.org", "display_name", "New", "password", password, "password2", password)
	if p.status != http.StatusSeeOther {
		t.Fatalf("signup: %d\n%s", p.status, p.body)
	}
	if !strings.Contains(p.header.Get("Set-Cookie"), "Secure") {
		t.Errorf("--cookie-secure: %q", p.header.Values("Set-Cookie"))
	}
	if _, err := e.svc.FindAccount(context.Background(), "new@example.org"); err != nil {
		t.Errorf("account not created: %v", err)
	}
	b2 := e.browser()
	if p := b2.post("/signup", "csrf", b2.csrf("/signup"), "name", "NEW@example.org", "password", password, "password2", password); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "already exists") {
		t.Errorf("duplicate signup: %d", p.status)
	}
}

func TestDashboardSharerView(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.upload(sam, 150, 160, 170, 185, 190, 65, 123)
	b := e.browser()
	b.signIn("sam")
	p := b.get("/?h=6")
	for _, want := range []string{`<span class="value">123</span>`, `title="Flat">→</span>`, "just now",
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 240" class="chart-svg"`,
		`Time in range, last 24 h: <strong>57%</strong>`, "below 14% · above 29%", "of 7 readings",
		`href="?h=6" aria-current="true"`, `data-publisher="` + sam + `"`, ` · 18:43`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(p.body, "stale") {
		t.Error("fresh data shown stale")
	}
	// Twenty minutes later the value is stale, and says so.
	e.clock.Advance(20 * time.Minute)
	p = b.get("/")
	if !strings.Contains(p.body, `class="card stale"`) || !strings.Contains(p.body, "No new reading for 20 min") {
		t.Errorf("stale data not obvious:\n%s", p.body)
	}
	// The panel alone, as the live update fetches it.
	frag := b.get("/app/panel/me?h=3")
	if frag.status != 200 || !strings.HasPrefix(frag.body, `<section class="card stale" id="card-me"`) {
		t.Errorf("panel fragment: %d %.200s", frag.status, frag.body)
	}
	if p := e.browser().get("/app/panel/me"); p.status != http.StatusUnauthorized {
		t.Errorf("panel without session: %d", p.status)
	}
}

func TestFollowersAndFollowing(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	e.upload(sam, 100, 110, 120)
	sb, kb := e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")

	// An error keeps what was typed.
	p := sb.post("/followers", append([]string{"csrf", sb.csrf("/followers"), "contact_name", "Kim", "history", "1"},
		append(defaultAlerts()[:len(defaultAlerts())-2], "nodata_repeat", "x")...)...)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "The no-data repeat interval must be a whole number") ||
		!strings.Contains(p.body, `name="contact_name" value="Kim"`) {
		t.Errorf("bad alert field: %d\n%s", p.status, p.body)
	}
	link := sb.invite("Kim", true, "low_on", "1", "low_at", "80")
	fp := sb.get("/followers")
	if !strings.Contains(fp.body, "Invited") || !strings.Contains(fp.body, `data-copy="link-`) {
		t.Errorf("followers page after inviting:\n%s", fp.body)
	}

	// The follower opens the link: without a session, sign in first.
	anon := e.browser()
	if p := anon.get(link); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin?next=%2Finvite%2F") {
		t.Errorf("invite link without session: %d %q", p.status, p.header.Get("Location"))
	}
	ip := kb.get(link)
	if !strings.Contains(ip.body, "<strong>Sam</strong> invites you") || !strings.Contains(ip.body, "low below 80") {
		t.Errorf("invitation page:\n%s", ip.body)
	}
	// The sharer cannot accept its own invitation.
	if p := sb.post(link+"/accept", "csrf", sb.csrf(link)); p.status != http.StatusUnprocessableEntity {
		t.Errorf("own invitation accepted: %d", p.status)
	}
	if to := kb.submit(link, link+"/accept"); to != "/?ok=accepted" {
		t.Errorf("accept → %q", to)
	}
	kp := kb.get("/?ok=accepted")
	if !strings.Contains(kp.body, "You now follow this sharer.") || !strings.Contains(kp.body, `<span class="value">120</span>`) ||
		!strings.Contains(kp.body, "chart-svg") {
		t.Errorf("follower's dashboard:\n%s", kp.body)
	}
	if strings.Contains(kp.body, `id="card-me"`) {
		t.Error("a follower without readings got an empty panel of its own")
	}

	// Permission 0: the current value, no chart.
	subID := regexp.MustCompile(`id="f-([0-9a-f-]{36})"`).FindStringSubmatch(sb.get("/followers").body)[1]
	sb.submit("/followers", "/followers/"+subID+"/permissions", "permissions", "0")
	kp = kb.get("/")
	if !strings.Contains(kp.body, `<span class="value">120</span>`) || strings.Contains(kp.body, "chart-svg") ||
		!strings.Contains(kp.body, "Current value only") {
		t.Errorf("permission 0 still shows history:\n%s", kp.body)
	}

	// The follower's settings: alerts.
	fol := kb.get("/following")
	if !strings.Contains(fol.body, `name="low_at" value="80"`) || !strings.Contains(fol.body, `name="low_on" value="1" checked`) {
		t.Errorf("following page does not show the invitation's alerts:\n%s", fol.body)
	}
	kb.submit("/following", "/following/"+subID+"/alerts", append(defaultAlerts(), "high_on", "1", "high_at", "250")...)
	a, err := e.svc.SubscriberAlertSettings(context.Background(), kb.accountID(), subID, e.clock.Now())
	if err != nil || !a.HighAlert.IsEnabled || a.HighAlert.MinValue != 250 || a.HighAlert.MaxValue != 401 || a.LowAlert.IsEnabled ||
		a.HighAlert.AlarmDelay != "PT1H0M" || a.HighAlert.Sound != "High.wav" {
		t.Errorf("alerts after saving: %+v %v", a, err)
	}
	if p := kb.post("/following/"+subID+"/alerts", append([]string{"csrf", kb.csrf("/following")}, append(defaultAlerts(), "urgent_at", "70")...)...); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "urgent low threshold must be a whole number from 40 to 55") {
		t.Errorf("urgent low 70: %d", p.status)
	}

	// Pause by the sharer shows on the follower's dashboard; resume.
	sb.submit("/followers", "/followers/"+subID+"/pause")
	if kp := kb.get("/"); !strings.Contains(kp.body, "The sharer has paused sharing with you.") {
		t.Error("pause not shown to the follower")
	}
	sb.submit("/followers", "/followers/"+subID+"/resume")
	// Remove: the follower sees the end.
	contactID := regexp.MustCompile(`/contacts/([0-9a-f-]{36})/remove`).FindStringSubmatch(sb.get("/followers").body)[1]
	sb.submit("/followers", "/contacts/"+contactID+"/remove", "subscription", subID)
	if kp := kb.get("/"); !strings.Contains(kp.body, "The sharer has stopped sharing with you.") {
		t.Error("removal not shown to the follower")
	}
	if fp := sb.get("/followers"); strings.Contains(fp.body, "f-"+subID) {
		t.Error("removed follower still listed")
	}
}

// accountID is the id of the signed-in account, read from its own panel's
// avatar-free profile form.
func (b *browser) accountID() string {
	b.e.t.Helper()
	p := b.get("/profile")
	m := regexp.MustCompile(`name="username" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatal("no account on /profile")
	}
	a, err := b.e.svc.FindAccount(context.Background(), m[1])
	if err != nil {
		b.e.t.Fatal(err)
	}
	return a.ID
}

func TestAlarmBannerAndAcknowledge(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	sb, kb := e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")
	link := sb.invite("Kim", true)
	kb.submit(link, link+"/accept")
	e.upload(sam, 50)
	p := kb.get("/following")
	if !strings.Contains(p.body, `class="alarm urgent"`) || !strings.Contains(p.body, "<strong>Urgent low</strong> · Sam: 50 mg/dL") {
		t.Fatalf("no alarm banner:\n%s", p.body)
	}
	frag := kb.get("/app/alarms?next=/following")
	id := regexp.MustCompile(`/alarms/([0-9a-f-]{36})/ack`).FindStringSubmatch(frag.body)
	if id == nil {
		t.Fatalf("alarm fragment: %s", frag.body)
	}
	if to := kb.submit("/following", "/alarms/"+id[1]+"/ack", "next", "/following"); to != "/following" {
		t.Errorf("acknowledge → %q", to)
	}
	if p := kb.get("/following"); strings.Contains(p.body, `role="alert"`) {
		t.Errorf("acknowledged alarm still shown:\n%s", p.body)
	}
	// Someone else's alarm is not found.
	if p := sb.post("/alarms/"+id[1]+"/ack", "csrf", sb.csrf("/"), "next", "/"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("the sharer acknowledged the follower's alarm: %d", p.status)
	}
}

func TestEventStream(t *testing.T) {
	e := newEnv(t, web.Options{Heartbeat: 50 * time.Millisecond})
	sam := e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	req, _ := http.NewRequest("GET", e.srv.URL+"/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := b.c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(res.Body)
	next := func(want string) {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), want) {
				return
			}
		}
		t.Fatalf("stream ended before %q: %v", want, lines.Err())
	}
	next(": connected")
	next(": ping")
	e.upload(sam, 120)
	next("event: reading")
	next(`data: {"publisher":"` + sam + `"}`)
	// Signing out elsewhere ends the stream at the next heartbeat.
	b.submit("/", "/signout")
	next("event: signout")
	next("data: {}")
	for lines.Scan() {
		if lines.Text() != "" {
			t.Errorf("stream goes on after signout: %q", lines.Text())
		}
	}
	if p := e.browser().get("/events"); p.status != http.StatusUnauthorized {
		t.Errorf("events without session: %d", p.status)
	}
}

func TestProfile(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	b.submit("/profile", "/profile", "display_name", "Samantha", "email", "sam@example.org")
	p := b.get("/profile")
	if !strings.Contains(p.body, `value="Samantha"`) || !strings.Contains(p.body, `value="sam@example.org"`) {
		t.Errorf("profile not saved")
	}
	if p := b.post("/profile", "csrf", b.csrf("/profile"), "display_name", "Sam", "email", "not-an-address"); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "e-mail address is not valid") {
		t.Errorf("bad e-mail: %d", p.status)
	}
	if to := b.submit("/profile", "/profile/password", "old_password", password, "new_password", "another long pw", "new_password2", "another long pw"); to != "/profile?ok=password" {
		t.Errorf("password → %q", to)
	}
	if p := b.post("/profile/password", "csrf", b.csrf("/profile"), "old_password", "wrong", "new_password", "x2345678", "new_password2", "x2345678"); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "current password is wrong") {
		t.Errorf("wrong old password: %d", p.status)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	p := b.get("/signin")
	css := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(p.body)
	js := regexp.MustCompile(`src="(/static/app\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(p.body)
	if css == nil || js == nil {
		t.Fatalf("asset links:\n%s", p.body)
	}
	for _, u := range []string{css[1], js[1]} {
		a := b.get(u)
		if a.status != 200 || !strings.Contains(a.header.Get("Cache-Control"), "immutable") || a.body == "" {
			t.Errorf("%s: %d %q", u, a.status, a.header.Get("Cache-Control"))
		}
		if nm := b.get(u, "If-None-Match", a.header.Get("ETag")); nm.status != http.StatusNotModified {
			t.Errorf("%s revalidation: %d", u, nm.status)
		}
	}
	if p := b.get("/static/nope.css"); p.status != 404 {
		t.Errorf("missing asset: %d", p.status)
	}
	if strings.Contains(p.body, "http://") && !strings.Contains(p.body, e.srv.URL) {
		// No CDN: nothing is loaded from another site.
		for _, m := range regexp.MustCompile(`(?:src|href)="(https?://[^"]+)"`).FindAllStringSubmatch(p.body, -1) {
			t.Errorf("external resource %s", m[1])
		}
	}
}

// An open event stream must not hold a graceful shutdown to its deadline.
func TestShutdownEndsEventStreams(t *testing.T) {
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: cheapArgon})
	if _, err := svc.CreateAccount(context.Background(), core.NewAccount{Name: "sam", Password: password}, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := server.New(svc, server.Options{ShutdownMax: 15 * time.Second, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	sess, err := svc.Login(context.Background(), core.Credentials{Name: "sam", Password: password}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/events", nil)
	req.AddCookie(&http.Cookie{Name: "glucoshare_session", Value: sess.ID})
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("events: %d", res.StatusCode)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("shutdown took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waits for the event stream")
	}
}

func TestServeFlags(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut strings.Builder
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		return cli.Run(context.Background(), args, env), out.String(), errOut.String()
	}
	key := "0123456789abcdef0123456789abcdef-secret"
	code, out, _ := run("serve", "--print-config", "--signup", "--cookie-secure", "--web-key", key)
	if code != 0 || strings.Contains(out, key) || !strings.Contains(out, "web-key=xxxxx") ||
		!strings.Contains(out, "signup=true") || !strings.Contains(out, "cookie-secure=true") {
		t.Errorf("print-config: %d\n%s", code, out)
	}
	if code, _, errOut := run("serve", "--print-config", "--web-key", "short"); code != 2 || !strings.Contains(errOut, "--web-key") {
		t.Errorf("short --web-key: %d %q", code, errOut)
	}
}
