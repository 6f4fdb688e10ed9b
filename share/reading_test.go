package share

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendReading(t *testing.T) {
	r := Reading{ST: 1745081013817, Offset: -240, Value: 224, Trend: TrendFlat}
	tests := []struct {
		r      Reading
		legacy bool
		want   string
	}{
		{r, false, `{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"}`},
		{r, true, `{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817-0400)\/","Value":224,"Trend":4}`},
		{Reading{ST: 1426783106000, Offset: -480, Value: 39, Trend: TrendNotComputable}, false,
			`{"WT":"Date(1426783106000)","ST":"Date(1426783106000)","DT":"Date(1426783106000-0800)","Value":39,"Trend":"NotComputable"}`},
		{Reading{ST: 1745081013817, Value: 401, Trend: TrendRateOutOfRange}, true,
			`{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817+0000)\/","Value":401,"Trend":9}`},
		{Reading{ST: 1745081013817, Offset: 330, Value: 100, Trend: Trend(42)}, true,
			`{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817+0530)\/","Value":100,"Trend":0}`},
	}
	for _, tt := range tests {
		if got := string(AppendReading(nil, tt.r, tt.legacy)); got != tt.want {
			t.Errorf("AppendReading(%+v, %v) =\n%s\nwant\n%s", tt.r, tt.legacy, got, tt.want)
		}
	}
}

func TestAppendReadingLegacyDecodesToSlashed(t *testing.T) {
	b := AppendReading(nil, Reading{ST: 1745081013817, Offset: -240, Value: 224, Trend: TrendFlat}, true)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got, want := m["DT"], "/Date(1745081013817-0400)/"; got != want {
		t.Errorf("decoded DT = %v, want %v", got, want)
	}
	if got, want := m["Trend"], float64(4); got != want {
		t.Errorf("decoded Trend = %v, want %v", got, want)
	}
}

func TestAppendReadings(t *testing.T) {
	rs := []Reading{
		{ST: 1745081013817, Offset: -240, Value: 224, Trend: TrendFlat},
		{ST: 1745080713817, Offset: -240, Value: 219, Trend: TrendFortyFiveUp},
	}
	tests := []struct {
		rs     []Reading
		legacy bool
		want   string
	}{
		{nil, false, `[]`},
		{[]Reading{}, true, `[]`},
		{rs, false, `[{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"},` +
			`{"WT":"Date(1745080713817)","ST":"Date(1745080713817)","DT":"Date(1745080713817-0400)","Value":219,"Trend":"FortyFiveUp"}]`},
		{rs[1:], true, `[{"WT":"\/Date(1745080713817)\/","ST":"\/Date(1745080713817)\/","DT":"\/Date(1745080713817-0400)\/","Value":219,"Trend":3}]`},
	}
	for _, tt := range tests {
		if got := string(AppendReadings(nil, tt.rs, tt.legacy)); got != tt.want {
			t.Errorf("AppendReadings(%d readings, %v) =\n%s\nwant\n%s", len(tt.rs), tt.legacy, got, tt.want)
		}
	}
}

// dayOfReadings returns 288 readings five minutes apart, a day's worth.
func dayOfReadings() []Reading {
	rs := make([]Reading, 288)
	for i := range rs {
		rs[i] = Reading{ST: 1745081013817 - int64(i)*300_000, Offset: -240, Value: 40 + i, Trend: Trend(i % 10)}
	}
	return rs
}

func TestAppendReadingsNoAlloc(t *testing.T) {
	rs := dayOfReadings()
	for _, legacy := range []bool{false, true} {
		buf := make([]byte, 0, 64<<10)
		got := testing.AllocsPerRun(10, func() { AppendReadings(buf[:0], rs, legacy) })
		if got != 0 {
			t.Errorf("AppendReadings(legacy=%v) allocs = %v, want 0", legacy, got)
		}
	}
}

func BenchmarkAppendReadings(b *testing.B) {
	rs := dayOfReadings()
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReadings(buf[:0], rs, false)
	}
	b.SetBytes(int64(len(buf)))
}

func TestReadingUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want Reading
	}{
		{`{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817-0400)","Value":224,"Trend":"Flat"}`,
			Reading{ST: 1745081013817, Offset: -240, Value: 224, Trend: TrendFlat}},
		{`{"WT":"\/Date(1745081013817)\/","ST":"\/Date(1745081013817)\/","DT":"\/Date(1745081013817-0400)\/","Value":224,"Trend":4}`,
			Reading{ST: 1745081013817, Offset: -240, Value: 224, Trend: TrendFlat}},
		// ST missing: from WT. Member names are case-insensitive.
		{`{"WT":"/Date(1745081013817)/","DT":"/Date(1745081013817+0530)/","Value":100,"Trend":"NOT COMPUTABLE"}`,
			Reading{ST: 1745081013817, Offset: 330, Value: 100, Trend: TrendNotComputable}},
		{`{"wt":"Date(1)","st":null,"dt":null,"value":5,"trend":null}`, Reading{ST: 1, Value: 5}},
		// The upload form (docs/protocol.md, "Publisher: glucose"): DT without offset, DT − ST gives it.
		{`{"Trend":4,"ST":"/Date(1745081013000)/","DT":"/Date(1745066613000)/","Value":97}`,
			Reading{ST: 1745081013000, Offset: -240, Value: 97, Trend: TrendFlat}},
		// 2015 capture: Δ = −479.8 min → −480.
		{`{"ST":"\/Date(1426783106000)\/","DT":"\/Date(1426754317000)\/","Value":120,"Trend":4,"WT":"\/Date(1426783108000)\/"}`,
			Reading{ST: 1426783106000, Offset: -480, Value: 120, Trend: TrendFlat}},
		// Δ of +7.5 min rounds half away from zero to 15; beyond ±14 h → 0.
		{`{"ST":0,"DT":450000,"Value":1}`, Reading{Offset: 15, Value: 1}},
		{`{"ST":0,"DT":-450000,"Value":1}`, Reading{Offset: -15, Value: 1}},
		{`{"ST":0,"DT":449999,"Value":1}`, Reading{Value: 1}},
		{`{"ST":0,"DT":50400000,"Value":1}`, Reading{Offset: 840, Value: 1}},
		{`{"ST":0,"DT":51300000,"Value":1}`, Reading{Value: 1}},
		{`{"ST":0,"DT":"1970-01-01T05:30:00+05:30","Value":1}`, Reading{Offset: 330, Value: 1}},
		{`{"ST":"2025-04-19T16:43:33.817Z","Value":97.5,"direction":"Flat","Trend":"bogus"}`,
			Reading{ST: 1745081013817, Value: 98}},
		{`{"ST":1745081013817,"Value":-2.5}`, Reading{ST: 1745081013817, Value: -3}},
		{`{"ST":1745081013817,"Value":1.97e2}`, Reading{ST: 1745081013817, Value: 197}},
		{`{"ST":1745081013817,"Value":96.4}`, Reading{ST: 1745081013817, Value: 96}},
	}
	for _, tt := range tests {
		var got Reading
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || got != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestReadingUnmarshalRejects(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"Value":5}`, "ST: missing"},
		{`{"ST":null,"WT":null,"Value":5}`, "ST: missing"},
		{`{"ST":"soon","Value":5}`, "ST: not a date"},
		{`{"WT":"soon","Value":5}`, "WT: not a date"},
		{`{"ST":1,"DT":"soon","Value":5}`, "DT: not a date"},
		{`{"ST":1,"DT":1.5,"Value":5}`, "DT: date milliseconds"},
		{`{"ST":1}`, "Value: missing"},
		{`{"ST":1,"Value":"97"}`, "Value: must be a number"},
		{`{"ST":1,"Value":1e300}`, "Value: out of range"},
		{`{"ST":1,"Value":1.5e300}`, "Value: out of range"},
		{`[1]`, "reading must be a JSON object"},
		{`"x"`, "reading must be a JSON object"},
	}
	for _, tt := range tests {
		var got Reading
		err := json.Unmarshal([]byte(tt.in), &got)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want error containing %q", tt.in, got, err, tt.want)
		}
	}
	keep := Reading{Value: 7}
	if err := keep.UnmarshalJSON([]byte(`{"ST":1,"Value":"x"}`)); err == nil || keep.Value != 7 {
		t.Errorf("failed UnmarshalJSON changed the reading to %+v", keep)
	}
	if err := keep.UnmarshalJSON([]byte(` null `)); err != nil || keep.Value != 7 {
		t.Errorf("UnmarshalJSON(null) = %+v, %v; want unchanged", keep, err)
	}
}

func TestReadingRoundTrip(t *testing.T) {
	for _, r := range dayOfReadings() {
		for _, legacy := range []bool{false, true} {
			var got Reading
			b := AppendReading(nil, r, legacy)
			if err := json.Unmarshal(b, &got); err != nil || got != r {
				t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, got, err, r)
			}
		}
	}
}
