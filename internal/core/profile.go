package core

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Profile and named-value limits (docs/protocol.md, "Accounts", "Shared objects", "General", "Publisher: profile").
const (
	MaxImageBytes       = 256 << 10
	MaxRuntimeInfoBytes = 4 << 10
	MaxNamedValueBytes  = 64 << 10
	MaxNameRunes        = 100
	MaxNamedValueName   = 256
	MaxEmailBytes       = 254
)

// Runtime-info roles.
const (
	RolePublisher  = "publisher"
	RoleSubscriber = "subscriber"
)

// checkDisplayName trims and validates a display name (checkName): ""
// is allowed only when allowEmpty.
func checkDisplayName(name string, allowEmpty bool) (string, error) {
	return checkName("displayName", name, allowEmpty)
}

// checkEmail applies docs/protocol.md, "Publisher: contacts and followers"'s rule: at most 254 characters, exactly one @, a
// non-empty local part and a domain containing a dot.
func checkEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || len(email) > MaxEmailBytes || local == "" || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || !utf8.ValidString(email) || hasControl(email) || hasFormat(email) ||
		strings.ContainsAny(email, " \t") {
		return glucose.Errorf(share.CodeInvalidEmailAddress, "The e-mail address is not valid.")
	}
	return nil
}

// SetDisplayName sets the account's display name.
func (s *Service) SetDisplayName(ctx context.Context, accountID, name string) error {
	name, err := checkDisplayName(name, false)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetDisplayName(accountID, name) })
}

// SetEmail sets the account's e-mail address.
func (s *Service) SetEmail(ctx context.Context, accountID, email string) error {
	email = strings.TrimSpace(email)
	if err := checkEmail(email); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetEmail(accountID, email) })
}

// Image returns the account's avatar, or an ImageNotFound error.
func (s *Service) Image(ctx context.Context, accountID string) (*glucose.Image, error) {
	var img *glucose.Image
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		img, err = tx.Image(accountID)
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, glucose.Errorf(share.CodeImageNotFound, "No image is stored.")
	}
	return img, err
}

var (
	pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}
	jpegSOI      = []byte{0xff, 0xd8, 0xff}
)

// SetImage stores an avatar, detecting its type from the bytes; empty data
// removes it.
func (s *Service) SetImage(ctx context.Context, accountID, declared string, data []byte) error {
	if len(data) == 0 {
		return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteImage(accountID) })
	}
	if len(data) > MaxImageBytes {
		return glucose.InvalidArgument("ImageData is larger than %d bytes", MaxImageBytes)
	}
	img := &glucose.Image{Data: data, DeclaredAs: cleanLabel(declared, 32)}
	switch {
	case bytes.HasPrefix(data, pngSignature):
		img.ContentType = "image/png"
	case bytes.HasPrefix(data, jpegSOI):
		img.ContentType = "image/jpeg"
	default:
		return glucose.InvalidArgument("ImageData must be a PNG or JPEG image")
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetImage(accountID, img) })
}

// SetRuntimeInfo keeps the latest runtime info of a role for diagnostics.
func (s *Service) SetRuntimeInfo(ctx context.Context, accountID, role string, info []byte, now time.Time) error {
	if len(info) > MaxRuntimeInfoBytes {
		return glucose.InvalidArgument("runtimeInfo is larger than %d bytes", MaxRuntimeInfoBytes)
	}
	if !utf8.Valid(info) {
		return glucose.InvalidArgument("runtimeInfo must be UTF-8")
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		return tx.SetRuntimeInfo(accountID, role, info, now)
	})
}

// NamedValue reads one value, or answers NamedValueReadFailed.
func (s *Service) NamedValue(ctx context.Context, accountID, partition, name string) (string, error) {
	if err := checkValueName(name); err != nil {
		return "", err
	}
	var v string
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		v, err = tx.NamedValue(accountID, partition, name)
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return "", glucose.Errorf(share.CodeNamedValueReadFailed, "No value named %q in this partition.", name)
	}
	return v, err
}

// PutNamedValue creates or overwrites a value; failCode is answered when the
// write would exceed the partition's limit.
func (s *Service) PutNamedValue(ctx context.Context, accountID, partition, name, value string, failCode share.Code) error {
	if err := checkValueName(name); err != nil {
		return err
	}
	if len(value) > MaxNamedValueBytes {
		return glucose.InvalidArgument("value is larger than %d bytes", MaxNamedValueBytes)
	}
	if !storable(value) {
		return glucose.InvalidArgument("value must be UTF-8 text without NUL characters")
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.namedValueRoom(tx, accountID, partition, name, value, failCode); err != nil {
			return err
		}
		return tx.PutNamedValue(accountID, partition, name, value)
	})
}

// namedValueRoom checks that a write keeps within the limits: values per
// partition, partitions per account, and bytes of names and values per
// account (an overwrite counts by how much it grows).
func (s *Service) namedValueRoom(tx glucose.Tx, accountID, partition, name, value string, failCode share.Code) error {
	old, err := tx.NamedValue(accountID, partition, name)
	exists := err == nil
	if err != nil && !errors.Is(err, glucose.ErrNotFound) {
		return err
	}
	grow := len(name) + len(value)
	if exists {
		grow -= len(name) + len(old)
	}
	inPartition := 1
	if !exists {
		if inPartition, err = tx.CountNamedValues(accountID, partition); err != nil {
			return err
		}
		if inPartition >= s.cfg.NamedValueLimit {
			return glucose.Errorf(failCode, "The partition already holds %d values.", inPartition)
		}
	}
	partitions, bytes, err := tx.NamedValueUsage(accountID)
	switch {
	case err != nil:
		return err
	case inPartition == 0 && partitions >= s.cfg.NamedValuePartitions:
		return glucose.Errorf(failCode, "The account already has %d partitions of named values, the most it may have.", partitions)
	case grow > 0 && bytes+grow > s.cfg.NamedValueBytes:
		return glucose.Errorf(failCode, "The account's named values would take %d bytes; they may take at most %d.",
			bytes+grow, s.cfg.NamedValueBytes)
	}
	return nil
}

// checkValueName applies the rule of a named value's name: 1 to
// MaxNamedValueName characters of UTF-8 without NUL.
func checkValueName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxNamedValueName || !storable(name) {
		return glucose.InvalidArgument("name must be 1 to %d characters of UTF-8 text without NUL", MaxNamedValueName)
	}
	return nil
}

// NamedValueNames lists a partition's names in byte order.
func (s *Service) NamedValueNames(ctx context.Context, accountID, partition string) ([]string, error) {
	var names []string
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		names, err = tx.NamedValueNames(accountID, partition)
		return err
	})
	return names, err
}

// DeleteNamedValues empties a partition and returns how many values it held.
func (s *Service) DeleteNamedValues(ctx context.Context, accountID, partition string) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.DeleteNamedValues(accountID, partition)
		return err
	})
	return n, err
}
