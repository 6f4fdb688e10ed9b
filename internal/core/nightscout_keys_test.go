package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

var cheap = core.Argon2Params{Memory: 64, Time: 1, Threads: 1}

func keyFrom(t *testing.T, s string) *secretkey.Key {
	t.Helper()
	k, err := secretkey.Load(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sqlOf rebinds ? placeholders for the engine under test.
func sqlOf(db *store.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + string(rune('0'+n)))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestUpgradedCredentialsKeepWorking: a secret and a token stored by
// schema 5 (before --secret-key existed), as the upgrade to schema 9 leaves
// them, keep working without a server key, move under one when it is
// given (at start, or when the token is next used), and are refused, with
// the operator told, when the server later runs with another key or none.
func TestUpgradedCredentialsKeepWorking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	now := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	plain := core.New(db, core.Config{Argon2: cheap})
	sam, err := plain.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: "a password of sam's"}, now)
	if err != nil {
		t.Fatal(err)
	}
	const secret, token = "sam's old nightscout secret", "gs-0123456789abcdef0123456789abcdef"
	secretSHA1 := core.NightscoutSecretHash(secret)
	// What schema 5 wrote; schema 9's migration labels the rows by their
	// column defaults (sha256, token-sha256).
	if _, err := db.SQL().ExecContext(ctx, sqlOf(db, `INSERT INTO nightscout_secrets (account_id, secret_key, updated_at) VALUES (?, ?, ?)`),
		sam.ID, sha256Hex("nightscout-secret:"+secretSHA1), now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, sqlOf(db, `INSERT INTO nightscout_tokens (id, account_id, token_key, read_only, created_at) VALUES (?, ?, ?, ?, ?)`),
		"5e0c1b2a-0000-4000-8000-000000000001", sam.ID, sha256Hex("nightscout-token:"+token), false, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}

	works := func(svc *core.Service, what string, wantSecret, wantToken, wantTokenSHA1 bool) {
		t.Helper()
		_, err := svc.NightscoutSecretAccess(ctx, secretSHA1, now)
		if (err == nil) != wantSecret {
			t.Errorf("%s: the secret's SHA-1: %v, want accepted %v", what, err, wantSecret)
		}
		_, err = svc.NightscoutTokenAccess(ctx, token, now)
		if (err == nil) != wantToken {
			t.Errorf("%s: the token: %v, want accepted %v", what, err, wantToken)
		}
		_, err = svc.NightscoutSecretAccess(ctx, core.NightscoutSecretHash(token), now)
		if (err == nil) != wantTokenSHA1 {
			t.Errorf("%s: the token's SHA-1 as api-secret: %v, want accepted %v", what, err, wantTokenSHA1)
		}
		if err != nil && !errors.Is(err, core.ErrNightscoutDenied) {
			t.Errorf("%s: %v", what, err)
		}
	}
	// Without a server key: the old secret works; the old token works as
	// itself, and once used also by its SHA-1 (it was re-keyed).
	works(plain, "unkeyed, before the token's first use", true, true, true)

	const k1, k2 = "the first server key, of 32+ characters", "another server key, of 32+ characters!"
	keyed := core.New(db, core.Config{Argon2: cheap, SecretKey: keyFrom(t, k1)})
	res, err := keyed.RekeyNightscoutCredentials(ctx)
	if err != nil || res != (core.RekeyResult{Rekeyed: 2}) {
		t.Fatalf("re-keying under the first key: %+v %v, want both re-keyed", res, err)
	}
	works(keyed, "under the first key", true, true, true)
	keys := keyIDs(t, db)
	for _, id := range keys {
		if !strings.HasPrefix(id, "hmac:") {
			t.Errorf("key ids after re-keying: %v, want hmac:…", keys)
		}
	}
	if res, _ := keyed.RekeyNightscoutCredentials(ctx); res != (core.RekeyResult{}) {
		t.Errorf("re-keying twice: %+v", res)
	}
	// A server with another key, or none, cannot match them, and says so.
	for _, other := range []string{k2, ""} {
		svc := core.New(db, core.Config{Argon2: cheap, SecretKey: keyFrom(t, other)})
		if res, _ := svc.RekeyNightscoutCredentials(ctx); res != (core.RekeyResult{Unusable: 2}) {
			t.Errorf("key %q: %+v, want both unusable", other, res)
		}
		works(svc, "under another key "+other, false, false, false)
	}
	works(keyed, "under the first key again", true, true, true)
}

// keyIDs lists the key ids of every stored credential.
func keyIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	var ids []string
	err := db.View(context.Background(), func(tx glucose.Tx) error {
		secs, err := tx.NightscoutSecrets()
		for _, s := range secs {
			ids = append(ids, s.KeyID)
		}
		if err != nil {
			return err
		}
		toks, err := tx.AllNightscoutTokens()
		for _, tk := range toks {
			ids = append(ids, tk.KeyID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestSecretStoredUnderKeyIsNoCredential: what the database keeps of a
// secret is no credential, and one secret never names two accounts.
func TestSecretStoredUnderKeyIsNoCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	now := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	svc := core.New(db, core.Config{Argon2: cheap, SecretKey: keyFrom(t, "the first server key, of 32+ characters")})
	sam, err := svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: "a password of sam's"}, now)
	if err != nil {
		t.Fatal(err)
	}
	secret := core.GenerateNightscoutSecret()
	if err := svc.SetNightscoutSecret(ctx, sam.ID, secret, now); err != nil {
		t.Fatal(err)
	}
	// What the database holds is no credential: not the secret, not its
	// SHA-1, and presenting it is refused.
	var stored string
	db.View(ctx, func(tx glucose.Tx) error {
		secs, err := tx.NightscoutSecrets()
		if len(secs) == 1 {
			stored = secs[0].Key
		}
		return err
	})
	for _, s := range []string{secret, core.NightscoutSecretHash(secret)} {
		if strings.Contains(stored, s) {
			t.Errorf("the stored key %q contains %q", stored, s)
		}
	}
	if _, err := svc.NightscoutSecretAccess(ctx, stored, now); !errors.Is(err, core.ErrNightscoutDenied) {
		t.Errorf("the stored key as api-secret: %v, want refused", err)
	}
	if _, err := svc.NightscoutSecretAccess(ctx, core.NightscoutSecretHash(secret), now); err != nil {
		t.Errorf("the secret's SHA-1: %v", err)
	}
	// A second account cannot take the secret, however it was stored.
	kim, _ := svc.CreateAccount(ctx, core.NewAccount{Name: "kim", Password: "a password of kim's"}, now)
	if err := svc.SetNightscoutSecret(ctx, kim.ID, secret, now); err == nil || !strings.Contains(err.Error(), "another account") {
		t.Errorf("kim taking sam's secret: %v", err)
	}
	// Nor can a command run without the server key store a credential
	// the server could not tell from it.
	unkeyed := core.New(db, core.Config{Argon2: cheap})
	if err := unkeyed.SetNightscoutSecret(ctx, kim.ID, secret, now); err == nil || !strings.Contains(err.Error(), "--secret-key") {
		t.Errorf("kim taking sam's secret without the key: %v", err)
	}
	if _, _, err := unkeyed.CreateNightscoutToken(ctx, kim.ID, true, now); err == nil || !strings.Contains(err.Error(), "--secret-key") {
		t.Errorf("a token made without the key: %v", err)
	}
}
