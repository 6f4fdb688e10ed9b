package store

import (
	"slices"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

const mirrorLinkColumns = `account_id, server, username, password_sealed, upstream_account, session_sealed, gen,
	broken, next_poll_at, claim_holder, claim_until, failures, lag_ms, last_success_at, last_reading_st,
	last_error, last_error_at, created_at`

// PutMirrorLink creates the account's link or replaces it wholesale: new
// credentials start over, with a generation one above the old link's.
func (t *tx) PutMirrorLink(l *glucose.MirrorLink) error {
	err := t.queryRow(`INSERT INTO mirror_links (account_id, server, username, password_sealed, gen, broken,
			next_poll_at, lag_ms, created_at)
		VALUES (?, ?, ?, ?, 1, 0, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET server = excluded.server, username = excluded.username,
			password_sealed = excluded.password_sealed, upstream_account = '', session_sealed = NULL,
			gen = mirror_links.gen + 1, broken = 0, next_poll_at = excluded.next_poll_at,
			claim_holder = '', claim_until = 0, failures = 0, lag_ms = excluded.lag_ms,
			last_error = '', last_error_at = 0, created_at = excluded.created_at
		RETURNING gen`,
		l.AccountID, l.Server, l.Username, l.PasswordSealed, glucose.MS(l.NextPoll), l.Lag.Milliseconds(),
		glucose.MS(l.Created)).Scan(&l.Gen)
	return t.db.mapError(err)
}

// MirrorLink returns the account's link.
func (t *tx) MirrorLink(accountID string) (*glucose.MirrorLink, error) {
	l, err := scanMirrorLink(t.queryRow(`SELECT `+mirrorLinkColumns+` FROM mirror_links WHERE account_id = ?`, accountID))
	if err != nil {
		return nil, t.db.mapError(err)
	}
	return l, nil
}

// DeleteMirrorLink removes the link, and with it the sealed password.
func (t *tx) DeleteMirrorLink(accountID string) error {
	return t.change(`DELETE FROM mirror_links WHERE account_id = ?`, accountID)
}

// ClaimMirrorLinks claims due links in one UPDATE. The conditions are
// repeated outside the sub-select: on PostgreSQL an instance whose
// sub-select saw a row that another instance claimed meanwhile waits for
// that row's lock and then re-checks them against the claimed row, which
// no longer qualifies; SQLite has one writer.
func (t *tx) ClaimMirrorLinks(holder string, now, until time.Time, max int) ([]glucose.MirrorLink, error) {
	n := glucose.MS(now)
	rows, err := t.query(`UPDATE mirror_links SET claim_holder = ?, claim_until = ?
		WHERE account_id IN (SELECT account_id FROM mirror_links
				WHERE broken = 0 AND next_poll_at <= ? AND claim_until <= ?
				ORDER BY next_poll_at LIMIT ?)
			AND broken = 0 AND next_poll_at <= ? AND claim_until <= ?
		RETURNING `+mirrorLinkColumns,
		holder, glucose.MS(until), n, n, max, n, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ls []glucose.MirrorLink
	for rows.Next() {
		l, err := scanMirrorLink(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		ls = append(ls, *l)
	}
	return ls, t.db.mapError(rows.Err())
}

// ReleaseMirrorClaims ends holder's claims; the links keep their next poll.
func (t *tx) ReleaseMirrorClaims(holder string) error {
	_, err := t.exec(`UPDATE mirror_links SET claim_holder = '', claim_until = 0 WHERE claim_holder = ?`, holder)
	return err
}

// RecordMirrorPoll writes a poll's outcome under the poller's claim.
func (t *tx) RecordMirrorPoll(accountID string, p glucose.MirrorPoll) (bool, error) {
	var lastReading, lastSuccess, broken int64
	if !p.LastReading.IsZero() {
		lastReading = glucose.MS(p.LastReading)
	}
	if p.Success {
		lastSuccess = glucose.MS(p.At)
	}
	if p.Broken {
		broken = 1
	}
	n, err := t.count(`UPDATE mirror_links SET next_poll_at = ?, claim_holder = '', claim_until = 0,
			upstream_account = CASE WHEN ? = '' THEN upstream_account ELSE ? END,
			session_sealed = CASE WHEN ? THEN ? ELSE session_sealed END,
			broken = ?, lag_ms = ?,
			failures = CASE WHEN ? THEN 0 ELSE failures + 1 END,
			last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END,
			last_reading_st = CASE WHEN ? > last_reading_st THEN ? ELSE last_reading_st END,
			last_error = CASE WHEN ? THEN '' ELSE ? END,
			last_error_at = CASE WHEN ? THEN last_error_at ELSE ? END
		WHERE account_id = ? AND claim_holder = ? AND gen = ?`,
		glucose.MS(p.NextPoll),
		p.UpstreamAccount, p.UpstreamAccount,
		p.SessionSealed != nil, p.SessionSealed,
		broken, p.Lag.Milliseconds(),
		p.Success,
		p.Success, lastSuccess,
		lastReading, lastReading,
		p.Success, p.Error,
		p.Success, glucose.MS(p.At),
		accountID, p.Holder, p.Gen)
	return n > 0, err
}

func scanMirrorLink(s scanner) (*glucose.MirrorLink, error) {
	var (
		l                                                         glucose.MirrorLink
		session                                                   []byte
		broken                                                    int
		next, claimUntil, lag, success, reading, errorAt, created int64
	)
	err := s.Scan(&l.AccountID, &l.Server, &l.Username, &l.PasswordSealed, &l.UpstreamAccount, &session, &l.Gen,
		&broken, &next, &l.ClaimHolder, &claimUntil, &l.Failures, &lag, &success, &reading,
		&l.LastError, &errorAt, &created)
	if err != nil {
		return nil, err
	}
	l.SessionSealed = session
	l.Broken = broken != 0
	l.NextPoll = glucose.FromMS(next)
	l.ClaimUntil = optionalTime(claimUntil)
	l.Lag = time.Duration(lag) * time.Millisecond
	l.LastSuccess = optionalTime(success)
	l.LastReading = optionalTime(reading)
	l.LastErrorAt = optionalTime(errorAt)
	l.Created = glucose.FromMS(created)
	return &l, nil
}

// optionalTime reads 0 as "never".
func optionalTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return glucose.FromMS(ms)
}

// MarkMirroredReading marks the reading with the link's server, one row
// per statement: a poll usually stores one reading, a backfill a day's.
func (t *tx) MarkMirroredReading(accountID string, st int64) error {
	_, err := t.exec(`INSERT INTO mirrored_readings (account_id, st, server)
		SELECT account_id, ?, server FROM mirror_links WHERE account_id = ?
		ON CONFLICT (account_id, st) DO NOTHING`, st, accountID)
	return err
}

// stLookup is how many STs one lookup by ST binds. A list is padded to it
// with its last ST, so that every lookup of several STs runs one statement
// text (prepared once) and a lookup of one runs another; each ST is one
// probe of a primary key (account_id, st), however far apart they are.
const stLookup = 64

// bySTs calls fn with the placeholders and arguments (accountID first) of
// each chunk of sts.
func bySTs(accountID string, sts []int64, fn func(marks string, args []any) error) error {
	for chunk := range slices.Chunk(sts, stLookup) {
		n := stLookup
		if len(sts) == 1 {
			n = 1
		}
		args := make([]any, 0, n+1)
		args = append(args, accountID)
		for i := range n {
			args = append(args, chunk[min(i, len(chunk)-1)])
		}
		if err := fn(placeholders(n), args); err != nil {
			return err
		}
	}
	return nil
}

// ReadingsAt returns the account's readings at sts, in no particular
// order.
func (t *tx) ReadingsAt(accountID string, sts []int64) ([]glucose.Reading, error) {
	out := []glucose.Reading{}
	err := bySTs(accountID, sts, func(marks string, args []any) error {
		rs, err := t.readings(`WHERE account_id = ? AND st IN (`+marks+`)`, args...)
		out = append(out, rs...)
		return err
	})
	return out, err
}

// MirroredReadings looks sts up by chunks: one statement for a page of
// Nightscout entries, one probe of the primary key for entries.json?count=1.
func (t *tx) MirroredReadings(accountID string, sts []int64) ([]int64, error) {
	out := []int64{}
	err := bySTs(accountID, sts, func(marks string, args []any) error {
		rows, err := t.query(`SELECT st FROM mirrored_readings WHERE account_id = ? AND st IN (`+marks+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st int64
			if err := rows.Scan(&st); err != nil {
				return t.db.mapError(err)
			}
			out = append(out, st)
		}
		return t.db.mapError(rows.Err())
	})
	return out, err
}
