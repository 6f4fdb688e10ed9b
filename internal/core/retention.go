package core

import (
	"context"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// DefaultPurgeBatch is how many readings one purge transaction deletes at
// most: small enough that SQLite's single writer is never held for long,
// so uploads interleave with a large first purge.
const DefaultPurgeBatch = 1000

// PurgeReadings deletes every reading whose ST is before now − keep,
// account by account, in transactions of at most batch readings (default
// DefaultPurgeBatch), and returns how many it deleted. keep ≤ 0 keeps
// everything. It stops between batches when ctx ends; what it deleted so
// far stays deleted, and the next run continues.
func (s *Service) PurgeReadings(ctx context.Context, keep time.Duration, batch int, now time.Time) (int, error) {
	return s.purgeOld(ctx, keep, batch, now, glucose.Tx.PurgeReadings)
}

// PurgeDocuments deletes every Nightscout document dated before
// now − keep in the collections retention covers (treatments, device
// status, activity and non-sgv entries; profiles, food and settings are
// configuration and stay), like PurgeReadings, and returns how many.
func (s *Service) PurgeDocuments(ctx context.Context, keep time.Duration, batch int, now time.Time) (int, error) {
	return s.purgeOld(ctx, keep, batch, now, glucose.Tx.PurgeDocuments)
}

// purgeOld runs purge for every account on what is older than now − keep,
// in batches.
func (s *Service) purgeOld(ctx context.Context, keep time.Duration, batch int, now time.Time,
	purge func(tx glucose.Tx, accountID string, before int64, limit int) (int, error)) (int, error) {
	if keep <= 0 {
		return 0, nil
	}
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	before := now.Add(-keep).UnixMilli()
	accounts, err := s.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, a := range accounts {
		n, err := s.purgeBatches(ctx, batch, func(tx glucose.Tx) (int, error) { return purge(tx, a.ID, before, batch) })
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// purgeBatches runs purge, one transaction each, until it deletes fewer
// than batch, and returns the total.
func (s *Service) purgeBatches(ctx context.Context, batch int, purge func(glucose.Tx) (int, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
			n, err = purge(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}
