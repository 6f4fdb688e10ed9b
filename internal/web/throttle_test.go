package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/web"
)

// signInFrom submits the sign-in form as a browser behind the address
// addr (the test server listens on loopback, a trusted proxy, so
// X-Forwarded-For names the client).
func (b *browser) signInFrom(addr, name, pw string) page {
	b.e.t.Helper()
	tok := b.csrf("/signin")
	form := url.Values{"csrf": {tok}, "name": {name}, "password": {pw}, "next": {"/"}}
	req, _ := http.NewRequest("POST", b.e.srv.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	return b.do(req)
}

// TestSignInThrottle: an attacker's failures from one address slow that
// address down (429 with Retry-After) but do not keep the owner out: its
// browser, whose cookie still names a session that expired yesterday,
// signs in from the attacker's very address, and a new browser signs in
// from another address.
func TestSignInThrottle(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	owner := e.browser()
	if p := owner.signInFrom("203.0.113.10", "sam", password); p.status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", p.status)
	}
	e.clock.Advance(25 * time.Hour) // the session has expired; the cookie stays
	attacker := e.browser()
	var last page
	for i := 0; i < 30; i++ {
		last = attacker.signInFrom("198.51.100.7", "sam", "guess")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Errorf("the attacker's 30th attempt: %d Retry-After %q, want 429 with Retry-After", last.status, last.header.Get("Retry-After"))
	}
	if p := owner.signInFrom("198.51.100.7", "sam", password); p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Errorf("the owner's browser at the attacker's address: %d", p.status)
	}
	if p := e.browser().signInFrom("192.0.2.99", "sam", password); p.status != http.StatusSeeOther {
		t.Errorf("the owner at a new address: %d", p.status)
	}
}
