// Package mirror polls the Share accounts that glucoshare accounts are
// linked to (docs/mirror.md) and stores their readings through the upload
// path (core.RecordMirrorPoll).
//
// Each link is polled by one instance at a time: a Poller claims due
// links in the database (next poll time reached, no live claim) with one
// conditional UPDATE, polls them with bounded concurrency, and writes the
// outcome and the next poll time with the readings, ending its claim.
// Polls are timed from the newest reading's time — one read per expected
// reading, 5 minutes apart, plus the delay observed upstream — not on a
// fixed tick. The upstream session is kept (sealed) with the link and
// reused; the client logs in again only when the upstream ends it. A login
// the upstream refuses (a wrong password, an unknown account, a lockout)
// stops the link at once: one more attempt with the same password could
// lock the sharer out of their Dexcom account.
package mirror

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/share"
)

// Defaults of Options.
const (
	DefaultConcurrency = 32
	DefaultTick        = time.Second
	DefaultTimeout     = 20 * time.Second
)

// The schedule of polls.
const (
	// Interval is the time between two readings of a sensor.
	Interval = 5 * time.Minute
	// retryStep is how soon a poll that found no new reading is repeated
	// during the minute after the reading was expected: a reading that
	// appears late is mirrored within this.
	retryStep = 15 * time.Second
	// retryWindow is how long after an expected reading the poller keeps
	// retrying every retryStep; after it, it waits for the next expected
	// reading.
	retryWindow = time.Minute
	// quietAfter is how long without a reading before the poller stops
	// retrying within windows altogether (sensor warm-up, a phone out of
	// range) and reads once per expected reading.
	quietAfter = 30 * time.Minute
	// maxLag bounds the delay the poller assumes between a reading's time
	// and its appearance upstream.
	maxLag = 4 * time.Minute
	// lagProbe is how much the assumed delay shrinks after each reading
	// that was already there at the first poll, so that the poller finds
	// out when the upstream became quicker.
	lagProbe = 2 * time.Second
	// backfillMinutes and backfillCount are the hosted service's largest
	// read: 24 hours of readings.
	backfillMinutes = 1440
	backfillCount   = 288
	// smallReadAfter is the gap since the newest mirrored reading up to
	// which a poll reads only the readings since it; past it (or with none
	// yet), the poll reads the last 24 hours.
	smallReadAfter = 15 * time.Minute
	// backoffFirst and backoffMax bound the wait after failed polls, which
	// doubles with each consecutive failure.
	backoffFirst = 30 * time.Second
	backoffMax   = 15 * time.Minute
	// disabledWait is how long a disabled account's link waits between
	// polls.
	disabledWait = time.Hour
)

// Options configures a Poller.
type Options struct {
	// Holder names this instance in claims (lease.HolderID).
	Holder string
	// Concurrency bounds the polls in flight (default 32).
	Concurrency int
	// Tick is how often due links are claimed (default 1 s).
	Tick time.Duration
	// Timeout bounds each HTTP exchange with an upstream (default 20 s).
	Timeout time.Duration
	// AllowPrivate lets links reach loopback and private addresses
	// (--webhook-allow-private); otherwise only globally routable ones.
	AllowPrivate bool
	// HTTPClient replaces the netguard client (tests that must reach a
	// fake upstream through a transport of their own).
	HTTPClient *http.Client
	Clock      glucose.Clock
	Logger     *slog.Logger
	Metrics    *metrics.Metrics // nil-safe
}

// Poller polls due links until its context ends.
type Poller struct {
	svc  *core.Service
	opts Options
	hc   *http.Client
	sem  chan struct{}
	// freed is signalled when a poll ends, so that Run claims the next due
	// link at once rather than at the next tick: a slot then serves many
	// polls a second, not one.
	freed chan struct{}
	wg    sync.WaitGroup
}

// New returns a Poller over svc.
func New(svc *core.Service, opts Options) *Poller {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = netguard.NewClient(opts.Timeout, opts.AllowPrivate)
	}
	return &Poller{svc: svc, opts: opts, hc: hc, sem: make(chan struct{}, opts.Concurrency), freed: make(chan struct{}, 1)}
}

// claimTTL is how long a claim lasts: longer than the longest poll (a
// login by name takes two exchanges, then the read and its re-login two
// more), so that a live poller never loses its claim, and short enough
// that a link whose poller died is taken over within minutes.
func (p *Poller) claimTTL() time.Duration { return 5*p.opts.Timeout + 10*time.Second }

// Run claims and polls due links every Tick, and whenever a poll ends,
// until ctx ends; then it waits for the polls in flight and releases its
// claims: a poll cut short records nothing, and its link is due for
// another instance (or this one restarted) at once instead of when the
// claim would have lapsed.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Tick)
	defer t.Stop()
	defer p.release()
	for {
		if _, err := p.claim(ctx); err != nil && ctx.Err() == nil {
			p.opts.Logger.Warn("claiming mirror links failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.freed:
		}
	}
}

// release waits for the polls in flight, then ends this instance's claims.
func (p *Poller) release() {
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
	defer cancel()
	if err := p.svc.ReleaseMirrorClaims(ctx, p.opts.Holder); err != nil {
		p.opts.Logger.Warn("releasing mirror claims failed; other instances take the links when the claims lapse", "err", err)
	}
}

// Step claims the links due now and polls them to completion; it returns
// how many it polled. Tests drive it with a fake clock.
func (p *Poller) Step(ctx context.Context) (int, error) {
	n, err := p.claim(ctx)
	p.wg.Wait()
	return n, err
}

// claim claims as many due links as there are free slots and starts their
// polls.
func (p *Poller) claim(ctx context.Context) (int, error) {
	free := cap(p.sem) - len(p.sem)
	if free == 0 {
		return 0, nil
	}
	now := p.opts.Clock.Now()
	ls, err := p.svc.ClaimMirrorLinks(ctx, p.opts.Holder, now, now.Add(p.claimTTL()), free)
	if err != nil {
		return 0, err
	}
	for _, l := range ls {
		p.sem <- struct{}{}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() {
				<-p.sem
				select {
				case p.freed <- struct{}{}:
				default: // a claim is already owed
				}
			}()
			pctx, cancel := context.WithTimeout(ctx, p.claimTTL()-5*time.Second)
			defer cancel()
			p.poll(pctx, l)
		}()
	}
	return len(ls), nil
}

// poll reads one link's upstream and records the outcome.
func (p *Poller) poll(ctx context.Context, l glucose.MirrorLink) {
	started := p.opts.Clock.Now()
	out := glucose.MirrorPoll{Holder: p.opts.Holder, Gen: l.Gen, Lag: l.Lag}
	var egvs []core.EGV
	c, session, err := p.client(&l)
	if err == nil {
		minutes, count := window(l.LastReading, started)
		var rs []share.Reading
		rs, err = c.ReadPublisherLatestGlucoseValues(ctx, minutes, count)
		egvs = toEGVs(rs)
		if id := c.AccountID(); id != "" && id != l.UpstreamAccount {
			out.UpstreamAccount = id
		}
		if sid := c.SessionID(); sid != "" && sid != session {
			out.SessionSealed = p.svc.SealMirrorSession(l.AccountID, sid)
		}
	}
	now := p.opts.Clock.Now()
	out.At = now
	kind := classify(err)
	p.opts.Metrics.MirrorPoll(kind)
	if err != nil {
		p.failed(&out, &l, kind, err, now)
	} else {
		p.succeeded(&out, &l, egvs, now)
	}
	res, rerr := p.svc.RecordMirrorPoll(ctx, l.AccountID, out, egvs, now)
	switch {
	case errors.Is(rerr, core.ErrMirrorStale):
		p.opts.Logger.Info("mirror link changed during its poll; outcome dropped", "account", l.AccountID)
	case rerr != nil:
		p.opts.Logger.Warn("recording a mirror poll failed", "account", l.AccountID, "err", rerr)
	case res.Stored > 0:
		p.opts.Metrics.MirrorLag(now.Sub(glucose.FromMS(newestST(egvs))))
	}
	if out.Broken {
		p.opts.Logger.Warn("mirror link stopped: the upstream refused its credentials", "account", l.AccountID,
			"server", l.Server, "reason", out.Error)
	}
}

// client builds the link's Share client: by account id once the upstream
// told it (one login call instead of two), with the kept session.
func (p *Poller) client(l *glucose.MirrorLink) (*share.Client, string, error) {
	password, session, err := p.svc.MirrorSecrets(l)
	if err != nil {
		return nil, "", err
	}
	opts := []share.Option{share.WithServer(l.Server), share.WithHTTPClient(p.hc), share.WithTimeout(p.opts.Timeout),
		share.WithUserAgent("glucoshare-mirror"),
		// 429 and 503 come back at once: the poller schedules the next
		// poll after Retry-After instead of holding a slot.
		share.WithRetry(0, 0)}
	if l.UpstreamAccount != "" {
		opts = append(opts, share.WithAccountID(l.UpstreamAccount, password))
	} else {
		opts = append(opts, share.WithCredentials(l.Username, password))
	}
	if session != "" {
		opts = append(opts, share.WithSession(session))
	}
	c, err := share.NewClient(opts...)
	return c, session, err
}

// window returns the read to make: the readings since the newest mirrored
// one, or the last 24 hours after a gap or before the first.
func window(last, now time.Time) (minutes, count int) {
	gap := now.Sub(last)
	if last.IsZero() || gap > smallReadAfter {
		return backfillMinutes, backfillCount
	}
	minutes = int(gap/time.Minute) + 2
	return minutes, minutes/5 + 2
}

func toEGVs(rs []share.Reading) []core.EGV {
	egvs := make([]core.EGV, len(rs))
	for i, r := range rs {
		egvs[i] = core.EGV{ST: r.ST, Value: r.Value, Trend: r.Trend, Offset: r.Offset}
	}
	return egvs
}

func newestST(egvs []core.EGV) int64 {
	var st int64
	for _, e := range egvs {
		st = max(st, e.ST)
	}
	return st
}

// succeeded schedules the next poll after a read.
func (p *Poller) succeeded(out *glucose.MirrorPoll, l *glucose.MirrorLink, egvs []core.EGV, now time.Time) {
	out.Success = true
	last := l.LastReading
	if st := newestST(egvs); st > 0 && glucose.FromMS(st).After(last) {
		newest := glucose.FromMS(st)
		out.LastReading = newest
		out.Lag = adjustLag(l.Lag, now.Sub(newest), !last.IsZero() && now.Sub(last) <= smallReadAfter)
		last = newest
	}
	out.NextPoll = nextPoll(last, out.Lag, now)
}

// adjustLag learns the upstream's delay from a new reading seen delay after
// its time. A reading found on a retry appeared within retryStep before
// it, so its delay is the new estimate; one found at the first poll may
// have appeared earlier, so the estimate shrinks a little to find out.
// Only a reading that follows the previous one (not a backfill) tells.
func adjustLag(lag, seen time.Duration, following bool) time.Duration {
	if !following || seen < 0 {
		return lag
	}
	if seen > lag+retryStep/2 {
		lag = seen
	} else {
		lag -= lagProbe
	}
	return min(max(lag, 0), maxLag)
}

// nextPoll returns when the next reading is expected: Interval after the
// newest, plus the upstream's delay. Within retryWindow after an expected
// reading that has not come, it retries every retryStep; then it waits for
// the next expected one.
func nextPoll(last time.Time, lag time.Duration, now time.Time) time.Time {
	if last.IsZero() {
		return now.Add(Interval)
	}
	due := last.Add(Interval + lag)
	if now.Before(due) {
		return due
	}
	slot := due.Add(now.Sub(due) / Interval * Interval) // the latest expected time so far
	if now.Sub(slot) < retryWindow && now.Sub(last) < quietAfter {
		return now.Add(retryStep)
	}
	return slot.Add(Interval)
}

// failed records a failed poll: the link stops on refused credentials;
// otherwise the next poll backs off, and waits at least Retry-After.
func (p *Poller) failed(out *glucose.MirrorPoll, l *glucose.MirrorLink, kind string, err error, now time.Time) {
	out.Error = describe(kind, err)
	if kind == KindCredentials {
		out.Broken = true
		out.NextPoll = now
		return
	}
	wait := backoff(l.Failures + 1)
	if ra, ok := share.RetryAfter(err); ok && ra > wait {
		wait = ra
	}
	out.NextPoll = now.Add(wait)
}

// backoff is the jittered wait after n consecutive failures: doubling from
// backoffFirst up to backoffMax, then drawn from its upper half, so that
// links that failed together (an upstream outage) do not all come back in
// the same second.
func backoff(n int) time.Duration {
	d := backoffFirst
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// Kinds of poll outcome, the label of the polls metric.
const (
	KindOK          = "ok"
	KindCredentials = "credentials"  // the upstream refused the credentials: the link stops
	KindRateLimited = "rate_limited" // 429 or 503, with or without Retry-After
	KindSession     = "session"      // the session ended again right after a re-login
	KindUpstream    = "upstream"     // any other error the upstream answered
	KindNetwork     = "network"      // no answer: connection, timeout, refused address
	KindKey         = "key"          // the password does not open under the server's key
)

// classify names what went wrong.
func classify(err error) string {
	var ce *share.CallError
	var ne net.Error
	switch {
	case err == nil:
		return KindOK
	case errors.Is(err, share.ErrAccountPasswordInvalid), errors.Is(err, share.ErrMaxAttempts),
		errors.Is(err, share.ErrInvalidID), errors.Is(err, share.ErrNoCredentials),
		errors.As(err, &ce) && ce.Code() == "AccountNotFound":
		// ErrInvalidID: a login answered with the zero id, as the hosted
		// service answers an unknown account id.
		return KindCredentials
	case errors.As(err, &ce) && (ce.Status == http.StatusTooManyRequests || ce.Status == http.StatusServiceUnavailable):
		return KindRateLimited
	case errors.Is(err, share.ErrSessionExpired):
		return KindSession
	case errors.As(err, &ce):
		return KindUpstream
	case errors.Is(err, secretkey.ErrDecrypt), errors.Is(err, secretkey.ErrNoKey):
		return KindKey
	case errors.As(err, &ne), errors.Is(err, netguard.ErrNotGlobal), errors.Is(err, context.DeadlineExceeded):
		return KindNetwork
	}
	return KindUpstream
}

// describe says what went wrong for the link's status, without anything
// the upstream echoed that could be a secret.
func describe(kind string, err error) string {
	var ce *share.CallError
	if errors.As(err, &ce) {
		msg := ce.Endpoint + ": "
		if code := ce.Code(); code != "" {
			msg += string(code)
		} else {
			msg += http.StatusText(ce.Status)
		}
		if ce.RetryAfter > 0 {
			msg += " (retry after " + ce.RetryAfter.String() + ")"
		}
		return msg
	}
	switch kind {
	case KindKey:
		return "the password does not open under the server's secret key (was the key changed?): link the account again"
	case KindCredentials:
		return "the server answered the login with no session"
	}
	return netguard.Redact(err)
}
