package store

import (
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// PurgeReadings deletes at most limit of the account's readings with ST
// before before, oldest first. The subquery walks the primary key
// (account_id, st), so each batch touches only the rows it deletes; the
// plain IN (SELECT … LIMIT) form is valid on both engines, unlike DELETE …
// LIMIT. Deleting is idempotent: instances racing here delete each row once.
func (t *tx) PurgeReadings(accountID string, before int64, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	return t.count(`DELETE FROM readings WHERE account_id = ? AND st IN
		(SELECT st FROM readings WHERE account_id = ? AND st < ? ORDER BY st LIMIT ?)`,
		accountID, accountID, before, limit)
}

// ReadingsAfter returns at most limit of the account's readings with ST
// after after, oldest first.
func (t *tx) ReadingsAfter(accountID string, after int64, limit int) ([]glucose.Reading, error) {
	return t.readings(`WHERE account_id = ? AND st > ? ORDER BY st LIMIT ?`, accountID, after, limit)
}
