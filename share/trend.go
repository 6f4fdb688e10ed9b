package share

// Trend is the direction of a reading (docs/protocol.md, "Trends"). Values outside
// 0–9 never come out of the parsers; where one appears anyway it is treated
// as TrendNone, the same as an unknown integer on input.
type Trend int

// The trends, numbered as on the wire in compat=legacy.
const (
	TrendNone Trend = iota
	TrendDoubleUp
	TrendSingleUp
	TrendFortyFiveUp
	TrendFlat
	TrendFortyFiveDown
	TrendSingleDown
	TrendDoubleDown
	TrendNotComputable
	TrendRateOutOfRange
)

var trendNames = [...]string{
	"None", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat",
	"FortyFiveDown", "SingleDown", "DoubleDown", "NotComputable", "RateOutOfRange",
}

var trendArrows = [...]string{"", "↑↑", "↑", "↗", "→", "↘", "↓", "↓↓", "?", "-"}

var nightscoutDirections = [...]string{
	"NONE", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat",
	"FortyFiveDown", "SingleDown", "DoubleDown", "NOT COMPUTABLE", "RATE OUT OF RANGE",
}

// trendKeys maps normalised names (lower case, no spaces, underscores or
// hyphens) to trends. OutOfRange is TooTallNate dexcom-share's spelling.
var trendKeys = []struct {
	key   string
	trend Trend
}{
	{"none", TrendNone}, {"doubleup", TrendDoubleUp}, {"singleup", TrendSingleUp},
	{"fortyfiveup", TrendFortyFiveUp}, {"flat", TrendFlat},
	{"fortyfivedown", TrendFortyFiveDown}, {"singledown", TrendSingleDown},
	{"doubledown", TrendDoubleDown}, {"notcomputable", TrendNotComputable},
	{"rateoutofrange", TrendRateOutOfRange}, {"outofrange", TrendRateOutOfRange},
}

// normal returns t, or TrendNone when t is outside 0–9.
func (t Trend) normal() Trend {
	if t < TrendNone || t > TrendRateOutOfRange {
		return TrendNone
	}
	return t
}

// String returns the output name, e.g. "Flat".
func (t Trend) String() string { return trendNames[t.normal()] }

// Arrow returns the display arrow, e.g. "→"; empty for TrendNone. Arrows are
// for people (web UI, CLI), never for the wire.
func (t Trend) Arrow() string { return trendArrows[t.normal()] }

// MarshalJSON writes the quoted output name, the default wire form.
func (t Trend) MarshalJSON() ([]byte, error) {
	return appendTrendName(make([]byte, 0, 16), t), nil
}

// UnmarshalJSON reads any input form through ParseTrend; it never fails.
func (t *Trend) UnmarshalJSON(raw []byte) error {
	*t = ParseTrend(raw)
	return nil
}

// appendTrendName appends the quoted output name of t.
func appendTrendName(dst []byte, t Trend) []byte {
	dst = append(dst, '"')
	dst = append(dst, trendNames[t.normal()]...)
	return append(dst, '"')
}

// ParseTrend reads a raw JSON trend value: an integer 0–9 as a JSON number
// or digit string, or a name (see ParseTrendName). Anything else, null and a
// missing value give TrendNone: a bad trend must never stop a glucose value
// from being stored, so there is no error.
func ParseTrend(raw []byte) Trend {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 {
		return TrendNone
	}
	if raw[0] == '"' {
		var buf [32]byte
		s, ok := unquoteASCII(buf[:0], raw)
		if !ok {
			return TrendNone
		}
		return parseTrendName(s)
	}
	v, err := parseJSONInteger(raw)
	if err != nil {
		return TrendNone
	}
	return trendFromInt(v)
}

// ParseTrendName reads an already-decoded trend: a digit string (optional
// leading '-') whose value is 0–9, or a name compared case-insensitively
// after removing spaces, underscores and hyphens, so "NOT COMPUTABLE" and
// "not_computable" are TrendNotComputable. Anything else is TrendNone.
func ParseTrendName(s string) Trend { return parseTrendName(s) }

// parseTrendName is ParseTrendName for strings and byte slices alike.
func parseTrendName[T ~string | ~[]byte](s T) Trend {
	if isInteger(s) {
		return trendFromInt(parseSmallInt(s))
	}
	key, n, ok := trendKey(s)
	if !ok {
		return TrendNone
	}
	for _, k := range trendKeys {
		if string(key[:n]) == k.key {
			return k.trend
		}
	}
	return TrendNone
}

// trendKeyBuf is long enough for every normalised trend name.
type trendKeyBuf = [16]byte

// trendKey normalises s for name matching into a fixed buffer and returns
// its length; it reports false when s is too long to be any name.
func trendKey[T ~string | ~[]byte](s T) (buf trendKeyBuf, n int, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '_' || c == '-':
			continue
		case n == len(buf):
			return buf, 0, false
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return buf, n, true
}

// parseSmallInt converts an integer string, saturating far beyond 0–9 so
// that long digit runs cannot overflow into range.
func parseSmallInt[T ~string | ~[]byte](s T) int64 {
	neg := s[0] == '-'
	var v int64
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) && v < 1000 {
			v = v*10 + int64(s[i]-'0')
		}
	}
	if neg {
		return -v
	}
	return v
}

// trendFromInt returns the trend numbered v, or TrendNone outside 0–9.
func trendFromInt(v int64) Trend {
	if v < 0 || v > int64(TrendRateOutOfRange) {
		return TrendNone
	}
	return Trend(v)
}

// NightscoutDirection returns the Nightscout direction string of t, e.g.
// "Flat", "NOT COMPUTABLE"; "NONE" for TrendNone.
func NightscoutDirection(t Trend) string { return nightscoutDirections[t.normal()] }

// TrendFromDirection maps a Nightscout direction string to a trend. It
// accepts everything ParseTrendName does, and Nightscout's TripleUp and
// TripleDown as the steepest trends Share has.
func TrendFromDirection(s string) Trend {
	if key, n, ok := trendKey(s); ok {
		switch string(key[:n]) {
		case "tripleup":
			return TrendDoubleUp
		case "tripledown":
			return TrendDoubleDown
		}
	}
	return ParseTrendName(s)
}
