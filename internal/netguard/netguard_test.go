package netguard

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGlobal(t *testing.T) {
	notGlobal := []string{
		// The attack's findings.
		"100.100.100.200", "100.64.0.1", "100.127.255.255", "198.18.0.1", "198.19.255.255",
		"240.0.0.1", "255.255.255.255", "0.0.0.0", "0.1.2.3",
		// The usual suspects.
		"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
		"192.0.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "192.88.99.1", "224.0.0.251", "239.1.2.3",
		// IPv6, and IPv4 reached through IPv6.
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
		"::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:100.100.100.200", "::10.0.0.1",
		"64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::6464:64c8", "64:ff9b:1::1",
		"2002:a00:1::1", "2002:7f00:1::", "2001::1", "2001:db8::1", "3fff::1", "100::1", "5f00::1",
	}
	global := []string{
		"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "198.17.255.255", "198.20.0.0",
		"192.0.0.9", "192.0.0.10", "172.32.0.1", "223.255.255.255",
		"2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2002:808:808::1", "2001:4860:4860::8888", "2001:20::1",
	}
	for _, s := range notGlobal {
		if Global(netip.MustParseAddr(s)) {
			t.Errorf("Global(%s) = true, want false", s)
		}
	}
	for _, s := range global {
		if !Global(netip.MustParseAddr(s)) {
			t.Errorf("Global(%s) = false, want true", s)
		}
	}
	if Global(netip.Addr{}) {
		t.Error("the zero Addr is global")
	}
}

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := NewClient(time.Second, false).Get(srv.URL)
	if !errors.Is(err, ErrNotGlobal) {
		t.Errorf("GET %s: %v, want ErrNotGlobal", srv.URL, err)
	}
	// A host name resolving to loopback is refused at the dial too.
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if _, err := NewClient(time.Second, false).Get(local); !errors.Is(err, ErrNotGlobal) {
		t.Errorf("GET %s: %v, want ErrNotGlobal", local, err)
	}
	resp, err := NewClient(time.Second, true).Get(srv.URL)
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	resp.Body.Close()
}

func TestClientFollowsNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := NewClient(time.Second, true).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d, want the redirect itself (302), not followed", resp.StatusCode)
	}
}

func TestCheckURL(t *testing.T) {
	for raw, wantErr := range map[string]bool{
		"http://100.100.100.200/latest": true,
		"http://[::ffff:a00:1]/x":       true,
		"https://127.0.0.1:8443/hook":   true,
		"https://example.org/hook":      false, // names are checked when dialled
		"https://8.8.8.8/hook":          false,
	} {
		u, _ := url.Parse(raw)
		if err := CheckURL(u, false); (err != nil) != wantErr {
			t.Errorf("CheckURL(%s) = %v, want error %t", raw, err, wantErr)
		}
		if err := CheckURL(u, true); err != nil {
			t.Errorf("CheckURL(%s) with private allowed = %v", raw, err)
		}
	}
}

func TestRedactKeepsOnlyTheHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Close() // connection refused
	target := srv.URL + "/hooks/SECRETPATH?token=SECRETTOKEN"
	_, err := NewClient(time.Second, true).Post(target, "application/json", nil)
	if err == nil {
		t.Fatal("a closed server answered")
	}
	got := Redact(err)
	if strings.Contains(got, "SECRET") {
		t.Errorf("Redact kept the URL's path or query: %s", got)
	}
	if host := strings.TrimPrefix(srv.URL, "http://"); !strings.Contains(got, host) {
		t.Errorf("Redact dropped the host %s: %s", host, got)
	}
	if got := Redact(fmt.Errorf("receiver answered 410 Gone")); got != "receiver answered 410 Gone" {
		t.Errorf("Redact changed an error without a URL: %s", got)
	}
}
