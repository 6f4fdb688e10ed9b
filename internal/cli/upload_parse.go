package cli

// The file formats glucoshare upload reads.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// parseReadings reads readings in format (auto, clarity, csv or json);
// times without an offset are in loc.
func parseReadings(data []byte, format string, loc *time.Location) ([]share.Reading, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a byte-order mark, as spreadsheet programs write
	if format == "auto" {
		format = detectFormat(data)
	}
	switch format {
	case "json":
		return parseJSONReadings(data, loc)
	case "clarity":
		return parseClarity(data, loc)
	case "csv":
		return parseCSVReadings(data, loc)
	}
	return nil, errors.New("unknown format: want a Clarity CSV export, the csv or json of glucoshare readings, or Share readings in JSON")
}

// detectFormat tells JSON from CSV by the first character, and Clarity's
// CSV from ours by the header.
func detectFormat(data []byte) string {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '{') {
		return "json"
	}
	header, _, _ := bytes.Cut(trimmed, []byte("\n"))
	h := strings.ToLower(string(header))
	switch {
	case strings.Contains(h, "event type") && strings.Contains(h, "glucose value"):
		return "clarity"
	}
	fields := strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == ';' })
	for i := range fields {
		fields[i] = strings.Trim(strings.TrimSpace(fields[i]), `"`)
	}
	if slices.Contains(fields, "time") && slices.Contains(fields, "value") {
		return "csv"
	}
	return ""
}

// csvRecords reads CSV with a comma or, when the header has none, a
// semicolon (Clarity's export in some locales), allowing ragged rows.
func csvRecords(data []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	header, _, _ := bytes.Cut(data, []byte("\n"))
	if !bytes.Contains(header, []byte(",")) && bytes.Contains(header, []byte(";")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("the file is empty")
	}
	return recs, nil
}

// columns maps lower-case header names to their index.
type columns map[string]int

func newColumns(header []string) columns {
	c := columns{}
	for i, h := range header {
		c[strings.ToLower(strings.TrimSpace(h))] = i
	}
	return c
}

// find returns the index of the first column whose name starts with one of
// prefixes, and the full name.
func (c columns) find(prefixes ...string) (int, string) {
	for _, p := range prefixes {
		best, name := -1, ""
		for n, i := range c {
			if strings.HasPrefix(n, p) && (best < 0 || i < best) {
				best, name = i, n
			}
		}
		if best >= 0 {
			return best, name
		}
	}
	return -1, ""
}

// cell returns row[i] trimmed, or "" when the row is short.
func cell(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[i])
}

// parseClarity reads a Dexcom Clarity CSV export: the header names the
// columns ("Timestamp (YYYY-MM-DDThh:mm:ss)", "Event Type", "Glucose Value
// (mg/dL)" or "(mmol/L)", "Glucose Rate of Change (…/min)"); the rows of
// Event Type EGV are readings, all others (patient and device information,
// alerts, insulin, carbs, calibrations, notes) are skipped.
func parseClarity(data []byte, loc *time.Location) ([]share.Reading, error) {
	recs, err := csvRecords(data)
	if err != nil {
		return nil, err
	}
	cols := newColumns(recs[0])
	ts, _ := cols.find("timestamp")
	ev, _ := cols.find("event type")
	gv, gvName := cols.find("glucose value")
	rate, rateName := cols.find("glucose rate of change")
	if ts < 0 || ev < 0 || gv < 0 {
		return nil, errors.New("not a Clarity export: the header lacks Timestamp, Event Type or Glucose Value")
	}
	mmol := strings.Contains(gvName, "mmol")
	rateMmol := strings.Contains(rateName, "mmol")
	var out []share.Reading
	for n, row := range recs[1:] {
		if !strings.EqualFold(cell(row, ev), "EGV") {
			continue
		}
		line := n + 2
		t, err := parseLocalTime(cell(row, ts), loc)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		v, err := parseGlucose(cell(row, gv), mmol)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		_, off := t.Zone()
		out = append(out, share.Reading{ST: t.UnixMilli(), Offset: off / 60, Value: v, Trend: trendFromRate(cell(row, rate), rateMmol)})
	}
	return out, nil
}

// parseLocalTime reads a timestamp: RFC 3339 (its offset wins), or
// YYYY-MM-DDThh:mm:ss / YYYY-MM-DD hh:mm:ss in loc.
func parseLocalTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want YYYY-MM-DDThh:mm:ss", s)
}

// mmolFactor converts mmol/L to mg/dL (the inverse of pydexcom's 0.0555).
const mmolFactor = 1 / 0.0555

// parseGlucose reads a value: a number (mg/dL, or mmol/L when mmol), or Low
// and High, Dexcom's words for values beyond the sensor's 40–400 range.
func parseGlucose(s string, mmol bool) (int, error) {
	switch strings.ToLower(s) {
	case "low":
		return 39, nil
	case "high":
		return 401, nil
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("glucose value %q is not a number", s)
	}
	if mmol {
		f *= mmolFactor
	}
	v := int(math.Round(f))
	if v < 13 || v > 1000 {
		return 0, fmt.Errorf("glucose value %q is out of range", s)
	}
	return min(max(v, 39), 401), nil
}

// trendFromRate maps Clarity's rate of change (mg/dL per minute) to the
// trend arrows Dexcom draws: flat within ±1, 45° to ±2, single to ±3,
// double beyond. An empty rate is no trend.
func trendFromRate(s string, mmol bool) share.Trend {
	r, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsNaN(r) {
		return share.TrendNone
	}
	if mmol {
		r *= mmolFactor
	}
	switch {
	case r >= 3:
		return share.TrendDoubleUp
	case r >= 2:
		return share.TrendSingleUp
	case r >= 1:
		return share.TrendFortyFiveUp
	case r > -1:
		return share.TrendFlat
	case r > -2:
		return share.TrendFortyFiveDown
	case r > -3:
		return share.TrendSingleDown
	}
	return share.TrendDoubleDown
}

// parseCSVReadings reads the csv of glucoshare readings: time, value and
// trend columns (any order; trend optional). A time is RFC 3339, a local
// time in loc, or Unix milliseconds.
func parseCSVReadings(data []byte, loc *time.Location) ([]share.Reading, error) {
	recs, err := csvRecords(data)
	if err != nil {
		return nil, err
	}
	cols := newColumns(recs[0])
	ti, vi, tr := cols["time"], cols["value"], -1
	if i, ok := cols["trend"]; ok {
		tr = i
	}
	if _, ok := cols["time"]; !ok {
		return nil, errors.New("the CSV header has no time column")
	}
	if _, ok := cols["value"]; !ok {
		return nil, errors.New("the CSV header has no value column")
	}
	out := make([]share.Reading, 0, len(recs)-1)
	for n, row := range recs[1:] {
		if len(row) == 1 && cell(row, 0) == "" {
			continue
		}
		r, err := simpleReading(cell(row, ti), cell(row, vi), cell(row, tr), loc)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+2, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// simpleReading builds a reading from the time, value and trend texts of
// our csv and json formats.
func simpleReading(ts, value, trend string, loc *time.Location) (share.Reading, error) {
	var r share.Reading
	if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
		r.ST = ms
	} else {
		t, err := parseLocalTime(ts, loc)
		if err != nil {
			return r, err
		}
		_, off := t.Zone()
		r.ST, r.Offset = t.UnixMilli(), off/60
	}
	v, err := parseGlucose(value, false)
	if err != nil {
		return r, err
	}
	r.Value, r.Trend = v, share.ParseTrendName(trend)
	return r, nil
}

// parseJSONReadings reads a JSON array of readings — glucoshare's json
// output ({"time","value","trend"}) or Share's wire form ({"ST","DT",…}) —
// or a PostReceiverEgvRecords body ({"Egvs":[…]}).
func parseJSONReadings(data []byte, loc *time.Location) ([]share.Reading, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var body struct{ Egvs []json.RawMessage }
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return jsonItems(body.Egvs, loc)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("not a JSON array of readings: %w", err)
	}
	return jsonItems(items, loc)
}

func jsonItems(items []json.RawMessage, loc *time.Location) ([]share.Reading, error) {
	out := make([]share.Reading, 0, len(items))
	for i, raw := range items {
		r, err := jsonReading(raw, loc)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// jsonReading reads one item in either JSON form.
func jsonReading(raw json.RawMessage, loc *time.Location) (share.Reading, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return share.Reading{}, errors.New("not a JSON object")
	}
	for k := range probe {
		if strings.EqualFold(k, "ST") || strings.EqualFold(k, "WT") {
			var r share.Reading
			err := json.Unmarshal(raw, &r)
			return r, err
		}
	}
	var item struct {
		Time  string          `json:"time"`
		Value json.Number     `json:"value"`
		Trend json.RawMessage `json:"trend"`
	}
	if err := json.Unmarshal(raw, &item); err != nil {
		return share.Reading{}, err
	}
	r, err := simpleReading(item.Time, item.Value.String(), "", loc)
	r.Trend = share.ParseTrend(item.Trend)
	return r, err
}
