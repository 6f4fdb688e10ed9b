package secretkey

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestLoad(t *testing.T) {
	if k, err := Load("  "); k != nil || err != nil {
		t.Errorf("Load(blank) = %v, %v; want no key and no error", k, err)
	}
	if _, err := Load("too short"); err == nil {
		t.Error("a short key was accepted")
	}
	g := Generate()
	if len(g) != 43 || g == Generate() {
		t.Errorf("Generate gave %q (len %d), or the same key twice", g, len(g))
	}
	if k, err := Load(g); err != nil || k == nil {
		t.Errorf("Load(Generate()) = %v, %v", k, err)
	}
}

func TestDeriveSeparatesPurposesAndKeys(t *testing.T) {
	a, _ := Load(Generate())
	b, _ := Load(Generate())
	if bytes.Equal(a.Derive("x"), a.Derive("y")) {
		t.Error("two purposes derived the same key")
	}
	if bytes.Equal(a.Derive("x"), b.Derive("x")) {
		t.Error("two keys derived the same key for one purpose")
	}
	if !bytes.Equal(a.Derive("x"), a.Derive("x")) {
		t.Error("Derive is not deterministic")
	}
}

func TestSealOpen(t *testing.T) {
	k, _ := Load(Generate())
	other, _ := Load(Generate())
	secret := []byte("the sharer's Dexcom password")
	sealed := k.Seal("mirror-password", secret, []byte("row-1"))
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed value contains the plaintext")
	}
	if bytes.Equal(sealed, k.Seal("mirror-password", secret, []byte("row-1"))) {
		t.Error("sealing twice gave the same bytes (nonce reused)")
	}
	got, err := k.Open("mirror-password", sealed, []byte("row-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another key":     func() ([]byte, error) { return other.Open("mirror-password", sealed, []byte("row-1")) },
		"another purpose": func() ([]byte, error) { return k.Open("webhook-secret", sealed, []byte("row-1")) },
		"another row":     func() ([]byte, error) { return k.Open("mirror-password", sealed, []byte("row-2")) },
		"altered":         func() ([]byte, error) { return k.Open("mirror-password", tampered, []byte("row-1")) },
		"truncated":       func() ([]byte, error) { return k.Open("mirror-password", sealed[:5], []byte("row-1")) },
	} {
		if _, err := open(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: Open = %v, want ErrDecrypt", name, err)
		}
	}
}

func TestKeyNeverPrints(t *testing.T) {
	raw := Generate()
	k, _ := Load(raw)
	if s := fmt.Sprintf("%v %s %+v", k, k, k); bytes.Contains([]byte(s), []byte(raw)) {
		t.Errorf("printing the key shows it: %s", s)
	}
}
