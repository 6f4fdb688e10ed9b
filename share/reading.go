package share

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Reading is one glucose reading (EGV) as it travels on the wire
// (docs/protocol.md, "Shared objects").
type Reading struct {
	ST     int64 // system time, milliseconds since 1970 (a UTC instant); also WT
	Offset int   // the reading's UTC offset in minutes, written in DT
	Value  int   // mg/dL; 39 means LOW (below 40), 401 HIGH (above 400)
	Trend  Trend
}

// AppendReading appends r as a compact JSON object. In the default form
// (legacy false):
//
//	{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"}
//
// With legacy set (compat=legacy, docs/protocol.md, "Compatibility mode") dates take the .NET-era form with
// escaped slashes and Trend is an integer, byte-identical to the hosted
// service before late 2021:
//
//	{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817-0400)\/","Value":224,"Trend":4}
//
// WT equals ST (docs/protocol.md, "Publisher: glucose": clients take WT as the reading's time).
func AppendReading(dst []byte, r Reading, legacy bool) []byte {
	dst = append(dst, `{"WT":`...)
	dst = appendReadingDate(dst, r.ST, 0, false, legacy)
	dst = append(dst, `,"ST":`...)
	dst = appendReadingDate(dst, r.ST, 0, false, legacy)
	dst = append(dst, `,"DT":`...)
	dst = appendReadingDate(dst, r.ST, r.Offset, true, legacy)
	dst = append(dst, `,"Value":`...)
	dst = strconv.AppendInt(dst, int64(r.Value), 10)
	dst = append(dst, `,"Trend":`...)
	if legacy {
		dst = strconv.AppendInt(dst, int64(r.Trend.normal()), 10)
	} else {
		dst = appendTrendName(dst, r.Trend)
	}
	return append(dst, '}')
}

// appendReadingDate appends one quoted date member of a reading.
func appendReadingDate(dst []byte, ms int64, offset int, withOffset, legacy bool) []byte {
	dst = append(dst, '"')
	if legacy {
		dst = append(dst, `\/`...)
	}
	if withOffset {
		dst = AppendDateOffset(dst, ms, offset)
	} else {
		dst = AppendDate(dst, ms)
	}
	if legacy {
		dst = append(dst, `\/`...)
	}
	return append(dst, '"')
}

// AppendReadings appends rs as a JSON array, [] when empty. It does not
// allocate when dst has room.
func AppendReadings(dst []byte, rs []Reading, legacy bool) []byte {
	dst = append(dst, '[')
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendReading(dst, r, legacy)
	}
	return append(dst, ']')
}

// wireReading holds a reading's members undecoded; encoding/json matches
// their names case-insensitively.
type wireReading struct {
	WT, ST, DT, Value, Trend json.RawMessage
}

// UnmarshalJSON reads a reading in either compat form, and in the upload
// form of PostReceiverEgvRecords: WT, ST and DT in any date form (docs/protocol.md, "Dates and times"),
// Trend in any form (docs/protocol.md, "Trends"), Value a JSON number rounded half away from
// zero. ST falls back to WT when missing. Offset comes from DT (docs/protocol.md, "Publisher: glucose"): DT's
// own ±hhmm if it has one, else DT − ST rounded to 15 minutes (0 beyond
// ±14 hours), else 0. null leaves r unchanged, as encoding/json expects.
func (r *Reading) UnmarshalJSON(b []byte) error {
	if string(trimJSONSpace(b)) == "null" {
		return nil
	}
	var w wireReading
	if err := json.Unmarshal(b, &w); err != nil {
		return errors.New("reading must be a JSON object")
	}
	st, err := w.systemTime()
	if err != nil {
		return err
	}
	out := Reading{ST: st, Trend: ParseTrend(w.Trend)}
	if !isAbsent(w.DT) {
		dt, err := ParseDateJSON(w.DT)
		if err != nil {
			return fmt.Errorf("DT: %w", err)
		}
		out.Offset = readingOffset(st, dt)
	}
	if out.Value, err = parseValue(w.Value); err != nil {
		return fmt.Errorf("Value: %w", err)
	}
	*r = out
	return nil
}

// systemTime returns ST, or WT when ST is missing.
func (w *wireReading) systemTime() (int64, error) {
	name, raw := "ST", w.ST
	if isAbsent(raw) {
		name, raw = "WT", w.WT
	}
	if isAbsent(raw) {
		return 0, errors.New("ST: missing")
	}
	d, err := ParseDateJSON(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d.MS, nil
}

// offsetStep is the granularity of offsets derived from DT − ST: every UTC
// offset in use is a multiple of 15 minutes.
const offsetStep = 15 * 60 * 1000

// readingOffset derives a reading's UTC offset in minutes from its DT
// (docs/protocol.md, "Publisher: glucose"). The official uploader sends DT as local wall-clock time written as
// if it were UTC, so DT − ST is the local offset.
func readingOffset(st int64, dt Date) int {
	if dt.HasOffset {
		return dt.Offset
	}
	delta := dt.MS - st
	steps := (abs(delta) + offsetStep/2) / offsetStep // half away from zero
	if delta < 0 {
		steps = -steps
	}
	if minutes := steps * 15; minutes >= -14*60 && minutes <= 14*60 {
		return int(minutes)
	}
	return 0
}

// abs returns the magnitude of n; dates are bounded far below overflow.
func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

var (
	errValueMissing = errors.New("missing")
	errValueType    = errors.New("must be a number")
	errValueRange   = errors.New("out of range")
)

// parseValue reads Value: a JSON number, rounded half away from zero
// (xDrip4iOS uploads decimals, docs/protocol.md, "Publisher: glucose").
func parseValue(raw []byte) (int, error) {
	raw = trimJSONSpace(raw)
	if isAbsent(raw) {
		return 0, errValueMissing
	}
	n, ok := splitJSONNumber(raw)
	if !ok {
		return 0, errValueType
	}
	v, err := n.integer()
	if err == errNotInteger {
		f, _ := strconv.ParseFloat(string(raw), 64)
		if f = math.Round(f); math.Abs(f) > 1<<53 {
			return 0, errValueRange
		}
		v, err = int64(f), nil
	}
	if err != nil || int64(int(v)) != v {
		return 0, errValueRange
	}
	return int(v), nil
}

// readingList is a reading list as a server answers it. A null element is
// an error: Reading leaves null unchanged, as encoding/json expects of a
// value, which in a list would make a reading at 1970 with value 0.
type readingList []Reading

// UnmarshalJSON implements json.Unmarshaler.
func (l *readingList) UnmarshalJSON(b []byte) error {
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return err
	}
	out := make([]Reading, len(elems))
	for i, el := range elems {
		if isAbsent(el) {
			return fmt.Errorf("reading %d is null", i)
		}
		if err := out[i].UnmarshalJSON(el); err != nil {
			return fmt.Errorf("reading %d: %w", i, err)
		}
	}
	*l = out
	return nil
}
