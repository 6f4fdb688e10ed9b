package share

import (
	"errors"
	"math"
)

// This file holds the small JSON scanners the codecs share. They work on raw
// bytes so that decoding a 10,000-reading upload does not allocate a string
// per date or trend.

var (
	errNotNumber  = errors.New("not a JSON number")
	errNotInteger = errors.New("not a whole number")
	errIntRange   = errors.New("number beyond the 64-bit integer range")
)

// maxExp caps a scanned exponent; anything larger overflows int64 or is all
// fraction anyway, and the cap keeps the arithmetic below from overflowing.
const maxExp = 1 << 40

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isJSONSpace reports whether c is whitespace in JSON's grammar.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// trimJSONSpace removes JSON whitespace around a raw value.
func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// isAbsent reports whether a raw member value counts as missing: not
// present at all, or null (docs/protocol.md, "Parameters" uses the first source with a non-null value).
func isAbsent(raw []byte) bool {
	raw = trimJSONSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// isInteger reports whether s is an optional '-' followed by one or more
// decimal digits.
func isInteger[T ~string | ~[]byte](s T) bool {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	if i == len(s) {
		return false
	}
	for ; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// jsonNumber is a JSON number split into its digit runs, before conversion.
type jsonNumber struct {
	neg   bool
	whole []byte // digits before the decimal point
	frac  []byte // digits after the decimal point
	exp   int64  // decimal exponent, saturated near ±maxExp
}

// splitJSONNumber checks b against JSON's number grammar
// (-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?) and splits it.
func splitJSONNumber(b []byte) (jsonNumber, bool) {
	var n jsonNumber
	i := 0
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	start := i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		i = skipDigits(b, i)
	default:
		return n, false
	}
	n.whole = b[start:i]
	if i < len(b) && b[i] == '.' {
		start = i + 1
		i = skipDigits(b, start)
		if i == start {
			return n, false
		}
		n.frac = b[start:i]
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		var ok bool
		n.exp, i, ok = scanExponent(b, i+1)
		if !ok {
			return n, false
		}
	}
	return n, i == len(b)
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// scanExponent reads [+-]?\d+ from b[i:], saturating the value.
func scanExponent(b []byte, i int) (exp int64, next int, ok bool) {
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	for ; i < len(b) && isDigit(b[i]); i++ {
		if exp < maxExp {
			exp = exp*10 + int64(b[i]-'0')
		}
	}
	if neg {
		exp = -exp
	}
	return exp, i, i > start
}

// digit returns the i-th digit of the number with its decimal point removed.
func (n jsonNumber) digit(i int64) byte {
	if i < int64(len(n.whole)) {
		return n.whole[i]
	}
	return n.frac[i-int64(len(n.whole))]
}

// integer returns the number's value when it is whole (1440, 1440.0 and
// 1.44e3 alike, as docs/protocol.md, "Parameters" allows) and fits in an int64. It works on the
// decimal digits, so no float rounding can turn 1.5 into a whole number.
func (n jsonNumber) integer() (int64, error) {
	total := int64(len(n.whole) + len(n.frac))
	point := int64(len(n.whole)) + n.exp // digits left of the shifted point
	for i := max(point, 0); i < total; i++ {
		if n.digit(i) != '0' {
			return 0, errNotInteger
		}
	}
	const limit = uint64(1) << 63
	var mag uint64
	for i := int64(0); i < point; i++ {
		d := uint64(0)
		if i < total {
			d = uint64(n.digit(i) - '0')
		} else if mag == 0 {
			break // only zeros are left to append to a zero value
		}
		if mag > (limit-d)/10 {
			return 0, errIntRange
		}
		mag = mag*10 + d
	}
	switch {
	case n.neg && mag == limit:
		return math.MinInt64, nil
	case n.neg:
		return -int64(mag), nil
	case mag == limit:
		return 0, errIntRange
	}
	return int64(mag), nil
}

// parseJSONInteger parses a raw JSON number that must be a whole int64.
func parseJSONInteger(raw []byte) (int64, error) {
	n, ok := splitJSONNumber(raw)
	if !ok {
		return 0, errNotNumber
	}
	return n.integer()
}

// unquoteASCII decodes the raw JSON string b (quotes included), appending the
// text to dst. Dates and trend names are ASCII, so a string whose text is not
// ASCII is reported as not ok like a malformed one: neither can match.
func unquoteASCII(dst, b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return dst, false
	}
	body := b[1 : len(b)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '"' || c < 0x20 || c >= 0x80:
			return dst, false
		case c != '\\':
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(body) {
			return dst, false
		}
		var ok bool
		if dst, i, ok = appendEscape(dst, body, i); !ok {
			return dst, false
		}
	}
	return dst, true
}

// appendEscape decodes the escape whose letter is at body[i] and returns the
// index of its last byte.
func appendEscape(dst, body []byte, i int) ([]byte, int, bool) {
	switch c := body[i]; c {
	case '"', '\\', '/':
		return append(dst, c), i, true
	case 'b':
		return append(dst, '\b'), i, true
	case 'f':
		return append(dst, '\f'), i, true
	case 'n':
		return append(dst, '\n'), i, true
	case 'r':
		return append(dst, '\r'), i, true
	case 't':
		return append(dst, '\t'), i, true
	case 'u':
		if i+4 >= len(body) {
			return dst, i, false
		}
		r, ok := parseHex4(body[i+1 : i+5])
		if !ok || r >= 0x80 {
			return dst, i, false
		}
		return append(dst, byte(r)), i + 4, true
	}
	return dst, i, false
}

// parseHex4 decodes the four hex digits of a \u escape.
func parseHex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case isDigit(c):
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
