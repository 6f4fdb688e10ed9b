// Package clientaddr tells which address a request came from, for the
// rules that count per client address (failed credentials). Behind a
// reverse proxy every connection comes from the proxy, so the address is
// taken from X-Forwarded-For, but only from proxies the operator trusts:
// anyone else could write any address there.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultTrusted is the proxies trusted when the operator names none: a
// proxy on the same machine (Caddy or nginx in front of glucoshare).
var DefaultTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Resolver finds the client address of requests.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver that believes X-Forwarded-For only when
// the connection comes from one of trusted.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// ParsePrefixes parses a comma-separated list of addresses and CIDR
// prefixes, as the --trusted-proxies flag takes it; "" and "none" give
// none.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	ps := []netip.Prefix{} // never nil: "none" is a choice, not a default
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" || f == "none" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			ps = append(ps, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", f)
		}
		ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return ps, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	trusted := DefaultTrusted
	if r != nil {
		trusted = r.trusted
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the request's client address: the connection's peer or,
// while the peer is a trusted proxy, the address that proxy names last in
// X-Forwarded-For (each trusted proxy appends the address it received the
// request from). It returns the zero Addr when nothing parses, which
// callers count as one address of its own. A nil Resolver trusts
// DefaultTrusted. The address is worked out only when asked for: most
// requests never need it.
func (r *Resolver) Addr(req *http.Request) netip.Addr {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() || !r.isTrusted(peer) {
		return peer
	}
	hops := forwardedFor(req.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer // a malformed hop: stop believing the header
		}
		peer = a.Unmap().WithZone("")
		if !r.isTrusted(peer) {
			return peer
		}
	}
	return peer
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// forwardedFor splits the X-Forwarded-For header lines into hops, first to
// last; at most 32 are looked at.
func forwardedFor(lines []string) []string {
	var hops []string
	for _, l := range lines {
		for _, h := range strings.Split(l, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	if len(hops) > 32 {
		hops = hops[len(hops)-32:]
	}
	return hops
}
