package store

import (
	"context"
	"math"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Warming the cache (SQLite). After a restart the cache is empty, and every
// account's first request reads its session, account and newest readings
// from the database. With many accounts in use those first requests come
// together: at the planet's rates with 100,000 accounts the server spends
// its first minute filling, and latency grows to seconds. WarmCache reads
// the same rows ahead of the requests, in one goroutine, through the fills'
// own rules (a page is stored only when nothing it read has changed since
// it began), so the cache stays exact while it warms.

// warmRecent is how recently a session must have been used to be warmed:
// the apps that poll or upload every few minutes, not the sessions of
// yesterday's browser.
const warmRecent = time.Hour

// warmPage is how many sessions one query of WarmCache reads.
const warmPage = 256

// WarmCache fills the cache with the open sessions used within the last
// hour, their accounts and their newest readings, until the cache is full
// or they are all in. It returns how many sessions it read. Without a
// cache (--db-cache-accounts -1, PostgreSQL without --db-cache-staleness)
// it does nothing. On PostgreSQL it only starts the cache, which fills as
// requests come: the instances share the database's work of filling, and
// recentSessions pages by SQLite's rowid.
func (db *DB) WarmCache(ctx context.Context, now time.Time) (int, error) {
	h := db.hotCache(ctx)
	if h == nil || h.pg != nil {
		return 0, nil
	}
	usedAfter := glucose.MS(now.Add(-warmRecent))
	var after int64 // the rowid of the last session read
	warmed := 0
	for ctx.Err() == nil {
		h.mu.RLock()
		full, fillFrom := h.accts.len() >= h.max, h.applied
		h.mu.RUnlock()
		if full {
			break
		}
		page, last, err := db.direct(ctx).recentSessions(after, usedAfter, warmPage)
		if err != nil || len(page) == 0 {
			return warmed, err
		}
		after = last
		for _, p := range page {
			if k, ok := packID(p.s.ID); ok {
				h.putSession(fillFrom, k, p.s, p.a)
			}
			if err := db.warmReadings(ctx, h, p.a.ID); err != nil {
				return warmed, err
			}
			warmed++
		}
	}
	return warmed, ctx.Err()
}

// warmReadings caches the account's newest readings unless they are.
func (db *DB) warmReadings(ctx context.Context, h *hotCache, accountID string) error {
	h.mu.RLock()
	ha, fillFrom := h.accts.get(accountID), h.applied
	cached := ha != nil && ha.haveReadings
	h.mu.RUnlock()
	if cached {
		return nil
	}
	rs, err := db.direct(ctx).LatestReadings(accountID, math.MinInt64, hotReadings)
	if err != nil {
		return err
	}
	h.putReadings(fillFrom, accountID, rs)
	return nil
}

// sessionWithAccount is one row of recentSessions.
type sessionWithAccount struct {
	s *glucose.Session
	a *glucose.Account
}

// recentSessions reads, in rowid order after after, at most limit open
// sessions last used at or after usedAfter (ms), with their accounts, and
// returns the last rowid read.
func (t *tx) recentSessions(after, usedAfter int64, limit int) ([]sessionWithAccount, int64, error) {
	rows, err := t.query(`SELECT s.rowid, s.id, s.account_id, s.application_id, s.created_at, s.last_used_at, `+
		prefixColumns("a.", accountColumns)+` FROM sessions s JOIN accounts a ON a.id = s.account_id
		WHERE s.rowid > ? AND s.ended_at IS NULL AND s.last_used_at >= ? ORDER BY s.rowid LIMIT ?`,
		after, usedAfter, limit)
	if err != nil {
		return nil, after, t.db.mapError(err)
	}
	defer rows.Close()
	var out []sessionWithAccount
	for rows.Next() {
		var (
			s                     glucose.Session
			a                     glucose.Account
			created, used, acctAt int64
		)
		if err := rows.Scan(&after, &s.ID, &s.AccountID, &s.ApplicationID, &created, &used,
			&a.ID, &a.Name, &a.DisplayName, &a.Email, &a.PasswordHash, &a.Disabled,
			&a.Compat, &a.Units, &acctAt, &a.Serial, &a.ReceiverID, &a.Monitoring); err != nil {
			return nil, after, t.db.mapError(err)
		}
		s.CreatedAt, s.LastUsedAt = glucose.FromMS(created), glucose.FromMS(used)
		a.CreatedAt = glucose.FromMS(acctAt)
		out = append(out, sessionWithAccount{&s, &a})
	}
	return out, after, t.db.mapError(rows.Err())
}
