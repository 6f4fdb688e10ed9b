package relay

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upstream pauses. The hosted service answers 429 with Retry-After when a
// client calls too often (cgm-remote-monitor#8440), and a Share server may
// answer 503 with Retry-After while it is unavailable. Its limit applies to
// its caller, and for the upstream every watch behind the relay is one
// caller: so the pause applies to the upstream host, not to one request.
// The upstream's answer is passed on unchanged; until the pause ends the
// relay answers 429 TooManyRequests with the remaining Retry-After itself,
// without calling the upstream.

const (
	// default429Pause is the pause after a 429 without Retry-After.
	default429Pause = 60 * time.Second
	// maxPause caps what an upstream can ask for.
	maxPause = time.Hour
)

// throttle holds the pause of each upstream host.
type throttle struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newThrottle() *throttle { return &throttle{until: map[string]time.Time{}} }

// hold pauses host until until, unless a longer pause is on.
func (t *throttle) hold(host string, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.After(t.until[host]) {
		t.until[host] = until
	}
}

// wait returns how long host is still paused at now; 0 when it is not.
func (t *throttle) wait(host string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.until[host]
	if !ok {
		return 0
	}
	if !now.Before(until) {
		delete(t.until, host)
		return 0
	}
	return until.Sub(now)
}

// noteRetryAfter starts a pause when the upstream answered 429 (with or
// without Retry-After) or 503 with Retry-After.
func (rl *Relay) noteRetryAfter(resp *http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return
	}
	now := rl.clock.Now()
	pause, ok := retryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case ok:
	case resp.StatusCode == http.StatusTooManyRequests:
		pause = default429Pause
	default:
		return
	}
	rl.throttle.hold(resp.Request.URL.Host, now.Add(min(pause, maxPause)))
}

// retryAfter reads a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(maxPause/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
