package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Coalescing. Watch faces poll every minute or so, each with the same
// request for as long as its session lives; a household of watches on one
// account, or one watch app on several devices sharing a session, sends
// identical reads. Identical reads within the window share one upstream
// call and its answer.
//
// "Identical" is the full request: method, upstream URL (region, path and
// the query, which holds the session id), Content-Type, Accept and the
// body bytes. Two different sessions — and so two different accounts —
// never share an answer. Only relayKey and format are not part of the key,
// because they are not forwarded and do not change a read's answer.

// coalesceKey returns the hex SHA-256 of everything the upstream sees of
// the request.
func coalesceKey(r *http.Request, c *call) string {
	h := sha256.New()
	for _, part := range []string{r.Method, c.target.String(), r.Header.Get("Content-Type"),
		r.Header.Get("Accept"), string(c.body)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// flights holds the upstream calls in flight and the answers of the
// window.
type flights struct {
	window time.Duration

	mu        sync.Mutex
	m         map[string]*flight
	lastSweep time.Time
}

// flight is one upstream call. done is closed when res is set.
type flight struct {
	started time.Time
	done    chan struct{}
	res     *result
	landed  bool
	keep    bool // the answer may be reused until started + window
}

func newFlights(window time.Duration) *flights {
	return &flights{window: window, m: map[string]*flight{}}
}

// join returns the flight for key — one in the air, or one whose answer is
// still fresh — or, when there is none, a new one that the caller (the
// leader) must land.
func (f *flights) join(key string, now time.Time) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil && (!fl.landed || fl.keep && now.Before(fl.started.Add(f.window))) {
		return fl, false
	}
	if now.Sub(f.lastSweep) >= f.window {
		f.sweep(now)
	}
	fl = &flight{started: now, done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

// land publishes the leader's answer. An answer that is not the upstream's
// (the upstream could not be reached) serves the requests already waiting
// but is not kept for later ones.
func (f *flights) land(key string, fl *flight, res *result, keep bool) {
	f.mu.Lock()
	fl.res, fl.landed, fl.keep = res, true, keep
	if !keep && f.m[key] == fl {
		delete(f.m, key)
	}
	f.mu.Unlock()
	close(fl.done)
}

// sweep forgets answers older than the window.
func (f *flights) sweep(now time.Time) {
	for k, fl := range f.m {
		if fl.landed && !now.Before(fl.started.Add(f.window)) {
			delete(f.m, k)
		}
	}
	f.lastSweep = now
}

// shared answers a coalescable read from its flight. The leader calls the
// upstream detached from its own client, so that the others still get the
// answer if the leader's client goes away; the silence watchdog still
// bounds the call.
func (rl *Relay) shared(w http.ResponseWriter, r *http.Request, c *call) {
	fl, leader := rl.flights.join(c.coalesce, rl.clock.Now())
	if leader {
		rl.lead(r, c, fl)
	} else {
		rl.m.coalesced.WithLabelValues(c.region).Inc()
		select {
		case <-fl.done:
		case <-r.Context().Done():
			return
		}
	}
	fl.res.writeTo(w, r)
}

// lead makes the upstream call of a flight and lands it, whatever happens.
// The proxy aborts with http.ErrAbortHandler when the upstream fails in the
// middle of its body; then the flight, leader included, gets the 502 of an
// unreachable upstream rather than half an answer.
func (rl *Relay) lead(r *http.Request, c *call, fl *flight) {
	cw := &capture{header: http.Header{}}
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			rl.flights.land(c.coalesce, fl, cw.result(), false)
			panic(p)
		}
		if p != nil || cw.status == 0 {
			cw = &capture{header: http.Header{}}
			rl.upstreamFailed(cw, r.WithContext(withCall(r.Context(), c)), errAborted)
		}
		rl.flights.land(c.coalesce, fl, cw.result(), !cw.failed)
	}()
	ctx, stop := rl.upstreamContext(context.WithoutCancel(r.Context()))
	defer stop()
	rl.proxy.ServeHTTP(cw, r.WithContext(withCall(ctx, c)))
}

var errAborted = errors.New("the upstream's answer broke off")

// result is a complete answer, shared by the requests of a flight.
type result struct {
	status int
	header http.Header
	body   []byte
}

func (res *result) writeTo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	if r.Method != http.MethodHead {
		w.Write(res.body)
	}
}

// capture is the ResponseWriter a flight's leader proxies into.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
	failed bool // the answer is the relay's 502, not the upstream's
}

func (cw *capture) Header() http.Header { return cw.header }

func (cw *capture) WriteHeader(status int) {
	if cw.status == 0 {
		cw.status = status
	}
}

func (cw *capture) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	return cw.body.Write(p)
}

func (cw *capture) result() *result {
	return &result{status: cw.status, header: cw.header.Clone(), body: bytes.Clone(cw.body.Bytes())}
}
