package nightscout

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Throttling of refused credentials per client address, as Nightscout's
// lib/authorization/delaylist.js does it: every refused credential pushes
// the address's next check authFailDelay (5 s) further into the future,
// and a request that presents a credential first waits until then.
// Whatever the number of requests in parallel, an address gets one
// guess per 5 s on average.
//
// Three differences, each because one server holds many accounts:
//
//   - a success does not clear the address's delay (Nightscout's
//     requestSucceeded does): here an attacker with a valid credential of
//     their own would otherwise reset it between guesses at others';
//   - a request does not wait beyond maxThrottleWait: past that it is
//     refused at once, uncounted and unchecked, so that waiting requests
//     cannot pile up, and the address's delay keeps its pace;
//   - IPv6 clients are counted per /64, the block one client controls,
//     and the list is bounded (an address beyond the bound shares one
//     slot with the others beyond it).
//
// The list is in memory, per instance, like Nightscout's: it slows a
// guesser down; what makes guessing futile is the strength of secrets and
// tokens (core.CheckNightscoutSecret).

const (
	authFailDelay   = 5 * time.Second  // settings.authFailDelay
	failAge         = time.Minute      // FAIL_AGE: forgotten this long after the delay ends
	maxThrottleWait = 10 * time.Second // longer waits are refused at once
	maxDelayEntries = 100_000
)

// errThrottled refuses a request whose address would wait too long.
var errThrottled = fmt.Errorf("%w: too many refused credentials from this address", core.ErrNightscoutDenied)

type delayList struct {
	clock glucose.Clock
	sleep func(context.Context, time.Duration) error

	mu    sync.Mutex
	until map[netip.Prefix]time.Time
	swept time.Time
}

func newDelayList(clock glucose.Clock, sleep func(context.Context, time.Duration) error) *delayList {
	return &delayList{clock: clock, sleep: sleep, until: map[netip.Prefix]time.Time{}}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// key is the slot of an address: itself for IPv4, its /64 for IPv6, one
// slot for whatever does not parse.
func key(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// wait blocks until the address may have its credential checked.
func (d *delayList) wait(ctx context.Context, addr netip.Addr) error {
	d.mu.Lock()
	until := d.until[key(addr)]
	d.mu.Unlock()
	delay := until.Sub(d.clock.Now())
	switch {
	case delay <= 0:
		return nil
	case delay > maxThrottleWait:
		return errThrottled
	}
	return d.sleep(ctx, delay)
}

// failed records a refused credential from the address.
func (d *delayList) failed(addr netip.Addr) {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	k := key(addr)
	if _, ok := d.until[k]; !ok && len(d.until) >= maxDelayEntries {
		d.sweep(now)
		if len(d.until) >= maxDelayEntries {
			k = overflowSlot
		}
	}
	until := d.until[k]
	if until.Before(now) {
		until = now
	}
	d.until[k] = until.Add(authFailDelay)
	if now.Sub(d.swept) > failAge {
		d.sweep(now)
	}
}

// overflowSlot is shared by the addresses beyond maxDelayEntries.
var overflowSlot = netip.PrefixFrom(netip.IPv6Unspecified(), 1)

// sweep forgets addresses whose delay ended failAge ago.
func (d *delayList) sweep(now time.Time) {
	for k, until := range d.until {
		if now.Sub(until) > failAge {
			delete(d.until, k)
		}
	}
	d.swept = now
}
