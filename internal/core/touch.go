package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Sessions' last use (docs/protocol.md, "Sessions": every call renews the idle lifetime) is written
// in the background, in batches: a follower polling every 2.5 minutes
// would otherwise turn every read into a write that the read waits for.
// A touch is written within touchFlushAfter; until then this instance
// looks it up in memory, so idle expiry here is as exact as before. Other
// instances see it when it is written. A touch lost in a crash can only
// make its session expire at most touchEvery (auth.go) + touchFlushAfter
// early.

// touchFlushAfter is how long a touch waits to be written with others.
const touchFlushAfter = time.Second

// touchBatch bounds the touches written in one transaction.
const touchBatch = 500

// touches holds the touches not written yet.
type touches struct {
	mu        sync.Mutex
	pending   map[string]time.Time // session id → last use
	scheduled bool                 // a flush is due
}

// pendingTouch returns the last use of session id that is waiting to be
// written, if any.
func (s *Service) pendingTouch(id string) (time.Time, bool) {
	s.touches.mu.Lock()
	defer s.touches.mu.Unlock()
	at, ok := s.touches.pending[id]
	return at, ok
}

// touchLater records that session id was used at at, and schedules the
// write.
func (s *Service) touchLater(id string, at time.Time) {
	t := &s.touches
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[string]time.Time{}
	}
	if prev, ok := t.pending[id]; !ok || at.After(prev) {
		t.pending[id] = at
	}
	if !t.scheduled {
		t.scheduled = true
		time.AfterFunc(touchFlushAfter, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.FlushTouches(ctx); err != nil {
				s.log.Warn("recording sessions' last use failed; they may expire early", "err", err)
			}
		})
	}
}

// FlushTouches writes the sessions' last uses that are waiting. The server
// calls it when it stops. Sessions gone meanwhile are skipped.
func (s *Service) FlushTouches(ctx context.Context) error {
	t := &s.touches
	t.mu.Lock()
	batch := t.pending
	t.pending, t.scheduled = nil, false
	t.mu.Unlock()

	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	var errs []error
	for len(ids) > 0 {
		n := min(len(ids), touchBatch)
		chunk := ids[:n]
		ids = ids[n:]
		err := s.store.Update(ctx, func(tx glucose.Tx) error {
			for _, id := range chunk {
				if err := tx.TouchSession(id, batch[id]); err != nil && !errors.Is(err, glucose.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
