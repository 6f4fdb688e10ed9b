package glucose

import (
	"strings"
	"unicode"
)

// NameKey is the form in which account and contact names are compared:
// surrounding whitespace trimmed, then Unicode simple case folding (each
// rune replaced by the smallest rune of its fold orbit, so "K", "k" and the
// Kelvin sign compare equal).
func NameKey(name string) string {
	name = strings.TrimSpace(name)
	return strings.Map(foldRune, name)
}

func foldRune(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	return min
}
