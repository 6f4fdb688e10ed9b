package core

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Text checks. Every string a request stores or looks up passes one of
// these first: query strings can carry any bytes, and PostgreSQL refuses
// text that is not UTF-8 or holds a NUL (InternalError), where SQLite
// would store it.

// storable reports whether s can be stored as text on every engine: valid
// UTF-8 without NUL.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// hasControl reports whether s holds a control character (NUL included).
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// hasFormat reports whether s holds a format character (Unicode Cf): bidi
// overrides, embeddings and isolates (U+202A–U+202E, U+2066–U+2069),
// zero-width spaces and joiners (U+200B–U+200F), word joiners, the BOM
// (U+FEFF) and the like. Invisible, they make one name read as another
// ("Mom" and "Mom\u200b") or reorder the text around it.
func hasFormat(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) >= 0
}

// checkName trims and validates a name people read — a display name, a
// contact name: 1 to MaxNameRunes characters ("" too when allowEmpty) of
// valid UTF-8 without control or format characters.
func checkName(param, name string, allowEmpty bool) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if (n == 0 && !allowEmpty) || n > MaxNameRunes || !utf8.ValidString(name) || hasControl(name) || hasFormat(name) {
		return "", glucose.InvalidArgument("%s must be 1 to %d characters without control, bidi or zero-width characters",
			param, MaxNameRunes)
	}
	return name, nil
}

// cleanLabel keeps what the server records of a free-form value it never
// checks (applicationId, ImageType): valid UTF-8 without control
// characters, at most max bytes cut at a character boundary.
func cleanLabel(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
