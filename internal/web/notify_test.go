package web_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/web"
	"github.com/glucoshare/glucoshare/share"
)

// The installable app's files: the manifest, served at the root with its
// type, naming icons that exist at the sizes it says (maskable ones
// included); the service worker at the root scope, revalidated on every
// use; and a content security policy that lets both load.
func TestAppManifestAndServiceWorker(t *testing.T) {
	e := newEnv(t, web.Options{})
	b := e.browser()
	p := b.get("/manifest.webmanifest")
	if p.status != 200 || p.header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %d %s", p.status, p.header.Get("Content-Type"))
	}
	var m struct {
		ID, Name, StartURL, Scope, Display string
		Icons                              []struct{ Src, Sizes, Type, Purpose string }
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(p.body, "start_url", "starturl"), "short_name", "shortname")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "glucoshare" || m.StartURL != "/" || m.Scope != "/" || m.Display != "standalone" {
		t.Errorf("manifest %+v", m)
	}
	purposes := map[string]int{}
	for _, icon := range m.Icons {
		ip := b.get(icon.Src)
		img, err := png.Decode(strings.NewReader(ip.body))
		if ip.status != 200 || ip.header.Get("Content-Type") != "image/png" || err != nil {
			t.Errorf("icon %s: %d %s %v", icon.Src, ip.status, ip.header.Get("Content-Type"), err)
			continue
		}
		if got := fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy()); got != icon.Sizes || icon.Type != "image/png" {
			t.Errorf("icon %s is %s, the manifest says %s", icon.Src, got, icon.Sizes)
		}
		purposes[icon.Purpose+" "+icon.Sizes]++
	}
	for _, want := range []string{"any 192x192", "any 512x512", "maskable 192x192", "maskable 512x512"} {
		if purposes[want] != 1 {
			t.Errorf("no %s icon: %v", want, purposes)
		}
	}
	sw := b.get("/sw.js")
	if sw.status != 200 || !strings.HasPrefix(sw.header.Get("Content-Type"), "text/javascript") ||
		sw.header.Get("Cache-Control") != "no-cache" || !strings.Contains(sw.body, "notificationclick") {
		t.Errorf("service worker: %d %v", sw.status, sw.header)
	}
	csp := sw.header.Get("Content-Security-Policy")
	for _, d := range []string{"manifest-src 'self'", "worker-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %s", csp, d)
		}
	}
	e.account("kim", "Kim")
	b.signIn("kim")
	if home := b.get("/"); !strings.Contains(home.body, `<link rel="manifest" href="/manifest.webmanifest">`) {
		t.Error("pages do not link the manifest")
	}
}

// subscriptionKeys makes a browser's subscription keys.
func subscriptionKeys(t *testing.T) (p256dh, auth string) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 16)
	rand.Read(a)
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(a)
}

// The Following page's channels, through its forms: a device registered
// by the page's script (named after its user agent), an ntfy topic, the
// choices of one channel, a test, removal; each form needs its CSRF token
// and reaches only the signed-in account's channels.
func TestFollowingPageChannels(t *testing.T) {
	e := newEnv(t, web.Options{})
	kimID := e.account("kim", "Kim")
	e.account("sam", "Sam")
	kim := e.browser()
	kim.signIn("kim")
	p256dh, auth := subscriptionKeys(t)
	csrf := kim.csrf("/following")
	form := strings.NewReader(fmt.Sprintf("csrf=%s&endpoint=%s&p256dh=%s&auth=%s", csrf,
		"https%3A%2F%2Ffcm.googleapis.com%2Ffcm%2Fsend%2Fd1X", p256dh, auth))
	req, _ := http.NewRequest("POST", e.srv.URL+"/devices", form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36")
	if p := kim.do(req); p.status != http.StatusSeeOther || p.header.Get("Location") != "/following?ok=device#notifications" {
		t.Fatalf("registering a device: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if p := kim.post("/devices", "endpoint", "https://fcm.googleapis.com/x", "p256dh", p256dh, "auth", auth); p.status != http.StatusForbidden {
		t.Errorf("a device without the CSRF token: %d", p.status)
	}
	if p := kim.post("/devices", "csrf", csrf, "endpoint", "https://fcm.googleapis.com/x", "p256dh", "AAAA", "auth", auth); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "p256dh") {
		t.Errorf("a device with a bad key: %d", p.status)
	}
	kim.submit("/following", "/ntfy", "topic_url", "https://ntfy.sh/kim-alarms-x7Qp")
	if p := kim.post("/ntfy", "csrf", csrf, "topic_url", "https://ntfy.sh/kim-2", "token", "tk_abc"); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "no secret key") {
		t.Errorf("an ntfy token without the server's secret key: %d", p.status)
	}
	if p := kim.post("/pushover", "csrf", csrf, "user_key", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "Pushover is not set up") {
		t.Errorf("Pushover without the operator's application: %d", p.status)
	}
	page := kim.get("/following")
	for _, want := range []string{"Chrome on Android", "https://ntfy.sh/kim-alarms-x7Qp", "nothing delivered yet", `id="push-enable"`,
		`data-key="B`, "Urgent low always comes through"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the Following page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "d1X") {
		t.Error("the page shows the device's push endpoint")
	}

	cs, err := e.svc.Channels(context.Background(), kimID)
	if err != nil || len(cs) != 2 {
		t.Fatalf("channels %+v, %v", cs, err)
	}
	byKind := func() map[glucose.ChannelKind]glucose.Channel {
		cs, _ := e.svc.Channels(context.Background(), kimID)
		m := map[glucose.ChannelKind]glucose.Channel{}
		for _, c := range cs {
			m[c.Kind] = c
		}
		return m
	}
	device := byKind()[glucose.ChannelWebPush].ID
	kim.submit("/following", "/channels/"+device+"/prefs", "low", "1", "nodata", "1", "quiet", "1",
		"quiet_start", "22:30", "quiet_end", "06:45", "time_zone", "Europe/Paris", "quiet_nodata", "1")
	p := byKind()[glucose.ChannelWebPush].Prefs
	if p.QuietStart != 22*60+30 || p.QuietEnd != 6*60+45 || p.TimeZone != "Europe/Paris" || p.UrgentLowOff ||
		p.Kinds.Has(share.AlertTypeHigh) || !p.Kinds.Has(share.AlertTypeLow) || !p.QuietKinds.Has(share.AlertTypeNoData) ||
		p.QuietKinds.Has(share.AlertTypeLow) {
		t.Errorf("prefs saved as %+v", p)
	}
	if page := kim.get("/following"); !strings.Contains(page.body, `name="quiet_start" value="22:30"`) {
		t.Error("the saved quiet hours are not shown")
	}
	if p := kim.post("/channels/"+device+"/prefs", "csrf", csrf, "quiet", "1", "quiet_start", "late", "time_zone", "UTC"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("quiet hours without times: %d", p.status)
	}
	kim.submit("/following", "/channels/"+device+"/prefs", "urgent_low_off", "off", "time_zone", "UTC")
	if !byKind()[glucose.ChannelWebPush].Prefs.UrgentLowOff {
		t.Error("the explicit urgent-low opt-out was not saved")
	}

	if to := kim.submit("/following", "/channels/"+device+"/test"); to != "/following?ok=test#c-"+device {
		t.Errorf("test: redirected to %s", to)
	}
	if p := kim.post("/channels/"+device+"/test", "csrf", csrf); p.status != http.StatusUnprocessableEntity {
		t.Errorf("a second test at once: %d, want refused", p.status)
	}

	sam := e.browser()
	sam.signIn("sam")
	if p := sam.post("/channels/"+device+"/delete", "csrf", sam.csrf("/following")); p.status != http.StatusUnprocessableEntity {
		t.Errorf("Sam removing Kim's device: %d", p.status)
	}
	kim.submit("/following", "/channels/"+device+"/delete")
	if cs, _ = e.svc.Channels(context.Background(), kimID); len(cs) != 1 || cs[0].Kind != glucose.ChannelNtfy {
		t.Errorf("after removal: %+v", cs)
	}
}

// ntfy's web app calls the Acknowledge link from its own origin: the
// link is its own credential, so cross-origin protection lets it through
// (to an unknown token's 410), while every other form still needs the
// same origin.
func TestAckLinkAcceptsCrossOriginCalls(t *testing.T) {
	e := newEnv(t, web.Options{})
	req, _ := http.NewRequest("POST", e.srv.URL+"/notify/ack/"+strings.Repeat("x", 43), bytes.NewReader(nil))
	req.Header.Set("Origin", "https://ntfy.sh")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGone || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("cross-origin acknowledgement: %d, want 410", res.StatusCode)
	}
	req, _ = http.NewRequest("POST", e.srv.URL+"/ntfy", strings.NewReader("topic_url=x"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site form: %d, want 403", res.StatusCode)
	}
	if res, _ := http.Get(e.srv.URL + "/notify/ack/" + strings.Repeat("x", 43)); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of an acknowledgement link: %d, want 405 (a link preview must not acknowledge)", res.StatusCode)
	}
}

func TestDeviceName(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1":    "Safari on iPhone",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0":              "Edge on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0":                                                        "Firefox on macOS",
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36": "Samsung Internet on Android",
		"": "Browser",
	} {
		if got := web.DeviceName(ua); got != want {
			t.Errorf("DeviceName(%q) = %q, want %q", ua, got, want)
		}
	}
}
