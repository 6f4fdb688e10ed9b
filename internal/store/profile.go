package store

import (
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// SetDisplayName sets the account's display name.
func (t *tx) SetDisplayName(accountID, name string) error {
	return t.change(`UPDATE accounts SET display_name = ? WHERE id = ?`, name, accountID)
}

// SetEmail sets the account's e-mail address.
func (t *tx) SetEmail(accountID, email string) error {
	return t.change(`UPDATE accounts SET email = ? WHERE id = ?`, email, accountID)
}

// Image returns the account's avatar; ErrNotFound when it has none.
func (t *tx) Image(accountID string) (*glucose.Image, error) {
	var img glucose.Image
	err := t.queryRow(`SELECT content_type, declared_as, data FROM account_images
		WHERE account_id = ?`, accountID).Scan(&img.ContentType, &img.DeclaredAs, &img.Data)
	if err != nil {
		return nil, t.db.mapError(err)
	}
	return &img, nil
}

// SetImage stores or replaces the account's avatar; a nil img deletes it.
func (t *tx) SetImage(accountID string, img *glucose.Image) error {
	if img == nil {
		return t.DeleteImage(accountID)
	}
	data := img.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; nil would bind as NULL
	}
	_, err := t.exec(`INSERT INTO account_images (account_id, content_type, declared_as, data)
		VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET
		content_type = excluded.content_type, declared_as = excluded.declared_as, data = excluded.data`,
		accountID, img.ContentType, img.DeclaredAs, data)
	return err
}

// DeleteImage removes the account's avatar, if any.
func (t *tx) DeleteImage(accountID string) error {
	_, err := t.exec(`DELETE FROM account_images WHERE account_id = ?`, accountID)
	return err
}

// SetRuntimeInfo keeps the latest runtime info per account and role.
func (t *tx) SetRuntimeInfo(accountID, role string, info []byte, at time.Time) error {
	_, err := t.exec(`INSERT INTO runtime_info (account_id, role, info, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (account_id, role) DO UPDATE SET
		info = excluded.info, updated_at = excluded.updated_at`,
		accountID, role, string(info), glucose.MS(at))
	return err
}
