package share

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	mrand "math/rand/v2"
	"strings"
)

// ZeroID is the all-zero UUID. The server never issues it; as input it
// means "no such id" (docs/protocol.md, "Identifiers"), and the hosted service has
// answered LoginPublisherAccountByName with it since 2020.
const ZeroID = "00000000-0000-0000-0000-000000000000"

// ParseID reads an id case-insensitively (dexcom-swift sends upper case):
// it strips surrounding whitespace, then one pair of surrounding double
// quotes, then one pair of braces, and requires the 36-character hyphenated
// hex form of what remains. It returns the lower-case canonical form.
// ZeroID parses; callers decide what it means for their parameter.
func ParseID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	s = trimPair(s, '"', '"')
	s = trimPair(s, '{', '}')
	if len(s) != 36 {
		return "", false
	}
	var b [36]byte
	lowered := false
	for i := 0; i < len(s); i++ {
		c, ok := idByte(i, s[i])
		if !ok {
			return "", false
		}
		b[i] = c
		lowered = lowered || c != s[i]
	}
	if !lowered {
		return s, true // already canonical, as the server issued it: no copy
	}
	return string(b[:]), true
}

// idByte checks the byte at position i of a hyphenated UUID and returns it
// in lower case.
func idByte(i int, c byte) (byte, bool) {
	switch {
	case i == 8 || i == 13 || i == 18 || i == 23:
		return c, c == '-'
	case isDigit(c) || 'a' <= c && c <= 'f':
		return c, true
	case 'A' <= c && c <= 'F':
		return c + ('a' - 'A'), true
	}
	return c, false
}

// trimPair removes open and close from the ends of s when both are there.
func trimPair(s string, open, close byte) string {
	if len(s) >= 2 && s[0] == open && s[len(s)-1] == close {
		return s[1 : len(s)-1]
	}
	return s
}

// NewID returns a random version-4 UUID in lower-case canonical form, the
// form of every id the server issues.
func NewID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails since Go 1.24; it crashes the program instead
	return formatV4(&u)
}

// NewRequestID returns an id for a request (X-Request-Id, error SubCodes
// and logs) in NewID's form. It names a request and grants nothing, so it
// comes from the runtime's generator: every request makes one, and reading
// crypto/rand costs ten times as much. Use NewID for any id that
// authorizes.
func NewRequestID() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], mrand.Uint64())
	return formatV4(&u)
}

// formatV4 marks u as a version-4 UUID and returns its canonical form.
func formatV4(u *[16]byte) string {
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	return string(AppendUUID(b[:0], *u))
}

// AppendUUID appends u to dst in lower-case canonical form (8-4-4-4-12
// hexadecimal digits), as it is.
func AppendUUID(dst []byte, u [16]byte) []byte {
	const hex = "0123456789abcdef"
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[x>>4], hex[x&0x0f])
	}
	return dst
}

var (
	errSerialEmpty   = errors.New("serial number is empty")
	errSerialLong    = errors.New("serial number is longer than 64 characters")
	errSerialCharset = errors.New("serial number may contain only A-Z, a-z, 0-9 and -")
)

// NormalizeSerial reads a receiver or transmitter serial number (docs/protocol.md, "Identifiers"):
// surrounding whitespace and one trailing '/' are removed (the 2015 capture
// shows serialNumber=…/), then 1–64 characters of A–Z a–z 0–9 - must remain.
// It returns the upper-case form, under which serials are stored and
// compared.
func NormalizeSerial(s string) (string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, "/")
	switch {
	case s == "":
		return "", errSerialEmpty
	case len(s) > 64:
		return "", errSerialLong
	}
	for i := 0; i < len(s); i++ {
		if !isSerialByte(s[i]) {
			return "", errSerialCharset
		}
	}
	return strings.ToUpper(s), nil
}

// isSerialByte reports whether c may appear in a serial number.
func isSerialByte(c byte) bool {
	u := upper(c)
	return isDigit(c) || c == '-' || 'A' <= u && u <= 'Z'
}
