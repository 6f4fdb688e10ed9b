package nightscout

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Helpers with JavaScript's semantics, for values decoded from uploads.

// num reads a number (or a numeric string, as JavaScript's arithmetic
// would); 0 for anything else.
func num(v any) float64 {
	f, _ := parseNum(v)
	return f
}

func parseNum(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	}
	return 0, false
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case json.Number, float64, int:
		return num(t) != 0
	}
	return true
}

// member reads o[a][b].
func member(o jsObject, a, b string) (any, bool) {
	inner, ok := o[a].(jsObject)
	if !ok {
		return nil, false
	}
	v, ok := inner[b]
	return v, ok && v != nil
}

func withoutNil(o jsObject) jsObject {
	for k, v := range o {
		if v == nil {
			delete(o, k)
		}
	}
	return o
}

func orNil(v any) any {
	if !truthy(v) {
		return nil
	}
	return v
}

// millsOf is a document's date (Nightscout's mills).
func millsOf(o jsObject) int64 { return int64(num(o["mills"])) }

// isoUTC is how moment.js writes a time in JSON.
const isoUTC = "2006-01-02T15:04:05.000Z"

func isoOf(ms int64) string { return glucose.FromMS(ms).UTC().Format(isoUTC) }

// momentMills parses a time as moment() does: Unix milliseconds, or an ISO
// 8601 string; 0 when it is neither.
func momentMills(v any) int64 {
	switch t := v.(type) {
	case string:
		if at, ok := parseLooseTime(t); ok {
			return at.UnixMilli()
		}
		return 0
	case nil:
		return 0
	}
	return int64(num(v))
}

// jsRound is JavaScript's Math.round: halves round up.
func jsRound(f float64) float64 { return math.Floor(f + 0.5) }

func jsRoundInt(ms, unit int64) int64 { return int64(jsRound(float64(ms)/float64(unit))) * unit }

// round3 rounds to three decimals as iob.js does.
func round3(f float64) float64 { return jsRound(f*1000) / 1000 }

// toPrecision3 is JavaScript's Number.prototype.toPrecision(3) for the
// reservoir's units (halves round up: 120.5 is "121").
func toPrecision3(v float64) string {
	if v == 0 {
		return "0.00"
	}
	digits := 3 - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	p := math.Pow(10, float64(digits))
	rounded := jsRound(v*p) / p
	return strconv.FormatFloat(rounded, 'f', max(digits, 0), 64)
}

// formatAgo is utils.formatAgo in English: "5m ago", "2h ago".
func formatAgo(at, now int64) string {
	since := now - at
	const minute, hour, day = 60_000, 3_600_000, 86_400_000
	ago := func(n int64, unit string) string {
		return strconv.FormatInt(max(1, int64(jsRound(float64(since)/float64(n)))), 10) + unit + " ago"
	}
	switch {
	case at-5*minute > now:
		return "future"
	case at > now:
		return "1m ago"
	case since < hour:
		return ago(minute, "m")
	case since < day:
		return ago(hour, "h")
	case since < 7*day:
		return ago(day, "d")
	}
	return "ago"
}
