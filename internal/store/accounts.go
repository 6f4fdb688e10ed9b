package store

import (
	"github.com/glucoshare/glucoshare/internal/glucose"
)

const accountColumns = `id, name, display_name, email, password_hash, disabled, compat,
	units, created_at, serial, receiver_id, monitoring`

func scanAccount(s scanner) (*glucose.Account, error) {
	var (
		a       glucose.Account
		created int64
	)
	err := s.Scan(&a.ID, &a.Name, &a.DisplayName, &a.Email, &a.PasswordHash, &a.Disabled,
		&a.Compat, &a.Units, &created, &a.Serial, &a.ReceiverID, &a.Monitoring)
	if err != nil {
		return nil, err
	}
	a.CreatedAt = glucose.FromMS(created)
	return &a, nil
}

// CreateAccount inserts a, giving it a new id when a.ID is empty. The
// receiver fields are stored as given but never claimed: SetReceiver claims
// a serial.
func (t *tx) CreateAccount(a *glucose.Account) error {
	if a.ID == "" {
		a.ID = newID()
	}
	_, err := t.guarded(`INSERT INTO accounts (id, name, name_key, display_name, email,
		password_hash, disabled, compat, units, created_at, serial, receiver_id, monitoring)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, glucose.NameKey(a.Name), a.DisplayName, a.Email, a.PasswordHash,
		a.Disabled, a.Compat, string(a.Units), glucose.MS(a.CreatedAt), a.Serial, a.ReceiverID, a.Monitoring)
	return err
}

func (t *tx) accountWhere(cond string, arg any) (*glucose.Account, error) {
	a, err := scanAccount(t.queryRow(`SELECT `+accountColumns+` FROM accounts WHERE `+cond, arg))
	return a, t.db.mapError(err)
}

// AccountByID finds an account by id.
func (t *tx) AccountByID(id string) (*glucose.Account, error) {
	return t.accountWhere(`id = ?`, id)
}

// AccountByName finds an account by glucose.NameKey(name).
func (t *tx) AccountByName(name string) (*glucose.Account, error) {
	return t.accountWhere(`name_key = ?`, glucose.NameKey(name))
}

// AccountBySerial finds the account that claimed serial exclusively.
func (t *tx) AccountBySerial(serial string) (*glucose.Account, error) {
	return t.accountWhere(`serial_claim = ?`, serial)
}

// Accounts lists every account ordered by name key (byte order).
func (t *tx) Accounts() ([]glucose.Account, error) {
	rows, err := t.query(`SELECT ` + accountColumns + ` FROM accounts ORDER BY name_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	as := []glucose.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		as = append(as, *a)
	}
	return as, t.db.mapError(rows.Err())
}

// SetPasswordHash replaces the account's password hash.
func (t *tx) SetPasswordHash(accountID, hash string) error {
	return t.change(`UPDATE accounts SET password_hash = ? WHERE id = ?`, hash, accountID)
}

// SetDisabled disables or enables the account.
func (t *tx) SetDisabled(accountID string, disabled bool) error {
	return t.change(`UPDATE accounts SET disabled = ? WHERE id = ?`, disabled, accountID)
}

// SetUnits sets the units the account reads values in.
func (t *tx) SetUnits(accountID string, units glucose.Units) error {
	return t.change(`UPDATE accounts SET units = ? WHERE id = ?`, string(units), accountID)
}

// SetCompat sets the account's compatibility mode.
func (t *tx) SetCompat(accountID, compat string) error {
	return t.change(`UPDATE accounts SET compat = ? WHERE id = ?`, compat, accountID)
}

// SetReceiver assigns serial under receiverID; serial "" clears the
// assignment. An exclusive assignment also fills serial_claim, whose
// unique index makes "one account per serial" hold across server
// instances; NULL claims (shared serials, no receiver) never conflict.
func (t *tx) SetReceiver(accountID, serial, receiverID string, exclusive bool) error {
	var claim *string
	switch {
	case serial == "":
		receiverID = ""
	case exclusive:
		claim = &serial
	}
	res, err := t.guarded(`UPDATE accounts SET serial = ?, receiver_id = ?, serial_claim = ?
		WHERE id = ?`, serial, receiverID, claim, accountID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return orNotFound(err)
	}
	return nil
}

// SetMonitoring sets the account-level monitoring flag.
func (t *tx) SetMonitoring(accountID string, on bool) error {
	return t.change(`UPDATE accounts SET monitoring = ? WHERE id = ?`, on, accountID)
}

// orNotFound returns err, or ErrNotFound when err is nil.
func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return glucose.ErrNotFound
}
