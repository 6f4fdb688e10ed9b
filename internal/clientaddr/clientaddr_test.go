package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	trusted, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(trusted)
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer cannot claim an address", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "127.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "127.0.0.1:4000", []string{"198.51.100.1, 10.1.1.1", "10.2.2.2"}, "198.51.100.1"},
		{"spoofed first hop is ignored", "127.0.0.1:4000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"malformed hop stops the walk", "127.0.0.1:4000", []string{"198.51.100.1, junk"}, "127.0.0.1"},
		{"trusted proxy without header", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"v4-mapped peer", "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
		{"v6 peer", "[2001:db8::1]:4000", nil, "2001:db8::1"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.remote
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := r.Addr(req); got != netip.MustParseAddr(c.want) {
			t.Errorf("%s: Addr = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestNilResolverTrustsLoopback(t *testing.T) {
	var r *Resolver
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	if got := r.Addr(req); got != netip.MustParseAddr("198.51.100.9") {
		t.Errorf("Addr = %s, want the address a local proxy forwarded", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	if ps, err := ParsePrefixes("none"); err != nil || len(ps) != 0 {
		t.Errorf("none: %v %v", ps, err)
	}
	if _, err := ParsePrefixes("10.0.0.0/8, nonsense"); err == nil {
		t.Error("nonsense accepted")
	}
}
