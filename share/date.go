package share

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Date is a date value read from a request or response (docs/protocol.md, "Dates and times").
// MS is always the UTC instant; Offset, when HasOffset is set, is that
// instant's local UTC offset and never shifts it.
type Date struct {
	MS        int64 // milliseconds since 1970-01-01T00:00:00Z
	Offset    int   // minutes east of UTC; meaningful only when HasOffset
	HasOffset bool
}

// Time returns the instant in UTC.
func (d Date) Time() time.Time { return time.UnixMilli(d.MS).UTC() }

const (
	// maxDateMS is the largest magnitude the Date(ms) form can carry
	// (15 digits, docs/protocol.md, "Dates and times"). Every input form is held to it so that any parsed
	// date can be written back as Date(ms) and read again.
	maxDateMS = 999_999_999_999_999
	// maxOffset is ±hhmm with hh at most 14 and mm at most 59, in minutes.
	maxOffset = 14*60 + 59
)

var (
	errDateEmpty  = errors.New("empty date")
	errDateNull   = errors.New("date is null")
	errDateSyntax = errors.New("not a date: want Date(ms), /Date(ms±hhmm)/, milliseconds or an RFC 3339 timestamp")
	errDateRange  = errors.New("date out of range: at most 15 digits of milliseconds")
	errDateOffset = errors.New("date offset out of range: hours 00-14, minutes 00-59")
	errDateFrac   = errors.New("date milliseconds must be a whole number")
	errDateType   = errors.New("date must be a string or a number")
)

// ParseDate parses an already JSON-decoded date in any input form of docs/protocol.md, "Dates and times":
// /Date(ms)/ or Date(ms), each with an optional ±hhmm before the ')'; a
// string of digits with an optional leading '-'; or an RFC 3339 timestamp.
func ParseDate(s string) (Date, error) { return parseDate(s) }

// parseDate is ParseDate for strings and byte slices alike, so that
// ParseDateJSON can parse without copying the text into a string.
func parseDate[T ~string | ~[]byte](s T) (Date, error) {
	switch {
	case len(s) == 0:
		return Date{}, errDateEmpty
	case s[0] == '/' || s[0] == 'D':
		return parseDotNetDate(s)
	case isInteger(s):
		ms, err := parseMillis(s, 0, len(s))
		return Date{MS: ms}, err
	default:
		return parseRFC3339(s)
	}
}

// parseDotNetDate parses ^/?Date\((-?\d{1,15})([+-]\d{4})?\)/?$ with hh
// 00–14 and mm 00–59. The two slashes are independent, as in the pattern.
func parseDotNetDate[T ~string | ~[]byte](s T) (Date, error) {
	i := 0
	if s[0] == '/' {
		i = 1
	}
	if !hasPrefixAt(s, i, "Date(") {
		return Date{}, errDateSyntax
	}
	i += len("Date(")
	start := i
	if start < len(s) && s[start] == '-' {
		start++
	}
	end := skipDigitsIn(s, start)
	switch n := end - start; {
	case n == 0:
		return Date{}, errDateSyntax
	case n > 15:
		return Date{}, errDateRange
	}
	ms, err := parseMillis(s, i, end)
	if err != nil {
		return Date{}, err
	}
	d := Date{MS: ms}
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		if d.Offset, err = parseOffset(s, end); err != nil {
			return Date{}, err
		}
		d.HasOffset = true
		end += 5
	}
	if err := expectDateEnd(s, end); err != nil {
		return Date{}, err
	}
	return d, nil
}

// expectDateEnd checks that s[i:] is ")" or ")/".
func expectDateEnd[T ~string | ~[]byte](s T, i int) error {
	if i >= len(s) || s[i] != ')' {
		return errDateSyntax
	}
	i++
	if i < len(s) && s[i] == '/' {
		i++
	}
	if i != len(s) {
		return errDateSyntax
	}
	return nil
}

// hasPrefixAt reports whether s[i:] starts with p, byte by byte so that the
// []byte instantiation does not convert.
func hasPrefixAt[T ~string | ~[]byte](s T, i int, p string) bool {
	if len(s)-i < len(p) {
		return false
	}
	for j := 0; j < len(p); j++ {
		if s[i+j] != p[j] {
			return false
		}
	}
	return true
}

// skipDigitsIn returns the index of the first non-digit at or after i.
func skipDigitsIn[T ~string | ~[]byte](s T, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// parseMillis converts s[i:end], an optional '-' and digits, into
// milliseconds no larger in magnitude than maxDateMS.
func parseMillis[T ~string | ~[]byte](s T, i, end int) (int64, error) {
	neg := s[i] == '-'
	if neg {
		i++
	}
	var ms int64
	for ; i < end; i++ {
		ms = ms*10 + int64(s[i]-'0')
		if ms > maxDateMS {
			return 0, errDateRange
		}
	}
	if neg {
		ms = -ms
	}
	return ms, nil
}

// parseOffset reads ±hhmm at s[i:] and returns it in minutes east of UTC.
func parseOffset[T ~string | ~[]byte](s T, i int) (int, error) {
	if len(s)-i < 5 {
		return 0, errDateSyntax
	}
	for j := i + 1; j < i+5; j++ {
		if !isDigit(s[j]) {
			return 0, errDateSyntax
		}
	}
	hh := int(s[i+1]-'0')*10 + int(s[i+2]-'0')
	mm := int(s[i+3]-'0')*10 + int(s[i+4]-'0')
	if hh > 14 || mm > 59 {
		return 0, errDateOffset
	}
	if s[i] == '-' {
		return -(hh*60 + mm), nil
	}
	return hh*60 + mm, nil
}

// parseRFC3339 parses an RFC 3339 date-time (RFC 3339 §5.6, T and Z in
// either case, any number of fraction digits, truncated to the
// millisecond). A numeric offset is the instant's local offset, with hh held
// to 00–14 like ±hhmm; "Z" and "-00:00" state none (RFC 3339 §4.3), so a DT
// sent as local wall-clock time marked Z still yields DT − ST (docs/protocol.md, "Publisher: glucose").
func parseRFC3339[T ~string | ~[]byte](s T) (Date, error) {
	if len(s) < len("2006-01-02T15:04:05Z") || !rfc3339Separators(s) {
		return Date{}, errDateSyntax
	}
	year, month, day := digitsAt(s, 0, 4), digitsAt(s, 5, 2), digitsAt(s, 8, 2)
	hour, minute, sec := digitsAt(s, 11, 2), digitsAt(s, 14, 2), digitsAt(s, 17, 2)
	if min(year, month, day, hour, minute, sec) < 0 || month < 1 || month > 12 ||
		day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return Date{}, errDateSyntax
	}
	frac, i, ok := rfc3339Fraction(s, 19)
	if !ok {
		return Date{}, errDateSyntax
	}
	d, err := rfc3339Offset(s, i)
	if err != nil {
		return Date{}, err
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	d.MS = t.UnixMilli() + frac - int64(d.Offset)*60_000
	return d, nil
}

// rfc3339Separators checks the punctuation of YYYY-MM-DDTHH:MM:SS.
func rfc3339Separators[T ~string | ~[]byte](s T) bool {
	return s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') &&
		s[13] == ':' && s[16] == ':'
}

// digitsAt returns the n-digit decimal number at s[i:], or -1.
func digitsAt[T ~string | ~[]byte](s T, i, n int) int {
	v := 0
	for j := i; j < i+n; j++ {
		if !isDigit(s[j]) {
			return -1
		}
		v = v*10 + int(s[j]-'0')
	}
	return v
}

// daysIn returns the number of days in a month of the proleptic Gregorian
// calendar.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// rfc3339Fraction reads an optional .digits at s[i:] and returns it in
// whole milliseconds with the index after it.
func rfc3339Fraction[T ~string | ~[]byte](s T, i int) (ms int64, next int, ok bool) {
	if i >= len(s) || s[i] != '.' {
		return 0, i, true
	}
	start := i + 1
	end := skipDigitsIn(s, start)
	for j := start; j < start+3; j++ {
		ms *= 10
		if j < end {
			ms += int64(s[j] - '0')
		}
	}
	return ms, end, end > start
}

// rfc3339Offset reads the time-offset that must end s at s[i:].
func rfc3339Offset[T ~string | ~[]byte](s T, i int) (Date, error) {
	switch {
	case len(s)-i == 1 && (s[i] == 'Z' || s[i] == 'z'):
		return Date{}, nil
	case len(s)-i != 6 || (s[i] != '+' && s[i] != '-') || s[i+3] != ':':
		return Date{}, errDateSyntax
	}
	hh, mm := digitsAt(s, i+1, 2), digitsAt(s, i+4, 2)
	switch {
	case hh < 0 || mm < 0:
		return Date{}, errDateSyntax
	case hh > 14 || mm > 59:
		return Date{}, errDateOffset
	}
	off := hh*60 + mm
	if s[i] == '-' {
		off = -off
	}
	// -00:00 means the local offset is unknown (RFC 3339 §4.3).
	return Date{Offset: off, HasOffset: off != 0 || s[i] == '+'}, nil
}

// ParseDateJSON parses a raw JSON value holding a date: a JSON number of
// whole milliseconds, or a JSON string in any form ParseDate accepts.
// A missing value and null are errors. Errors do not name the member; the
// caller adds that.
func ParseDateJSON(raw []byte) (Date, error) {
	raw = trimJSONSpace(raw)
	switch {
	case len(raw) == 0:
		return Date{}, errDateEmpty
	case raw[0] == '"':
		return parseDateString(raw)
	case raw[0] == '-' || isDigit(raw[0]):
		return parseDateNumber(raw)
	case string(raw) == "null":
		return Date{}, errDateNull
	}
	return Date{}, errDateType
}

// parseDateString decodes a raw JSON string into a stack buffer and parses
// it; the escaped legacy form \/Date(…)\/ is common enough to keep cheap.
func parseDateString(raw []byte) (Date, error) {
	var buf [48]byte
	s, ok := unquoteASCII(buf[:0], raw)
	if !ok {
		return Date{}, errDateSyntax
	}
	return parseDate(s)
}

// parseDateNumber parses a raw JSON number of milliseconds.
func parseDateNumber(raw []byte) (Date, error) {
	ms, err := parseJSONInteger(raw)
	switch {
	case err == errNotInteger:
		return Date{}, errDateFrac
	case err == errIntRange, err == nil && (ms < -maxDateMS || ms > maxDateMS):
		return Date{}, errDateRange
	case err != nil:
		return Date{}, errDateType
	}
	return Date{MS: ms}, nil
}

// AppendDate appends ms in the Date(ms) form of a reading's WT and ST,
// without quotes: Date(1745081013817).
func AppendDate(dst []byte, ms int64) []byte {
	dst = append(dst, "Date("...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, ')')
}

// AppendDateOffset appends ms with a UTC offset in the Date(ms±hhmm) form of
// a reading's DT, without quotes: Date(1745081013817-0400). A zero offset is
// written +0000, and so is an offset beyond ±14:59, which no reader accepts.
func AppendDateOffset(dst []byte, ms int64, offsetMin int) []byte {
	dst = append(dst, "Date("...)
	dst = strconv.AppendInt(dst, ms, 10)
	dst = appendOffset(dst, offsetMin)
	return append(dst, ')')
}

// appendOffset appends ±hhmm.
func appendOffset(dst []byte, off int) []byte {
	if off < -maxOffset || off > maxOffset {
		off = 0
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/60, off%60
	return append(dst, sign, byte('0'+h/10), byte('0'+h%10), byte('0'+m/10), byte('0'+m%10))
}

// DateTime is the DateTime object of docs/protocol.md, "Dates and times",
// {"DateTime":"/Date(ms)/","OffsetMinutes":0}. It always carries offset 0
// and the unescaped slashed form, in both compat modes. Use *DateTime for a
// value that may be absent: a nil pointer marshals as null.
type DateTime struct {
	MS int64 // milliseconds since 1970-01-01T00:00:00Z
}

// NewDateTime returns the DateTime of t, truncated to the millisecond.
func NewDateTime(t time.Time) DateTime { return DateTime{MS: t.UnixMilli()} }

// Time returns the instant in UTC.
func (d DateTime) Time() time.Time { return time.UnixMilli(d.MS).UTC() }

// AppendDateTime appends the DateTime object of ms.
func AppendDateTime(dst []byte, ms int64) []byte {
	dst = append(dst, `{"DateTime":"/Date(`...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, `)/","OffsetMinutes":0}`...)
}

// MarshalJSON implements json.Marshaler.
func (d DateTime) MarshalJSON() ([]byte, error) {
	return AppendDateTime(make([]byte, 0, 48), d.MS), nil
}

// UnmarshalJSON reads a DateTime object whose DateTime member is in any
// ParseDate form. OffsetMinutes is ignored: DateTime is the instant itself.
// null leaves d unchanged, as encoding/json expects.
func (d *DateTime) UnmarshalJSON(b []byte) error {
	if string(trimJSONSpace(b)) == "null" {
		return nil
	}
	var obj struct{ DateTime json.RawMessage }
	if err := json.Unmarshal(b, &obj); err != nil {
		return errors.New("DateTime must be an object")
	}
	if isAbsent(obj.DateTime) {
		return errors.New("DateTime: missing")
	}
	date, err := ParseDateJSON(obj.DateTime)
	if err != nil {
		return fmt.Errorf("DateTime: %w", err)
	}
	d.MS = date.MS
	return nil
}
