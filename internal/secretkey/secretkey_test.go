package secretkey

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		in      string
		wantErr bool
	}{
		{"", true},
		{"   \n", true},
		{"31 characters is one too short.", true},
		{"exactly thirty-two characters!!!", false},
		{"  exactly thirty-two characters!!!\n", false},
	} {
		_, err := Load(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("Load(%q): %v, want error %v", c.in, err, c.wantErr)
		}
	}
	if _, err := Load("short"); !errors.Is(err, ErrTooShort) {
		t.Errorf("short key: %v, want ErrTooShort", err)
	}
}

func TestDerive(t *testing.T) {
	k, _ := Load("exactly thirty-two characters!!!")
	same, _ := Load("exactly thirty-two characters!!!\n")
	other, _ := Load("exactly thirty-two characters!!?")
	a := k.Derive("nightscout lookup")
	if len(a) != 32 {
		t.Fatalf("derived %d bytes, want 32", len(a))
	}
	if !bytes.Equal(a, same.Derive("nightscout lookup")) {
		t.Error("the same key and purpose derive different keys (several instances would disagree)")
	}
	if bytes.Equal(a, k.Derive("nightscout jwt")) {
		t.Error("two purposes derive the same key")
	}
	if bytes.Equal(a, other.Derive("nightscout lookup")) {
		t.Error("two server keys derive the same key")
	}
	// RFC 5869 HKDF-SHA256 with no salt and info "glucoshare/nightscout
	// lookup": pinned so that a change of derivation, which would make every
	// stored digest unusable, cannot pass unnoticed.
	if got, want := hex.EncodeToString(a), pinned; got != want {
		t.Errorf("derived %s, want %s", got, want)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k, _ := Load("exactly thirty-two characters!!!")
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %+v", k, k, k)} {
		if bytes.Contains([]byte(s), []byte("thirty-two")) {
			t.Errorf("the key shows in %q", s)
		}
	}
}

// pinned is computed independently of this package (Python's hmac module,
// RFC 5869 by hand).
const pinned = "55f1b249e1951266586bbeb2f0bebc82b78b1d10bce3542e4e6d949d83c6746c"
