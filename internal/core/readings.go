package core

import (
	"context"
	"fmt"
	"time"

	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Limits of PostReceiverEgvRecords (docs/protocol.md, "Publisher: glucose").
const (
	MaxEGVsPerPost = 10000
	futureSlack    = 5 * time.Minute
)

// earliestST is 2010-01-01T00:00:00Z: older readings are skipped silently.
var earliestST = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// EGV is one uploaded reading after structural validation, before the
// storage rules of docs/protocol.md, "Publisher: glucose" step 5 are applied.
type EGV struct {
	ST     int64 // ms
	Value  int   // rounded, 0..1000
	Trend  share.Trend
	Offset int // minutes, derived from DT
}

// uploadCommitted, when set, runs after an upload that stored readings has
// committed and before its alarms are evaluated. Only test builds set it
// (crashhook.go, build tag crashhook), to kill the server at that moment.
var uploadCommitted func(egvs []EGV)

// PostResult tells what an upload did.
type PostResult struct {
	Stored  int // newly stored readings
	Future  int // discarded because they were ahead of server time
	Skipped int // special values, too old, or duplicates
}

// PostReadings applies docs/protocol.md, "Publisher: glucose" steps 3 to 7 for an upload to serial: the
// monitoring and serial checks, then the per-reading rules, committed in one
// transaction. It returns a FutureEgvPosted error, after the commit, when
// readings were discarded for being in the future.
func (s *Service) PostReadings(ctx context.Context, accountID, serial string, egvs []EGV, now time.Time) (PostResult, error) {
	var (
		res       PostResult
		alarmWork bool // checked, and marked, in the upload's transaction
		resent    bool // nothing new, but an evaluation is still owed
	)
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		res, alarmWork, resent = PostResult{}, false, false
		rs := s.acceptable(egvs, now, &res)
		alarmWork, resent, err = storeReceiverReadings(tx, accountID, serial, rs, &res)
		return err
	})
	if err != nil {
		return PostResult{}, err
	}
	s.m.EGVs(res.Stored)
	if res.Stored > 0 && uploadCommitted != nil {
		uploadCommitted(egvs)
	}
	s.afterUpload(ctx, accountID, now, res.Stored > 0, alarmWork, resent)
	if res.Future > 0 {
		return res, glucose.Errorf(share.CodeFutureEgvPosted,
			"%d reading(s) more than 5 minutes ahead of server time were discarded; %d stored", res.Future, res.Stored)
	}
	return res, nil
}

// storeReceiverReadings checks that the account monitors serial (steps 3
// and 4) and stores rs in the upload's transaction. The check is the
// INSERT's own condition; the account is read only when nothing was
// stored, to tell a refused upload from one that re-sent readings.
func storeReceiverReadings(tx glucose.Tx, accountID, serial string, rs []glucose.Reading, res *PostResult) (alarmWork, resent bool, err error) {
	n := 0
	if len(rs) > 0 {
		if n, err = tx.InsertReceiverReadings(accountID, serial, rs); err != nil {
			return false, false, err
		}
	}
	if n == 0 {
		if err := checkReceiver(tx, accountID, serial); err != nil || len(rs) == 0 {
			return false, false, err
		}
	}
	return afterInsert(tx, accountID, n, len(rs), res)
}

// storeReadings stores rs in the upload's transaction; see afterInsert.
func storeReadings(tx glucose.Tx, accountID string, rs []glucose.Reading, res *PostResult) (alarmWork, resent bool, err error) {
	n, err := tx.InsertReadings(accountID, rs)
	if err != nil {
		return false, false, err
	}
	return afterInsert(tx, accountID, n, len(rs), res)
}

// afterInsert counts an insert of n readings out of total and tells what
// the commit owes the publisher's followers. When it stored readings and
// the publisher has alarm work, the same transaction marks the publisher
// (MarkAlarmWork: one statement, as the check alone would be), so that an
// evaluation a crash cuts short is found again (EvaluateMarked). When it
// stored nothing — the uploader re-sent readings the server has — resent
// tells whether a mark is still there: the evaluation of the readings
// stored before never completed, and this upload runs it.
func afterInsert(tx glucose.Tx, accountID string, n, total int, res *PostResult) (alarmWork, resent bool, err error) {
	res.Stored = n
	res.Skipped += total - n
	if n > 0 {
		alarmWork, err = tx.MarkAlarmWork(accountID)
		return alarmWork, false, err
	}
	mark, err := tx.AlarmMark(accountID)
	return false, mark > 0, err
}

// checkReceiver refuses an upload to an account that is not monitoring
// (step 3) or whose receiver is not serial (step 4).
func checkReceiver(tx glucose.Tx, accountID, serial string) error {
	me, err := tx.AccountByID(accountID)
	if err != nil {
		return err
	}
	if !me.Monitoring {
		return glucose.Errorf(share.CodeMonitoringSessionNotActive, "The remote monitoring session is not active.")
	}
	if me.Serial != serial {
		return glucose.Errorf(share.CodeMonitoredReceiverSerialNumberDoesNotMatch,
			"Serial number %s does not match the monitored receiver.", serial)
	}
	return nil
}

// acceptable applies docs/protocol.md, "Publisher: glucose" step 5 a–d and returns the readings to store.
func (s *Service) acceptable(egvs []EGV, now time.Time, res *PostResult) []glucose.Reading {
	limit := now.Add(futureSlack).UnixMilli()
	received := now.UnixMilli()
	seen := make(map[int64]bool, len(egvs))
	rs := make([]glucose.Reading, 0, len(egvs))
	for _, e := range egvs {
		value, ok := storedValue(e.Value)
		switch {
		case !ok, e.ST < earliestST, seen[e.ST]:
			res.Skipped++
			continue
		case e.ST > limit:
			res.Future++
			continue
		}
		seen[e.ST] = true
		rs = append(rs, glucose.Reading{ST: e.ST, Value: value, Trend: e.Trend, Offset: e.Offset, ReceivedAt: received})
	}
	return rs
}

// storedValue maps an uploaded value to the stored one: 0–12 are Dexcom
// status codes and are not stored, 13–38 become 39 (LOW), 402 and above
// become 401 (HIGH).
func storedValue(v int) (int, bool) {
	switch {
	case v <= 12:
		return 0, false
	case v < 39:
		return 39, true
	case v > 401:
		return 401, true
	}
	return v, true
}

// ReadQuery is a request for an account's latest readings.
type ReadQuery struct {
	Minutes  int64 // saturated, non-negative
	MaxCount int64
}

// LatestReadings returns the account's readings with ST >= now − minutes,
// newest first, at most maxCount, both capped by the server's limits.
func (s *Service) LatestReadings(ctx context.Context, accountID string, q ReadQuery, now time.Time) ([]glucose.Reading, error) {
	if q.Minutes < 0 || q.MaxCount < 0 {
		return nil, fmt.Errorf("negative read query") // callers validate first
	}
	minutes := min(q.Minutes, int64(s.cfg.ReadMaxMinutes))
	count := min(q.MaxCount, int64(s.cfg.ReadMaxCount))
	if minutes == 0 || count == 0 {
		return nil, nil
	}
	since := now.UnixMilli() - minutes*60_000
	if s.hot != nil {
		return s.hot.LatestReadings(ctx, accountID, since, int(count))
	}
	var rs []glucose.Reading
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		rs, err = tx.LatestReadings(accountID, since, int(count))
		return err
	})
	return rs, err
}

// afterUpload runs what an upload owes after its commit: alarm evaluation
// for the publisher's followers (docs/protocol.md, "When alarms are evaluated") and live events when it stored
// readings, and the evaluation a crash left undone when it re-sent them
// (storeReadings). The upload has succeeded whatever happens here, so
// failures are logged, not returned.
func (s *Service) afterUpload(ctx context.Context, publisherID string, now time.Time, stored, alarmWork, resent bool) {
	if alarmWork || resent {
		// A re-sent upload evaluates only if the mark is still there under
		// the lock: another instance may have completed it meanwhile.
		if err := s.evaluate(ctx, publisherID, "", now, resent); err != nil {
			s.log.Error("alarm evaluation after upload failed", "publisher", publisherID, "err", err)
		}
	}
	if stored {
		s.publishReading(ctx, publisherID, now)
	}
}

// publishDocuments tells the account's live streams (the Nightscout
// storage sockets) that its documents or deleted readings changed, after
// the change committed; they re-read what changed through API v3's
// history.
func (s *Service) publishDocuments(accountID string, now time.Time) {
	s.hub.Publish(events.Event{Type: events.TypeDocuments, PublisherID: accountID, At: now}, accountID)
}

// publishReading tells live streams of the publisher and its Active
// followers that it stored readings.
func (s *Service) publishReading(ctx context.Context, publisherID string, now time.Time) {
	if s.hub == nil || s.hub.Streams() == 0 {
		return
	}
	to := []string{publisherID}
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		subs, err := tx.PublisherSubscriptions(publisherID)
		for _, sub := range subs {
			if sub.State == glucose.StateActive && sub.SubscriberID != "" {
				to = append(to, sub.SubscriberID)
			}
		}
		return err
	})
	if err != nil {
		s.log.Warn("listing followers for live events failed", "publisher", publisherID, "err", err)
	}
	s.hub.Publish(events.Event{Type: events.TypeReading, PublisherID: publisherID, At: now,
		Data: []byte(`{"PublisherId":"` + publisherID + `"}`)}, to...)
}
