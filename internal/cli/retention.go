package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/lease"
)

// retentionLease names the lease under which one instance purges.
const retentionLease = "retention"

// ageFlag is a duration flag that also takes whole days ("90d"), since
// retention periods are stated in days, not hours.
type ageFlag time.Duration

func (a *ageFlag) String() string {
	d := time.Duration(*a)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (a *ageFlag) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return fmt.Errorf("%q: want a number of days such as 90d, or a duration such as 2160h", s)
		}
		*a = ageFlag(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want a number of days such as 90d, or a duration such as 2160h", s)
	}
	*a = ageFlag(d)
	return nil
}

// startRetention purges readings older than keep in the background, under
// a lease so that of several instances on one database one purges at a
// time, every interval (the first round as soon as it is due, at once on a
// new database). It returns a function that waits for the purger
// to stop after ctx ends; with keep 0 (keep forever) it starts nothing.
func startRetention(ctx context.Context, svc *core.Service, keep, every time.Duration, clock glucose.Clock, log *slog.Logger) (wait func(), err error) {
	if keep <= 0 {
		return func() {}, nil
	}
	work := func(ctx context.Context, now time.Time) error {
		n, err := svc.PurgeReadings(ctx, keep, core.DefaultPurgeBatch, now)
		if n > 0 {
			log.Info("purged old readings", "count", n, "older_than", now.Add(-keep).Format(time.RFC3339))
		}
		return err
	}
	r, err := lease.New(svc.Store(), retentionLease, lease.HolderID(), work,
		lease.Options{Every: every, Clock: clock, Logger: log})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) }) // a first round at once when due, then one every interval
	log.Info("retention enabled", "keep", (*ageFlag)(&keep).String(), "every", every)
	return wg.Wait, nil
}
