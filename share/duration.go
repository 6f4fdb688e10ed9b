package share

import (
	"errors"
	"strconv"
	"time"
)

var (
	errDurationEmpty  = errors.New("empty duration")
	errDurationSyntax = errors.New("not an ISO-8601 duration: want e.g. PT30M, PT2H0M or P1D")
	errDurationYM     = errors.New("duration in years or months, whose length varies")
	errDurationRange  = errors.New("duration must lie between 0 and 24 hours")
)

// maxDuration is the longest AlarmDelay or RealarmDelay (docs/protocol.md, "Durations").
const maxDuration = 24 * time.Hour

// durationUnit is one designator of an ISO-8601 duration.
type durationUnit struct {
	letter byte // upper case
	size   time.Duration
}

// The designators allowed before and after the T, in the order ISO 8601
// requires them.
var (
	dateUnits = []durationUnit{{'W', 7 * 24 * time.Hour}, {'D', 24 * time.Hour}}
	timeUnits = []durationUnit{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
)

// durationSum adds up components. Once the total passes 24 hours it only
// remembers that, so absurd values cannot overflow.
type durationSum struct {
	d    time.Duration
	over bool // the total exceeds maxDuration
	rest bool // nonzero fraction digits below the nanosecond
}

// add adds n units to the sum.
func (a *durationSum) add(n uint64, unit time.Duration) {
	if a.over || n > uint64(maxDuration/unit) {
		a.over = true
		return
	}
	a.d += time.Duration(n) * unit
	a.over = a.d > maxDuration
}

// result returns the total, or an error when it exceeds 24 hours.
func (a *durationSum) result() (time.Duration, error) {
	if a.over || (a.d == maxDuration && a.rest) {
		return 0, errDurationRange
	}
	return a.d, nil
}

// ParseDuration parses an AlarmDelay or RealarmDelay (docs/protocol.md, "Durations"):
// the ISO-8601 subset P[nW][nD][T[nH][nM][n[.f]S]] in any letter case, with
// non-negative integer parts and an optional fraction on seconds. A value
// without the leading P or PT ("30M", "1H30M") is read as if PT preceded
// it. Years and months are rejected, as is anything beyond 24 hours.
// Callers store and echo the original string; the duration is for
// evaluating alerts.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errDurationEmpty
	}
	var sum durationSum
	i := 0
	if upper(s[0]) == 'P' {
		next, n, err := parseDurationUnits(s, 1, dateUnits, &sum)
		switch {
		case err != nil:
			return 0, err
		case next == len(s) && n == 0:
			return 0, errDurationSyntax // a bare "P"
		case next == len(s):
			return sum.result()
		}
		i = next + 1 // past the T
	}
	next, n, err := parseDurationUnits(s, i, timeUnits, &sum)
	switch {
	case err != nil:
		return 0, err
	case n == 0 || next != len(s):
		return 0, errDurationSyntax
	}
	return sum.result()
}

// parseDurationUnits reads n<letter> components from s[i:] in the order of
// units, each at most once, until the end of s or a T. It returns where it
// stopped and how many components it read.
func parseDurationUnits(s string, i int, units []durationUnit, sum *durationSum) (next, count int, err error) {
	datePart := units[0].letter == dateUnits[0].letter
	for i < len(s) && upper(s[i]) != 'T' {
		n, frac, end, ok := scanDurationNumber(s, i)
		if !ok || end == len(s) {
			return i, count, errDurationSyntax
		}
		u, ok := findUnit(units, upper(s[end]))
		if !ok {
			return i, count, unitError(datePart, upper(s[end]))
		}
		if frac != "" && units[u].size != time.Second {
			return i, count, errDurationSyntax
		}
		sum.add(n, units[u].size)
		addFraction(sum, frac)
		units = units[u+1:]
		i = end + 1
		count++
	}
	return i, count, nil
}

// findUnit returns the index of letter among units.
func findUnit(units []durationUnit, letter byte) (int, bool) {
	for i, u := range units {
		if u.letter == letter {
			return i, true
		}
	}
	return 0, false
}

// unitError explains a designator that is not allowed where it appears;
// Y and M before the T are years and months, which get their own message.
func unitError(datePart bool, letter byte) error {
	if datePart && (letter == 'Y' || letter == 'M') {
		return errDurationYM
	}
	return errDurationSyntax
}

// scanDurationNumber reads digits, and an optional '.' with more digits,
// from s[i:]. The integer part saturates; frac holds the fraction digits.
func scanDurationNumber(s string, i int) (n uint64, frac string, end int, ok bool) {
	start := i
	for ; i < len(s) && isDigit(s[i]); i++ {
		if n < 1<<62 {
			n = n*10 + uint64(s[i]-'0')
		}
	}
	if i == start {
		return 0, "", i, false
	}
	if i == len(s) || s[i] != '.' {
		return n, "", i, true
	}
	fracStart := i + 1
	for i = fracStart; i < len(s) && isDigit(s[i]); i++ {
	}
	return n, s[fracStart:i], i, i > fracStart
}

// addFraction adds a fraction of a second, truncated to the nanosecond,
// noting nonzero digits beyond that so exactly-24h checks stay exact.
func addFraction(sum *durationSum, frac string) {
	var ns uint64
	for k := 0; k < 9; k++ {
		ns *= 10
		if k < len(frac) {
			ns += uint64(frac[k] - '0')
		}
	}
	for k := 9; k < len(frac); k++ {
		sum.rest = sum.rest || frac[k] != '0'
	}
	sum.add(ns, time.Nanosecond)
}

// upper returns the ASCII upper case of c.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// FormatDuration writes d in the official uploader's form, used for the
// durations the server creates itself: PT{h}H{m}M when there are whole
// hours, else PT{m}M (PT0M, PT30M, PT2H0M). Seconds are dropped and a
// negative d is written PT0M.
func FormatDuration(d time.Duration) string {
	d = max(d, 0)
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	b := make([]byte, 0, 16)
	b = append(b, "PT"...)
	if h > 0 {
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'H')
	}
	b = strconv.AppendInt(b, m, 10)
	return string(append(b, 'M'))
}
