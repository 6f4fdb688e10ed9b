package store

import (
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// PurgeReadings deletes at most limit of the account's readings with ST
// before before, oldest first. The subquery walks the primary key
// (account_id, st), so each batch touches only the rows it deletes; the
// plain IN (SELECT … LIMIT) form is valid on both engines, unlike DELETE …
// LIMIT. Deleting is idempotent: instances racing here delete each row once.
// Tombstones of deleted readings as old are purged alike.
func (t *tx) PurgeReadings(accountID string, before int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := t.count(`DELETE FROM readings WHERE account_id = ? AND st IN
		(SELECT st FROM readings WHERE account_id = ? AND st < ? ORDER BY st LIMIT ?)`,
		accountID, accountID, before, limit)
	if err != nil {
		return n, err
	}
	// Tombstones of readings as old go too (API v3's history no longer
	// reports them), within the same bound.
	_, err = t.exec(`DELETE FROM reading_tombstones WHERE account_id = ? AND st IN
		(SELECT st FROM reading_tombstones WHERE account_id = ? AND st < ? ORDER BY st LIMIT ?)`,
		accountID, accountID, before, limit)
	return n, err
}

// ReadingsAfter returns at most limit of the account's readings with ST
// after after, oldest first.
func (t *tx) ReadingsAfter(accountID string, after int64, limit int) ([]glucose.Reading, error) {
	return t.readings(`WHERE account_id = ? AND st > ? ORDER BY st LIMIT ?`, accountID, after, limit)
}
