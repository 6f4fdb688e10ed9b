package server

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/lease"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
)

// AlarmOptions configures the alarm background work (docs/protocol.md, "When alarms are evaluated").
type AlarmOptions struct {
	Tick         time.Duration // periodic evaluation; default 60 s
	WebhookEvery time.Duration // how often due webhook deliveries are sent; default 5 s
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses (receivers on the operator's own network).
	WebhookAllowPrivate bool
	WebhookTimeout      time.Duration // default 10 s
	// Pushover is the operator's Pushover application; no token = off.
	Pushover notify.Pushover
	// PushSubject is the contact in Web Push requests (VAPID "sub"): a
	// mailto: or https: address; default the public URL when it is https.
	PushSubject string
}

func (o AlarmOptions) withDefaults() AlarmOptions {
	if o.Tick <= 0 {
		o.Tick = time.Minute
	}
	if o.WebhookEvery <= 0 {
		o.WebhookEvery = 5 * time.Second
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	return o
}

// runAlarms runs the periodic evaluation and the purge of old alarms on the
// instance holding their leases, and a notification sender on every instance
// (deliveries are claimed one by one, so senders never send one twice at
// once) and, once at start, the evaluations a crash cut short. It returns
// when ctx ends and all of them have stopped.
func (s *Server) runAlarms(ctx context.Context) {
	defer s.wg.Done()
	o := s.opts.Alarms.withDefaults()
	log := s.opts.Logger
	tick, err := lease.New(s.svc.Store(), "alarm-tick", lease.HolderID(), s.alarmTick,
		lease.Options{Every: o.Tick, Clock: s.opts.Clock, Logger: log})
	if err != nil {
		log.Error("alarm tick disabled", "err", err)
		return
	}
	purge, err := lease.New(s.svc.Store(), "alarm-purge", lease.HolderID(), s.alarmPurge,
		lease.Options{Every: time.Hour, Clock: s.opts.Clock, Logger: log})
	if err != nil {
		log.Error("alarm purge disabled", "err", err)
		return
	}
	sender := s.newSender(ctx, o)
	jobs := []func(context.Context){s.pickUpMarks, tick.Run, purge.Run,
		func(ctx context.Context) { sender.Run(ctx, o.WebhookEvery) }}
	done := make(chan struct{}, len(jobs))
	for _, run := range jobs {
		go func() { run(ctx); done <- struct{}{} }()
	}
	for range jobs {
		<-done
	}
}

// pickUpMarks evaluates, at start and without waiting for the tick's lease,
// the publishers whose evaluation a crash cut short (core.EvaluateMarked):
// an urgent low stored just before a crash alarms as soon as any instance
// starts.
func (s *Server) pickUpMarks(ctx context.Context) {
	n, err := s.svc.EvaluateMarked(ctx, s.opts.Clock.Now())
	if n > 0 {
		s.opts.Logger.Info("evaluated alarms a crash interrupted", "publishers", n)
	}
	if err != nil && ctx.Err() == nil {
		s.opts.Logger.Error("evaluating alarms a crash interrupted failed; the alarm tick retries", "err", err)
	}
}

// alarmTick evaluates the marked publishers first (their newest readings
// wait for an evaluation), then every publisher with alarm work.
func (s *Server) alarmTick(ctx context.Context, now time.Time) error {
	_, errMarked := s.svc.EvaluateMarked(ctx, now)
	_, err := s.svc.EvaluateAll(ctx, now)
	return errors.Join(errMarked, err)
}

func (s *Server) alarmPurge(ctx context.Context, now time.Time) error {
	if _, err := s.svc.PurgeAckTokens(ctx, now); err != nil {
		return err
	}
	_, err := s.svc.PurgeAlarms(ctx, now)
	return err
}

// newSender builds the outbox's sender. Without the VAPID keys (sealed
// under a secret key the server was not given, or the database down at
// start) push messages wait in the outbox; the other channels work.
func (s *Server) newSender(ctx context.Context, o AlarmOptions) *notify.Sender {
	cfg := s.svc.Config()
	subject := pushSubject(o.PushSubject, cfg.PublicURL)
	load := func(ctx context.Context) (*notify.WebPush, error) {
		wp, err := s.svc.WebPushKeys(ctx, subject, s.opts.Clock.Now())
		if err != nil {
			s.opts.Logger.Error("web push keys unavailable: push messages wait", "err", err)
		}
		return wp, err
	}
	wp, _ := load(ctx) // made at start, so that every instance agrees early
	return &notify.Sender{Store: s.svc.Store(), Client: netguard.NewClient(o.WebhookTimeout, o.WebhookAllowPrivate),
		Clock: s.opts.Clock, Log: s.opts.Logger, Metrics: s.opts.AppMetrics, ClaimFor: 2 * o.WebhookTimeout,
		PublicURL: cfg.PublicURL, WebPush: wp, LoadWebPush: load, Pushover: o.Pushover, SecretKey: cfg.SecretKey}
}

// pushSubject is the VAPID contact (RFC 8292 §2.1): the one given, else
// the public URL when it is https, else a mailto: address at the server's
// host. Apple's push service refuses a request without a valid one.
func pushSubject(given, publicURL string) string {
	switch {
	case given != "":
		return given
	case strings.HasPrefix(publicURL, "https://"):
		return publicURL
	}
	host := "localhost"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "mailto:glucoshare@" + host
}
