package store

// NamedValue returns one value; ErrNotFound when the name does not exist.
func (t *tx) NamedValue(accountID, partition, name string) (string, error) {
	var v string
	err := t.queryRow(`SELECT value FROM named_values
		WHERE account_id = ? AND partition_id = ? AND name = ?`, accountID, partition, name).Scan(&v)
	return v, t.db.mapError(err)
}

// PutNamedValue creates or overwrites a value, recording its size in
// bytes.
func (t *tx) PutNamedValue(accountID, partition, name, value string) error {
	_, err := t.exec(`INSERT INTO named_values (account_id, partition_id, name, value, size)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, partition_id, name)
		DO UPDATE SET value = excluded.value, size = excluded.size`,
		accountID, partition, name, value, len(name)+len(value))
	return err
}

// NamedValueUsage returns how many partitions the account's named values
// fill and their names and values' size in bytes.
func (t *tx) NamedValueUsage(accountID string) (partitions, bytes int, err error) {
	err = t.queryRow(`SELECT COUNT(DISTINCT partition_id), COALESCE(SUM(size), 0) FROM named_values
		WHERE account_id = ?`, accountID).Scan(&partitions, &bytes)
	return partitions, bytes, t.db.mapError(err)
}

// NamedValueNames lists the partition's names in byte order: the name
// column collates by bytes on both engines (BINARY on SQLite, "C" on
// PostgreSQL), so a plain ORDER BY suffices.
func (t *tx) NamedValueNames(accountID, partition string) ([]string, error) {
	rows, err := t.query(`SELECT name FROM named_values
		WHERE account_id = ? AND partition_id = ? ORDER BY name`, accountID, partition)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, t.db.mapError(err)
		}
		names = append(names, n)
	}
	return names, t.db.mapError(rows.Err())
}

// CountNamedValues returns how many values the partition holds.
func (t *tx) CountNamedValues(accountID, partition string) (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM named_values WHERE account_id = ? AND partition_id = ?`,
		accountID, partition).Scan(&n)
	return n, t.db.mapError(err)
}

// DeleteNamedValues deletes the partition and returns how many values it
// held.
func (t *tx) DeleteNamedValues(accountID, partition string) (int, error) {
	return t.count(`DELETE FROM named_values WHERE account_id = ? AND partition_id = ?`,
		accountID, partition)
}
