package share

import (
	"encoding/json"
	"testing"
)

func TestTrendNames(t *testing.T) {
	tests := []struct {
		trend              Trend
		name, arrow, nsDir string
	}{
		{TrendNone, "None", "", "NONE"},
		{TrendDoubleUp, "DoubleUp", "↑↑", "DoubleUp"},
		{TrendSingleUp, "SingleUp", "↑", "SingleUp"},
		{TrendFortyFiveUp, "FortyFiveUp", "↗", "FortyFiveUp"},
		{TrendFlat, "Flat", "→", "Flat"},
		{TrendFortyFiveDown, "FortyFiveDown", "↘", "FortyFiveDown"},
		{TrendSingleDown, "SingleDown", "↓", "SingleDown"},
		{TrendDoubleDown, "DoubleDown", "↓↓", "DoubleDown"},
		{TrendNotComputable, "NotComputable", "?", "NOT COMPUTABLE"},
		{TrendRateOutOfRange, "RateOutOfRange", "-", "RATE OUT OF RANGE"},
		{Trend(10), "None", "", "NONE"},
		{Trend(-1), "None", "", "NONE"},
	}
	for i, tt := range tests {
		if i < 10 && int(tt.trend) != i {
			t.Errorf("%s = %d, want %d", tt.name, tt.trend, i)
		}
		if got := tt.trend.String(); got != tt.name {
			t.Errorf("Trend(%d).String() = %q, want %q", int(tt.trend), got, tt.name)
		}
		if got := tt.trend.Arrow(); got != tt.arrow {
			t.Errorf("Trend(%d).Arrow() = %q, want %q", int(tt.trend), got, tt.arrow)
		}
		if got := NightscoutDirection(tt.trend); got != tt.nsDir {
			t.Errorf("NightscoutDirection(%d) = %q, want %q", int(tt.trend), got, tt.nsDir)
		}
		b, err := json.Marshal(tt.trend)
		if got, want := string(b), `"`+tt.name+`"`; err != nil || got != want {
			t.Errorf("json.Marshal(Trend(%d)) = %s, %v; want %s", int(tt.trend), got, err, want)
		}
		if i < 10 {
			if got := TrendFromDirection(tt.nsDir); got != tt.trend {
				t.Errorf("TrendFromDirection(%q) = %v, want %v", tt.nsDir, got, tt.trend)
			}
			if got := ParseTrendName(tt.name); got != tt.trend {
				t.Errorf("ParseTrendName(%q) = %v, want %v", tt.name, got, tt.trend)
			}
		}
	}
}

func TestParseTrend(t *testing.T) {
	tests := []struct {
		raw  string
		want Trend
	}{
		{`4`, TrendFlat},
		{`0`, TrendNone},
		{`9`, TrendRateOutOfRange},
		{`4.0`, TrendFlat},
		{`4e0`, TrendFlat},
		{` 8 `, TrendNotComputable},
		{`"4"`, TrendFlat},
		{`"04"`, TrendFlat},
		{`"9"`, TrendRateOutOfRange},
		{`"Flat"`, TrendFlat},
		{`"flat"`, TrendFlat},
		{`"FLAT"`, TrendFlat},
		{`"DoubleUp"`, TrendDoubleUp},
		{`"double_up"`, TrendDoubleUp},
		{`"Double-Up"`, TrendDoubleUp},
		{`"Forty Five Down"`, TrendFortyFiveDown},
		{`"fortyfiveup"`, TrendFortyFiveUp},
		{`"SingleDown"`, TrendSingleDown},
		{`"NotComputable"`, TrendNotComputable},
		{`"NOT COMPUTABLE"`, TrendNotComputable},
		{`"not_computable"`, TrendNotComputable},
		{`"RateOutOfRange"`, TrendRateOutOfRange},
		{`"RATE OUT OF RANGE"`, TrendRateOutOfRange},
		{`"OutOfRange"`, TrendRateOutOfRange},
		{`"out-of-range"`, TrendRateOutOfRange},
		{`"\u0046lat"`, TrendFlat},
		{`"NONE"`, TrendNone},
		{`"None"`, TrendNone},
		{`""`, TrendNone},
		{``, TrendNone},
		{`null`, TrendNone},
		{`10`, TrendNone},
		{`-1`, TrendNone},
		{`4.5`, TrendNone},
		{`"10"`, TrendNone},
		{`"-4"`, TrendNone},
		{`"4 "`, TrendNone},
		{`"4.0"`, TrendNone},
		{`99999999999999999999999`, TrendNone},
		{`"99999999999999999999994"`, TrendNone},
		{`"Sideways"`, TrendNone},
		{`"TripleUp"`, TrendNone},
		{`"Flat`, TrendNone},
		{`"Flät"`, TrendNone},
		{`"FlatFlatFlatFlatFlat"`, TrendNone},
		{`true`, TrendNone},
		{`{"Trend":4}`, TrendNone},
		{`[4]`, TrendNone},
	}
	for _, tt := range tests {
		if got := ParseTrend([]byte(tt.raw)); got != tt.want {
			t.Errorf("ParseTrend(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestParseTrendName(t *testing.T) {
	tests := []struct {
		in   string
		want Trend
	}{
		{"Flat", TrendFlat},
		{"4", TrendFlat},
		{"-0", TrendNone},
		{"NOT COMPUTABLE", TrendNotComputable},
		{"not_computable", TrendNotComputable},
		{"OutOfRange", TrendRateOutOfRange},
		{"RATE OUT OF RANGE", TrendRateOutOfRange},
		{"", TrendNone},
		{"-", TrendNone},
		{"- 4", TrendNone},
		{"\tFlat", TrendNone},
		{"sideways", TrendNone},
	}
	for _, tt := range tests {
		if got := ParseTrendName(tt.in); got != tt.want {
			t.Errorf("ParseTrendName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTrendFromDirection(t *testing.T) {
	tests := []struct {
		in   string
		want Trend
	}{
		{"TripleUp", TrendDoubleUp},
		{"TripleDown", TrendDoubleDown},
		{"NOT COMPUTABLE", TrendNotComputable},
		{"RATE OUT OF RANGE", TrendRateOutOfRange},
		{"NONE", TrendNone},
		{"", TrendNone},
		{"Unknown", TrendNone},
	}
	for _, tt := range tests {
		if got := TrendFromDirection(tt.in); got != tt.want {
			t.Errorf("TrendFromDirection(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTrendUnmarshalJSON(t *testing.T) {
	var v struct{ A, B, C, D Trend }
	err := json.Unmarshal([]byte(`{"A":"NOT COMPUTABLE","B":7,"C":null,"D":"bogus"}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	if v.A != TrendNotComputable || v.B != TrendDoubleDown || v.C != TrendNone || v.D != TrendNone {
		t.Errorf("Unmarshal = %+v, want {8 7 0 0}", v)
	}
}

func TestParseTrendNoAlloc(t *testing.T) {
	for _, raw := range []string{`"RATE OUT OF RANGE"`, `4`, `"Flat"`, `"\u0046lat"`} {
		b := []byte(raw)
		if got := testing.AllocsPerRun(100, func() { ParseTrend(b) }); got != 0 {
			t.Errorf("ParseTrend(%s) allocs = %v, want 0", raw, got)
		}
	}
}
