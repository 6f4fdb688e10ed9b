package nightscout_test

import (
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

// TestThrottle: refused credentials delay an address's next checks by 5 s
// each, as Nightscout's delay list does; beyond 10 s of pending delay a
// request is refused at once; a success does not clear the delay; other
// addresses (other /64s for IPv6) are not affected, and the address is
// forgotten a minute after its delay ends.
func TestThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("sam", samSecret)
	good := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	bad := []string{"api-secret", core.NightscoutSecretHash("a guess")}
	const list = "/api/v1/entries.json"
	step := func(what, addr string, headers []string, wantStatus int, wantSlept time.Duration) {
		t.Helper()
		e.addr = addr
		before := time.Duration(e.slept.Load())
		r := e.do("GET", list, "", headers...)
		slept := time.Duration(e.slept.Load()) - before
		if r.status != wantStatus || slept != wantSlept {
			t.Errorf("%s: %d after waiting %s, want %d after %s", what, r.status, slept, wantStatus, wantSlept)
		}
	}
	step("first guess", "192.0.2.1:1000", bad, 401, 0)
	step("second guess waits 5 s", "192.0.2.1:1001", bad, 401, 5*time.Second)
	step("a valid secret from the address waits too", "192.0.2.1:1002", good, 200, 5*time.Second)
	step("third guess: the delay has passed", "192.0.2.1:1003", bad, 401, 0)
	step("another address", "192.0.2.2:1000", good, 200, 0)
	step("a request without a credential is no guess", "192.0.2.1:1004", nil, 401, 0)
	// Guesses sent in parallel each wait the same delay and each add 5 s:
	// with the clock frozen while they wait, as it is for parallel
	// requests, two more take the pending delay to 15 s. Over 10 s, even
	// a valid credential is refused at once, unchecked, and a guess is
	// not counted.
	e.frozen.Store(true)
	step("parallel guess 1", "192.0.2.1:1005", bad, 401, 5*time.Second)
	step("parallel guess 2", "192.0.2.1:1006", bad, 401, 10*time.Second)
	step("over 10 s pending: refused at once", "192.0.2.1:1007", good, 401, 0)
	step("a guess then is not counted", "192.0.2.1:1008", bad, 401, 0)
	e.frozen.Store(false)
	e.clock.Advance(7 * time.Second)
	step("down to 8 s pending", "192.0.2.1:1009", good, 200, 8*time.Second)
	e.clock.Advance(61 * time.Second)
	step("a minute after the delay ended", "192.0.2.1:1011", good, 200, 0)

	// IPv6 clients count per /64.
	step("an IPv6 guess", "[2001:db8::1]:1000", bad, 401, 0)
	step("the same /64", "[2001:db8::2]:1000", good, 200, 5*time.Second)
	step("another /64", "[2001:db8:0:1::1]:1000", good, 200, 0)

	// Behind a trusted proxy (loopback), the forwarded client counts.
	e.addr = "127.0.0.1:5000"
	r := e.do("GET", list, "", append(bad, "X-Forwarded-For", "203.0.113.7")...)
	before := e.slept.Load()
	r = e.do("GET", list, "", append(good, "X-Forwarded-For", "203.0.113.8")...)
	if r.status != 200 || e.slept.Load() != before {
		t.Errorf("another forwarded client waited: %d", r.status)
	}
	r = e.do("GET", list, "", append(good, "X-Forwarded-For", "203.0.113.7")...)
	if r.status != 200 || time.Duration(e.slept.Load()-before) != 5*time.Second {
		t.Errorf("the forwarded client that guessed: %d after %s", r.status, time.Duration(e.slept.Load()-before))
	}
}
