package server

import (
	"context"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/lease"
)

// AlarmOptions configures the alarm background work (PROTOCOL.md §5.4).
type AlarmOptions struct {
	Tick         time.Duration // periodic evaluation; default 60 s
	WebhookEvery time.Duration // how often due webhook deliveries are sent; default 5 s
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses (receivers on the operator's own network).
	WebhookAllowPrivate bool
	WebhookTimeout      time.Duration // default 10 s
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
// instance holding their leases, and a webhook sender on every instance
// (deliveries are claimed one by one, so senders never send one twice at
// once). It returns when ctx ends and all three have stopped.
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
	sender := &alerts.Sender{Store: s.svc.Store(), Client: alerts.NewWebhookClient(o.WebhookTimeout, o.WebhookAllowPrivate),
		Clock: s.opts.Clock, Log: log, Metrics: s.opts.AppMetrics, ClaimFor: 2 * o.WebhookTimeout}
	done := make(chan struct{}, 3)
	for _, run := range []func(context.Context){tick.Run, purge.Run, func(ctx context.Context) { sender.Run(ctx, o.WebhookEvery) }} {
		go func() { run(ctx); done <- struct{}{} }()
	}
	for range 3 {
		<-done
	}
}

func (s *Server) alarmTick(ctx context.Context, now time.Time) error {
	_, err := s.svc.EvaluateAll(ctx, now)
	return err
}

func (s *Server) alarmPurge(ctx context.Context, now time.Time) error {
	_, err := s.svc.PurgeAlarms(ctx, now)
	return err
}
