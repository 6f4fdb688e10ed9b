package share

import (
	"bytes"
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dotNetDate is the docs/protocol.md, "Dates and times" pattern; the fuzzers check the hand-written parser
// against it.
var dotNetDate = regexp.MustCompile(`^/?Date\((-?\d{1,15})([+-]\d{4})?\)/?$`)

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"/Date(1745081013817)/", "Date(1745081013817-0400)", "Date(1)/", "Date(1+1500)",
		"1745081013817", "-5", "2025-04-19T16:43:33.817Z", "2025-04-19T12:43:33-04:00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		checkDotNetPattern(t, s, d, err)
		if err != nil {
			return
		}
		checkDate(t, s, d)
	})
}

// checkDotNetPattern holds the hand-written parser to the docs/protocol.md, "Dates and times" pattern for
// every input that starts like the Date(…) form.
func checkDotNetPattern(t *testing.T, s string, d Date, err error) {
	if !strings.HasPrefix(s, "Date(") && !strings.HasPrefix(s, "/Date(") {
		return
	}
	m := dotNetDate.FindStringSubmatch(s)
	valid := m != nil
	if valid && m[2] != "" {
		hh, _ := strconv.Atoi(m[2][1:3])
		mm, _ := strconv.Atoi(m[2][3:5])
		valid = hh <= 14 && mm <= 59
	}
	if valid != (err == nil) {
		t.Fatalf("ParseDate(%q) = %+v, %v; pattern match %v", s, d, err, valid)
	}
	if valid {
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		if d.MS != ms || d.HasOffset != (m[2] != "") {
			t.Fatalf("ParseDate(%q) = %+v; want MS %d, offset %q", s, d, ms, m[2])
		}
	}
}

// checkDate checks that a parsed date is in range and survives the output
// forms.
func checkDate(t *testing.T, in string, d Date) {
	if d.MS < -maxDateMS || d.MS > maxDateMS || d.Offset < -maxOffset || d.Offset > maxOffset {
		t.Fatalf("parse(%q) = %+v, out of range", in, d)
	}
	if !d.HasOffset && d.Offset != 0 {
		t.Fatalf("parse(%q) = %+v, offset without HasOffset", in, d)
	}
	if !d.Time().Equal(time.UnixMilli(d.MS)) {
		t.Fatalf("Time() = %v, want %v", d.Time(), time.UnixMilli(d.MS))
	}
	plain := string(AppendDate(nil, d.MS))
	for _, s := range []string{plain, "/" + plain + "/", strconv.FormatInt(d.MS, 10)} {
		if got, err := ParseDate(s); err != nil || got != (Date{MS: d.MS}) {
			t.Fatalf("ParseDate(%q) = %+v, %v; want MS %d", s, got, err, d.MS)
		}
	}
	withOffset := string(AppendDateOffset(nil, d.MS, d.Offset))
	want := Date{MS: d.MS, Offset: d.Offset, HasOffset: true}
	if got, err := ParseDate(withOffset); err != nil || got != want {
		t.Fatalf("ParseDate(%q) = %+v, %v; want %+v", withOffset, got, err, want)
	}
	dt := AppendDateTime(nil, d.MS)
	var back DateTime
	if err := json.Unmarshal(dt, &back); err != nil || back.MS != d.MS {
		t.Fatalf("DateTime %s = %+v, %v; want MS %d", dt, back, err, d.MS)
	}
}

func FuzzParseDateJSON(f *testing.F) {
	for _, s := range []string{
		`"\/Date(1745081013817-0400)\/"`, `"/Date(1745081013817)/"`, `1745081013817`, `1.745081013817e12`,
		`1745081013817.5`, `"2025-04-19T16:43:33.817Z"`, `null`, `"\u0044ate(1)"`, `9223372036854775808`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseDateJSON(raw)
		checkAgainstEncodingJSON(t, raw, d, err)
		if err != nil {
			return
		}
		checkDate(t, string(raw), d)
		quoted := []byte(`"` + string(AppendDate(nil, d.MS)) + `"`)
		if got, err := ParseDateJSON(quoted); err != nil || got != (Date{MS: d.MS}) {
			t.Fatalf("ParseDateJSON(%s) = %+v, %v; want MS %d", quoted, got, err, d.MS)
		}
	})
}

// checkAgainstEncodingJSON compares ParseDateJSON with decoding the value
// by encoding/json (strings) or exactly with math/big (numbers).
func checkAgainstEncodingJSON(t *testing.T, raw []byte, d Date, err error) {
	trimmed := bytes.Trim(raw, " \t\r\n")
	if !json.Valid(trimmed) {
		if err == nil {
			t.Fatalf("ParseDateJSON(%q) = %+v, accepted invalid JSON", raw, d)
		}
		return
	}
	switch {
	case trimmed[0] == '"':
		var s string
		if json.Unmarshal(trimmed, &s) != nil {
			return
		}
		want, wantErr := ParseDate(s)
		if (err == nil) != (wantErr == nil) || want != d {
			t.Fatalf("ParseDateJSON(%s) = %+v, %v; ParseDate(%q) = %+v, %v", raw, d, err, s, want, wantErr)
		}
	case trimmed[0] == '-' || isDigit(trimmed[0]):
		ms, valid := exactMillis(string(trimmed))
		if valid != (err == nil) || valid && ms != d.MS {
			t.Fatalf("ParseDateJSON(%s) = %+v, %v; exact value %v, valid %v", raw, d, err, ms, valid)
		}
	default:
		if err == nil {
			t.Fatalf("ParseDateJSON(%s) = %+v, accepted a non-date JSON value", raw, d)
		}
	}
}

// exactMillis evaluates a valid JSON number exactly and reports whether it
// is whole milliseconds within range. Exponents too large for math/big to
// expand quickly are decided from the mantissa: with inputs far shorter than
// the exponent, a nonzero mantissa is either huge or has a fraction.
func exactMillis(num string) (int64, bool) {
	mantissa, exp, _ := strings.Cut(strings.ToLower(num), "e")
	if e, err := strconv.Atoi(exp); exp != "" && (err != nil || e > 10000 || e < -10000) {
		return 0, strings.Trim(mantissa, "-0.") == ""
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || !r.IsInt() || new(big.Rat).Abs(r).Cmp(big.NewRat(maxDateMS, 1)) > 0 {
		return 0, false
	}
	return r.Num().Int64(), true
}

func FuzzParseTrend(f *testing.F) {
	for _, s := range []string{
		`4`, `"Flat"`, `"NOT COMPUTABLE"`, `"not_computable"`, `"OutOfRange"`, `null`, `""`, `4.0`, `"\u0046lat"`, `-0`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := ParseTrend(raw)
		if got < TrendNone || got > TrendRateOutOfRange {
			t.Fatalf("ParseTrend(%q) = %d, outside 0–9", raw, got)
		}
		checkTrendReference(t, raw, got)
		name, _ := got.MarshalJSON()
		if back := ParseTrend(name); back != got {
			t.Fatalf("ParseTrend(%s) = %v, want %v", name, back, got)
		}
		digits := strconv.Itoa(int(got))
		if ParseTrend([]byte(digits)) != got || ParseTrendName(digits) != got {
			t.Fatalf("trend %d does not round-trip through %q", got, digits)
		}
		if TrendFromDirection(NightscoutDirection(got)) != got {
			t.Fatalf("trend %v does not round-trip through %q", got, NightscoutDirection(got))
		}
	})
}

// checkTrendReference compares ParseTrend with a plain reference: decode
// with encoding/json, then apply the docs/protocol.md, "Trends" rules directly.
func checkTrendReference(t *testing.T, raw []byte, got Trend) {
	trimmed := bytes.Trim(raw, " \t\r\n")
	if !json.Valid(trimmed) {
		return
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return
	}
	want := TrendNone
	switch v := v.(type) {
	case json.Number:
		if ms, ok := exactMillis(string(v)); ok && ms >= 0 && ms <= 9 {
			want = Trend(ms)
		}
	case string:
		want = referenceTrendName(v)
	}
	if got != want {
		t.Fatalf("ParseTrend(%s) = %v, reference %v", raw, got, want)
	}
}

// referenceTrendName is ParseTrendName written the obvious way.
func referenceTrendName(s string) Trend {
	if isInteger(s) {
		digits := strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
		if len(digits) > 1 || strings.HasPrefix(s, "-") && digits != "" {
			return TrendNone
		}
		n, _ := strconv.Atoi("0" + digits)
		return Trend(n)
	}
	key := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(s)
	if key == "" {
		return TrendNone
	}
	for i, name := range trendNames {
		if strings.EqualFold(key, name) && isASCII(key) {
			return Trend(i)
		}
	}
	if strings.EqualFold(key, "OutOfRange") && isASCII(key) {
		return TrendRateOutOfRange
	}
	return TrendNone
}

// isASCII reports whether s is plain ASCII; names never match otherwise
// (strings.EqualFold would fold the Kelvin sign to k).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"PT2H0M", "PT2H", "30M", "P1D", "P1Y", "PT25H", "PT0S", "PT1.5S", "P0W1DT0H", "pt86400.0000000001s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseDuration(%q) = %v, outside 0–24h", s, d)
		}
		formatted := FormatDuration(d)
		if got, err := ParseDuration(formatted); err != nil || got != d.Truncate(time.Minute) {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v", formatted, got, err, d.Truncate(time.Minute))
		}
		for _, v := range []string{strings.ToLower(s), strings.ToUpper(s)} {
			if got, err := ParseDuration(v); err != nil || got != d {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v like %q", v, got, err, d, s)
			}
		}
		if u := strings.ToUpper(s); strings.HasPrefix(u, "PT") && len(s) > 2 {
			if got, err := ParseDuration(s[2:]); err != nil || got != d {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v like %q", s[2:], got, err, d, s)
			}
		} else if !strings.HasPrefix(u, "P") {
			if got, err := ParseDuration("PT" + s); err != nil || got != d {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v like %q", "PT"+s, got, err, d, s)
			}
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"3c348745-d2b3-4e3e-a8fe-306c0c18eae6", `"{3C348745-D2B3-4E3E-A8FE-306C0C18EAE6}"`, ZeroID,
		" {" + ZeroID + "} ", "{\"" + ZeroID + "\"}", "3c348745d2b34e3ea8fe306c0c18eae6",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseID(s)
		if !ok {
			if id != "" {
				t.Fatalf("ParseID(%q) = %q, false; want empty", s, id)
			}
			return
		}
		if len(id) != 36 || strings.ToLower(id) != id {
			t.Fatalf("ParseID(%q) = %q, not lower-case canonical", s, id)
		}
		if !strings.Contains(strings.ToLower(s), id) {
			t.Fatalf("ParseID(%q) = %q, not taken from the input", s, id)
		}
		for _, v := range []string{id, strings.ToUpper(id), "{" + id + "}", `"` + id + `"`, ` "{` + id + `}" `} {
			if got, ok := ParseID(v); !ok || got != id {
				t.Fatalf("ParseID(%q) = %q, %v; want %q", v, got, ok, id)
			}
		}
	})
}

func FuzzReadingUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"}`,
		`{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817-0400)\/","Value":224,"Trend":4}`,
		`{"Trend":4,"ST":"/Date(1745081013000)/","DT":"/Date(1745066613000)/","Value":97}`,
		`{"ST":"\/Date(1426783106000)\/","DT":"\/Date(1426754317000)\/","Value":120,"Trend":4}`,
		`{"WT":1,"Value":97.5,"Trend":"NOT COMPUTABLE","direction":"Flat"}`,
		`null`, `[]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Reading
		if err := r.UnmarshalJSON(data); err != nil {
			return
		}
		if r.Trend < TrendNone || r.Trend > TrendRateOutOfRange || r.Offset < -maxOffset || r.Offset > maxOffset {
			t.Fatalf("UnmarshalJSON(%s) = %+v, out of range", data, r)
		}
		for _, legacy := range []bool{false, true} {
			b := AppendReading(nil, r, legacy)
			if !json.Valid(b) {
				t.Fatalf("AppendReading(%+v, %v) = %s, not JSON", r, legacy, b)
			}
			var back Reading
			if err := json.Unmarshal(b, &back); err != nil || back != r {
				t.Fatalf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, r)
			}
		}
	})
}
