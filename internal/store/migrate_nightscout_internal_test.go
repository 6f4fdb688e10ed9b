package store

import (
	"context"
	"path/filepath"
	"testing"
)

// Upgrading a schema 8 database keeps its Nightscout credentials, labelled
// with how schema 5 keyed them, so that they keep working
// (core/nightscout_keys.go re-keys them).
func TestMigrationLabelsNightscoutCredentials(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "glucoshare.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := loadMigrations(db.d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:8] {
		if err := db.apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, name_key, created_at) VALUES ('a1', 'sam', 'sam', 0)`,
		`INSERT INTO nightscout_secrets (account_id, secret_key, updated_at) VALUES ('a1', 'old-secret-key', 0)`,
		`INSERT INTO nightscout_tokens (id, account_id, token_key, created_at) VALUES ('t1', 'a1', 'old-token-key', 0)`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if from, to, err := db.Migrate(ctx); err != nil || from != 8 || to < 9 {
		t.Fatalf("Migrate: %d → %d, %v", from, to, err)
	}
	var secretKey, secretKeyID, tokenKey, tokenKeyID, name string
	if err := db.SQL().QueryRowContext(ctx, `SELECT secret_key, key_id FROM nightscout_secrets`).Scan(&secretKey, &secretKeyID); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT token_key, key_id, name FROM nightscout_tokens`).Scan(&tokenKey, &tokenKeyID, &name); err != nil {
		t.Fatal(err)
	}
	if secretKey != "old-secret-key" || secretKeyID != "sha256" || tokenKey != "old-token-key" || tokenKeyID != "token-sha256" || name != "" {
		t.Errorf("after the upgrade: secret %q %q, token %q %q %q", secretKey, secretKeyID, tokenKey, tokenKeyID, name)
	}
}
