// Package netguard decides which addresses glucoshare's outbound requests
// may reach. Followers and account owners give the server URLs to call
// (webhooks, push services, a Share server to mirror); without a guard, a
// URL naming 127.0.0.1, a private network or a cloud metadata service would
// make the server probe the operator's own network for them. Every outbound
// client is built here, and by default it connects only to globally
// routable unicast addresses, as the IANA special-purpose address
// registries define them. The check runs on the address actually dialled,
// after name resolution, so a host name that resolves to a private address
// (DNS rebinding included) is refused as well.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrNotGlobal is returned, wrapped, when a connection would reach an
// address that is not globally routable and the operator has not allowed
// that.
var ErrNotGlobal = errors.New("address is not globally routable")

// notGlobal lists the special-purpose blocks that are not globally
// reachable (IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC
// 6890 and its updates), together with multicast and the blocks reserved
// for the future. Embedded IPv4 addresses (v4-mapped, NAT64, 6to4) are
// judged by the address they embed, in Global.
var notGlobal = prefixes(
	// IPv4
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (carrier-grade NAT; cloud metadata, Tailscale)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link local (cloud metadata)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments (exceptions below)
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, including 255.255.255.255 (broadcast)
	// IPv6 (only 2000::/3 is global unicast; see Global)
	"64:ff9b:1::/48", // local-use NAT64
	"2001::/23",      // IETF protocol assignments, Teredo included (exceptions below)
	"2001:db8::/32",  // documentation
	"3fff::/20",      // documentation
)

// globalExceptions are the blocks inside notGlobal that the registries
// mark globally reachable.
var globalExceptions = prefixes(
	"192.0.0.9/32",  // Port Control Protocol anycast
	"192.0.0.10/32", // TURN anycast
	"2001:1::1/128", // Port Control Protocol anycast
	"2001:1::2/128", // TURN anycast
	"2001:3::/32",   // AMT
	"2001:4:112::/48",
	"2001:20::/28", // ORCHIDv2
	"2001:30::/28", // drone remote ID
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// Global reports whether addr is a globally routable unicast address.
// IPv4 addresses embedded in IPv6 ones (v4-mapped ::ffff:a.b.c.d, the NAT64
// prefix 64:ff9b::/96 and 6to4 2002::/16) are judged by the IPv4 address
// they lead to.
func Global(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return false
	}
	if addr.Is4In6() {
		return Global(addr.Unmap())
	}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr):
			return Global(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(addr):
			return Global(netip.AddrFrom4([4]byte(b[2:6])))
		case !globalUnicast6.Contains(addr):
			// Loopback, unspecified, v4-compatible, unique local,
			// link local, site local, multicast, discard-only and the
			// unassigned space are all outside 2000::/3.
			return false
		}
	}
	for _, p := range globalExceptions {
		if p.Contains(addr) {
			return true
		}
	}
	for _, p := range notGlobal {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Control returns a net.Dialer Control function that refuses every address
// that is not Global, or nil when allowPrivate lets everything through.
func Control(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	if allowPrivate {
		return nil
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrNotGlobal, address)
		}
		if !Global(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrNotGlobal, ap.Addr())
		}
		return nil
	}
}

// CheckURL refuses, before any request is made, a URL whose host is an IP
// literal that is not Global, so that a person entering such an address is
// told at once instead of at the first delivery. Host names are checked
// when they are dialled.
func CheckURL(u *url.URL, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !Global(addr) {
		return fmt.Errorf("%w: %s", ErrNotGlobal, addr)
	}
	return nil
}

// NewClient returns an HTTP client for requests to addresses that people,
// not the operator, choose: a timeout on every phase, no redirects (a
// redirect could lead anywhere), no proxy from the environment, and unless
// allowPrivate a dialer that connects only to Global addresses.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: Control(allowPrivate)}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Redact returns err's text without the URL a failed request was made to:
// URLs given by people carry secrets in their path and query (a webhook
// token, an ntfy topic), and errors end up in logs and in the database. The
// host is kept, because it is what an operator needs to see.
func Redact(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err.Error()
	}
	host := ""
	if u, perr := url.Parse(ue.URL); perr == nil {
		host = u.Host
	}
	return fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err)
}
