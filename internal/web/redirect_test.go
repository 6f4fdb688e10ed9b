package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/web"
)

// TestSignInRedirectStaysLocal sends the attack's next values to the real
// handlers and checks the Location header they answer with: a path on this
// site, as the browser will read it (browsers drop tabs and newlines and
// read a backslash as a slash), never another host.
func TestSignInRedirectStaysLocal(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	cases := []struct{ rawNext, want string }{
		{"/x/../%5Cevil.example/", "/"},
		{"/%09/evil.example/", "/"},
		{"/%0a/evil.example/", "/"},
		{"/%0d%0a/evil.example/", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"%5C%5Cevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/%00/evil.example", "/"},
		{"/.%2F%2Fevil.example", "/evil.example"},
		{"/x/..//evil.example", "/evil.example"},
		{"evil.example", "/"},
		{"", "/"},
		// Local paths pass, cleaned as they are sent.
		{"/followers", "/followers"},
		{"/following?x=1", "/following?x=1"},
		{"/a/./b/../c/", "/a/c/"},
		{"/invite/3c348745-d2b3-4e3e-a8fe-306c0c18eae6", "/invite/3c348745-d2b3-4e3e-a8fe-306c0c18eae6"},
	}
	for _, c := range cases {
		p := b.roundTrip("GET", "/signin?next="+c.rawNext, "", "")
		if p.status != http.StatusSeeOther {
			t.Errorf("next=%s: status %d, want 303 %s", c.rawNext, p.status, p.body)
			continue
		}
		if got := p.header.Get("Location"); got != c.want || !isLocal(got) {
			t.Errorf("next=%s: Location %q, want %q", c.rawNext, got, c.want)
		}
	}
	// The same through the sign-in form.
	for _, c := range cases {
		next, err := url.QueryUnescape(c.rawNext)
		if err != nil {
			t.Fatal(err)
		}
		b2 := e.browser()
		tok := b2.csrf("/signin")
		form := url.Values{"csrf": {tok}, "name": {"sam"}, "password": {password}, "next": {next}}
		p := b2.roundTrip("POST", "/signin", form.Encode(), "application/x-www-form-urlencoded")
		if got := p.header.Get("Location"); p.status != http.StatusSeeOther || got != c.want || !isLocal(got) {
			t.Errorf("form next=%q: %d Location %q, want %q %s", next, p.status, got, c.want, p.body)
		}
	}
}

// isLocal reads a Location value as a browser does (WHATWG URL: tabs and
// newlines removed, backslashes as slashes) and reports whether it stays on
// this site.
func isLocal(loc string) bool {
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	return strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
}

// roundTrip sends one request with the browser's cookies and returns the
// answer as it came, without the client's checks of the Location header
// (which refuses some of the values this test is about).
func (b *browser) roundTrip(method, path, body, contentType string) page {
	b.e.t.Helper()
	req, err := http.NewRequest(method, b.e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil { // a header the client cannot even read
		return page{body: err.Error(), header: http.Header{}}
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return page{status: res.StatusCode, header: res.Header}
}
