package web_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/web"
)

// bandColor is the light theme's shading of the target range: present in
// a chart, absent when only the current value may be shown.
var bandColor = color.RGBA{0xe3, 0xf4, 0xe6, 0xff}

func decodePNG(t *testing.T, body string) image.Image {
	t.Helper()
	img, err := png.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func hasColor(img image.Image, c color.Color) bool {
	want := color.RGBAModel.Convert(c)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == want {
				return true
			}
		}
	}
	return false
}

func TestImages(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	e.account("eve", "Eve")
	e.upload(sam, 100, 150, 190, 210, 60, 95)
	sb, kb, eb := e.browser(), e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")
	eb.signIn("eve")

	// The sharer's own image, with its session.
	p := sb.get("/image/" + sam + ".png?hours=3&w=300&h=150")
	if p.status != 200 || p.header.Get("Content-Type") != "image/png" {
		t.Fatalf("png: %d %q", p.status, p.header.Get("Content-Type"))
	}
	img := decodePNG(t, p.body)
	if img.Bounds().Dx() != 300 || img.Bounds().Dy() != 150 {
		t.Errorf("png size %v, want 300×150", img.Bounds())
	}
	if !hasColor(img, bandColor) {
		t.Error("the chart has no shaded target range")
	}
	if cc := p.header.Get("Cache-Control"); cc != "private, max-age=60" {
		t.Errorf("Cache-Control %q", cc)
	}
	etag := p.header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	if nm := sb.get("/image/"+sam+".png?hours=3&w=300&h=150", "If-None-Match", etag); nm.status != http.StatusNotModified || nm.body != "" {
		t.Errorf("If-None-Match: %d", nm.status)
	}
	// Other parameters, a new reading, or time moving the axis: new picture.
	if other := sb.get("/image/" + sam + ".png?hours=4&w=300&h=150"); other.header.Get("ETag") == etag {
		t.Error("hours do not change the ETag")
	}
	e.clock.Advance(5 * time.Minute)
	e.upload(sam, 97)
	if nm := sb.get("/image/"+sam+".png?hours=3&w=300&h=150", "If-None-Match", etag); nm.status != http.StatusOK {
		t.Errorf("a new reading still answers %d", nm.status)
	}

	// SVG: valid XML with the asked size, and locked down when opened alone.
	s := sb.get("/image/" + sam + ".svg?hours=6&w=640&h=320&theme=dark")
	if s.status != 200 || s.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("svg: %d %q", s.status, s.header.Get("Content-Type"))
	}
	var root struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
		Height  string `xml:"height,attr"`
		ViewBox string `xml:"viewBox,attr"`
	}
	dec := xml.NewDecoder(strings.NewReader(s.body))
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("svg is not XML: %v", err)
	}
	for { // the rest must parse too
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("svg: %v", err)
			}
			break
		}
	}
	if root.XMLName.Local != "svg" || root.Width != "640" || root.Height != "320" || root.ViewBox != "0 0 640 320" {
		t.Errorf("svg root %+v", root)
	}
	if !strings.Contains(s.header.Get("Content-Security-Policy"), "sandbox") {
		t.Error("svg without a sandboxing CSP")
	}

	// E-ink: grayscale PNG.
	ei := decodePNG(t, sb.get("/image/"+sam+".png?w=800&h=480&theme=eink").body)
	if _, gray := ei.(*image.Gray); !gray || ei.Bounds().Dx() != 800 {
		t.Errorf("eink: %T %v", ei, ei.Bounds())
	}
	// Tiny pictures for watches, without axes.
	if tiny := decodePNG(t, sb.get("/image/"+sam+".png?w=64&h=64").body); tiny.Bounds().Dx() != 64 || tiny.Bounds().Dy() != 64 {
		t.Errorf("tiny: %v", tiny.Bounds())
	}

	// Bad parameters, no credentials, a stranger.
	for _, q := range []string{".png?w=63", ".png?w=2001", ".png?hours=0", ".png?hours=25", ".png?theme=neon", ".gif", ".png?h=x"} {
		if p := sb.get("/image/" + sam + q); p.status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, p.status)
		}
	}
	if p := e.browser().get("/image/" + sam + ".png"); p.status != http.StatusUnauthorized {
		t.Errorf("no session, no token: %d", p.status)
	}
	if p := eb.get("/image/" + sam + ".png"); p.status != http.StatusNotFound {
		t.Errorf("a stranger: %d", p.status)
	}

	// A follower with history, then with permission 0: only the value.
	link := sb.invite("Kim", true)
	kb.submit(link, link+"/accept")
	follow := decodePNG(t, kb.get("/image/"+sam+".png?w=300&h=150").body)
	if !hasColor(follow, bandColor) {
		t.Error("follower with history gets no chart")
	}
	subID := regexp.MustCompile(`id="f-([0-9a-f-]{36})"`).FindStringSubmatch(sb.get("/followers").body)[1]
	sb.submit("/followers", "/followers/"+subID+"/permissions", "permissions", "0")
	kp := kb.get("/image/" + sam + ".png?w=300&h=150")
	if kp.status != 200 || hasColor(decodePNG(t, kp.body), bandColor) {
		t.Errorf("permission 0 still draws the history (%d)", kp.status)
	}
	if kp.header.Get("ETag") == sb.get("/image/"+sam+".png?w=300&h=150").header.Get("ETag") {
		t.Error("the follower's value-only picture shares the sharer's ETag")
	}
}

func TestImageTokens(t *testing.T) {
	e := newEnv(t, web.Options{PublicURL: "https://glucose.example.org"})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	e.upload(sam, 120, 125)
	sb, kb := e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")

	// The sharer's own link: shown once, works without a session.
	p := sb.post("/tokens", "csrf", sb.csrf("/profile"), "back", "profile", "label", "kitchen")
	m := regexp.MustCompile(`value="https://glucose\.example\.org(/image/` + sam + `\.png\?hours=3&amp;w=320&amp;h=160&amp;token=([A-Za-z0-9_-]{22}))"`).FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		t.Fatalf("new token page: %d\n%s", p.status, p.body)
	}
	own := strings.ReplaceAll(m[1], "&amp;", "&")
	anon := e.browser()
	if r := anon.get(own); r.status != 200 || !hasColor(decodePNG(t, r.body), bandColor) {
		t.Errorf("own token: %d", r.status)
	}
	if !strings.Contains(sb.get("/profile").body, "kitchen") || strings.Contains(sb.get("/profile").body, m[2]) {
		t.Error("the token list shows the token again, or not its label")
	}
	// A token names one publisher; a made-up token is nothing.
	kim := kb.accountID()
	if r := anon.get("/image/" + kim + ".png?token=" + m[2]); r.status != http.StatusNotFound {
		t.Errorf("token for another publisher: %d", r.status)
	}
	if r := anon.get("/image/" + sam + ".png?token=AAAAAAAAAAAAAAAAAAAAAA"); r.status != http.StatusNotFound {
		t.Errorf("unknown token: %d", r.status)
	}

	// A follower's link follows the subscription: permission 0 and pause
	// apply at once.
	link := sb.invite("Kim", true)
	kb.submit(link, link+"/accept")
	subID := regexp.MustCompile(`id="s-([0-9a-f-]{36})"`).FindStringSubmatch(kb.get("/following").body)[1]
	fp := kb.post("/tokens", "csrf", kb.csrf("/following"), "back", "following", "subscription", subID, "label", "watch")
	fm := regexp.MustCompile(`token=([A-Za-z0-9_-]{22})"`).FindStringSubmatch(fp.body)
	if fm == nil {
		t.Fatalf("follower token page:\n%s", fp.body)
	}
	url := "/image/" + sam + ".png?w=200&h=120&token=" + fm[1]
	if r := anon.get(url); r.status != 200 || !hasColor(decodePNG(t, r.body), bandColor) {
		t.Errorf("follower token: %d", r.status)
	}
	sb.submit("/followers", "/followers/"+subID+"/permissions", "permissions", "0")
	if r := anon.get(url); r.status != 200 || hasColor(decodePNG(t, r.body), bandColor) {
		t.Errorf("follower token, permission 0: %d", r.status)
	}
	sb.submit("/followers", "/followers/"+subID+"/pause")
	if r := anon.get(url); r.status != http.StatusNotFound {
		t.Errorf("follower token while paused: %d", r.status)
	}
	sb.submit("/followers", "/followers/"+subID+"/resume")
	// Revoked: gone.
	tokID := regexp.MustCompile(`/tokens/([0-9a-f-]{36})/delete`).FindStringSubmatch(kb.get("/following").body)[1]
	kb.submit("/following", "/tokens/"+tokID+"/delete", "back", "following")
	if r := anon.get(url); r.status != http.StatusNotFound {
		t.Errorf("revoked token: %d", r.status)
	}
	// Tokens are stored hashed only.
	tokens, err := e.svc.ReadTokens(context.Background(), sam)
	if err != nil || len(tokens) != 1 || bytes.Contains([]byte(tokens[0].Hash), []byte(m[2])) || len(tokens[0].Hash) != 64 {
		t.Errorf("stored tokens %+v %v", tokens, err)
	}
}

func TestWebhooksAndAvatar(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	sb, kb := e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")
	kb.submit("/following", "/webhooks", "url", "https://hooks.example.org/glucose", "secret", "0123456789abcdef")
	p := kb.get("/following")
	if !strings.Contains(p.body, "https://hooks.example.org/glucose") {
		t.Fatalf("webhook not listed")
	}
	if r := kb.post("/webhooks", "csrf", kb.csrf("/following"), "url", "ftp://x", "secret", "0123456789abcdef"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad webhook URL: %d", r.status)
	}
	id := regexp.MustCompile(`/webhooks/([0-9a-f-]{36})/delete`).FindStringSubmatch(p.body)[1]
	kb.submit("/following", "/webhooks/"+id+"/delete")
	if strings.Contains(kb.get("/following").body, "hooks.example.org") {
		t.Error("webhook not deleted")
	}

	// Avatar: uploaded by its owner, seen by followers only.
	var png1 bytes.Buffer
	png.Encode(&png1, image.NewGray(image.Rect(0, 0, 8, 8)))
	body, ctype := multipartAvatar(t, sb.csrf("/profile"), png1.Bytes())
	req, _ := http.NewRequest("POST", e.srv.URL+"/profile/avatar", body)
	req.Header.Set("Content-Type", ctype)
	if r := sb.do(req); r.status != http.StatusSeeOther {
		t.Fatalf("avatar upload: %d\n%s", r.status, r.body)
	}
	if r := sb.get("/app/avatar/" + sam); r.status != 200 || r.header.Get("Content-Type") != "image/png" || r.body != png1.String() {
		t.Errorf("own avatar: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if r := kb.get("/app/avatar/" + sam); r.status != http.StatusNotFound {
		t.Errorf("avatar to a stranger: %d", r.status)
	}
}

// TestConcurrentLargeImagesAreBounded: eight 2000×2000 pictures of a day
// asked for at once (0.6 s of CPU each) do not all render together: with
// one render slot and a short wait, the ones that find no slot are
// answered 503 with Retry-After.
func TestConcurrentLargeImagesAreBounded(t *testing.T) {
	e := newEnv(t, web.Options{RenderConcurrency: 1, RenderWait: 100 * time.Millisecond})
	sam := e.account("sam", "Sam")
	values := make([]int, 288)
	for i := range values {
		values[i] = 60 + (i*7)%250
	}
	e.upload(sam, values...)
	token, _, err := e.svc.CreateReadToken(t.Context(), sam, "", "big", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	retry := make([]string, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(fmt.Sprintf("%s/image/%s.png?hours=24&w=%d&h=2000&token=%s", e.srv.URL, sam, 2000-i, token))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i], retry[i] = res.StatusCode, res.Header.Get("Retry-After")
		}()
	}
	wg.Wait()
	refused := 0
	for i, s := range statuses {
		switch {
		case s == http.StatusServiceUnavailable && retry[i] != "":
			refused++
		case s != http.StatusOK:
			t.Errorf("request %d: %d", i, s)
		}
	}
	if refused == 0 || refused == len(statuses) {
		t.Errorf("statuses %v: want some drawn and the rest refused with 503 and Retry-After", statuses)
	}
}
