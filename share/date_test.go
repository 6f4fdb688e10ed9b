package share

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
	}{
		{"/Date(1745081013817)/", Date{MS: 1745081013817}},
		{"Date(1745081013817)", Date{MS: 1745081013817}},
		{"Date(1745081013817-0400)", Date{MS: 1745081013817, Offset: -240, HasOffset: true}},
		{"/Date(1745081013817-0400)/", Date{MS: 1745081013817, Offset: -240, HasOffset: true}},
		{"Date(1745081013817+0000)", Date{MS: 1745081013817, HasOffset: true}},
		{"Date(1745081013817-0000)", Date{MS: 1745081013817, HasOffset: true}},
		{"Date(1745081013817+0530)", Date{MS: 1745081013817, Offset: 330, HasOffset: true}},
		{"Date(1745081013817+1400)", Date{MS: 1745081013817, Offset: 840, HasOffset: true}},
		{"Date(1745081013817-1459)", Date{MS: 1745081013817, Offset: -899, HasOffset: true}},
		// The pattern's two slashes are independent.
		{"/Date(1745081013817)", Date{MS: 1745081013817}},
		{"Date(1745081013817)/", Date{MS: 1745081013817}},
		{"Date(0)", Date{}},
		{"Date(-1)", Date{MS: -1}},
		{"Date(-0)", Date{}},
		{"Date(999999999999999)", Date{MS: 999999999999999}},
		{"Date(-999999999999999)", Date{MS: -999999999999999}},
		{"Date(000000000000001)", Date{MS: 1}},
		// 2015 capture (share2nightscout-bridge#15).
		{"/Date(1426783106000)/", Date{MS: 1426783106000}},
		{"/Date(1426754317000)/", Date{MS: 1426754317000}},
		// Digits.
		{"1745081013817", Date{MS: 1745081013817}},
		{"-1745081013817", Date{MS: -1745081013817}},
		{"0", Date{}},
		{"00001745081013817", Date{MS: 1745081013817}},
		// RFC 3339.
		{"2025-04-19T16:43:33.817Z", Date{MS: 1745081013817}},
		{"2025-04-19T16:43:33Z", Date{MS: 1745081013000}},
		{"2025-04-19t16:43:33.817z", Date{MS: 1745081013817}},
		{"2025-04-19T16:43:33.8Z", Date{MS: 1745081013800}},
		{"2025-04-19T16:43:33.8179999Z", Date{MS: 1745081013817}},
		{"2025-04-19T12:43:33.817-04:00", Date{MS: 1745081013817, Offset: -240, HasOffset: true}},
		{"2025-04-19T16:43:33.817+00:00", Date{MS: 1745081013817, HasOffset: true}},
		{"2025-04-19T16:43:33.817-00:00", Date{MS: 1745081013817}},
		{"2025-04-20T06:43:33.817+14:00", Date{MS: 1745081013817, Offset: 840, HasOffset: true}},
		{"2024-02-29T00:00:00Z", Date{MS: 1709164800000}},
		{"2000-02-29T00:00:00Z", Date{MS: 951782400000}},
		{"1970-01-01T00:00:00Z", Date{}},
		{"1969-12-31T23:59:59.999Z", Date{MS: -1}},
		{"0000-01-01T00:00:00Z", Date{MS: -62167219200000}},
		{"9999-12-31T23:59:59.999Z", Date{MS: 253402300799999}},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDate(%q) = %+v, %v; want %+v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDateRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", errDateEmpty},
		{"Date()", errDateSyntax},
		{"Date(-)", errDateSyntax},
		{"Date(1745081013817", errDateSyntax},
		{"Date 1745081013817)", errDateSyntax},
		{"date(1745081013817)", errDateSyntax},
		{"DATE(1745081013817)", errDateSyntax},
		{"//Date(1745081013817)/", errDateSyntax},
		{"/Date(1745081013817)//", errDateSyntax},
		{"/Date(1745081013817)/ ", errDateSyntax},
		{" /Date(1745081013817)/", errDateSyntax},
		{"\\/Date(1745081013817)\\/", errDateSyntax},
		{"Date(1745081013817.5)", errDateSyntax},
		{"Date(+1745081013817)", errDateSyntax},
		{"Date(1745081013817-04)", errDateSyntax},
		{"Date(1745081013817-04:00)", errDateSyntax},
		{"Date(1745081013817-04000)", errDateSyntax},
		{"Date(1745081013817-0400-0400)", errDateSyntax},
		{"Date(1745081013817)x", errDateSyntax},
		{"Date(1745081013817+1500)", errDateOffset},
		{"Date(1745081013817-1500)", errDateOffset},
		{"Date(1745081013817+9900)", errDateOffset},
		{"Date(1745081013817+0060)", errDateOffset},
		{"Date(1745081013817-0099)", errDateOffset},
		{"Date(1000000000000000)", errDateRange},
		{"Date(-1000000000000000)", errDateRange},
		{"Date(0000000000000000)", errDateRange},
		{"1000000000000000", errDateRange},
		{"-1000000000000000", errDateRange},
		{"99999999999999999999999999", errDateRange},
		{"-", errDateSyntax},
		{"1745081013817 ", errDateSyntax},
		{"+1745081013817", errDateSyntax},
		{"1.745081013817e12", errDateSyntax},
		{"2025-04-19 16:43:33Z", errDateSyntax},
		{"2025-04-19T16:43:33", errDateSyntax},
		{"2025-04-19T16:43:33+0400", errDateSyntax},
		{"2025-04-19T16:43:33,8Z", errDateSyntax},
		{"2025-04-19T16:43:33.Z", errDateSyntax},
		{"2025-04-19T24:00:00Z", errDateSyntax},
		{"2025-04-19T16:60:00Z", errDateSyntax},
		{"2025-04-19T16:43:60Z", errDateSyntax},
		{"2025-02-29T00:00:00Z", errDateSyntax},
		{"1900-02-29T00:00:00Z", errDateSyntax},
		{"2025-13-01T00:00:00Z", errDateSyntax},
		{"2025-00-01T00:00:00Z", errDateSyntax},
		{"2025-04-00T00:00:00Z", errDateSyntax},
		{"2025-04-31T00:00:00Z", errDateSyntax},
		{"2025-4-19T16:43:33Z", errDateSyntax},
		{"+2025-04-19T16:43:33Z", errDateSyntax},
		{"2025-04-19T16:43:33+15:00", errDateOffset},
		{"2025-04-19T16:43:33+14:60", errDateOffset},
		{"2025-04-19T16:43:33+1:00", errDateSyntax},
		{"2025-04-19T16:43:33ZZ", errDateSyntax},
		{"tomorrow", errDateSyntax},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if err != tt.want {
			t.Errorf("ParseDate(%q) = %+v, %v; want error %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDateJSON(t *testing.T) {
	tests := []struct {
		raw  string
		want Date
	}{
		{`"/Date(1745081013817)/"`, Date{MS: 1745081013817}},
		{`"\/Date(1745081013817)\/"`, Date{MS: 1745081013817}},
		{`"\/Date(1745081013817-0400)\/"`, Date{MS: 1745081013817, Offset: -240, HasOffset: true}},
		{`"Date(1745081013817-0400)"`, Date{MS: 1745081013817, Offset: -240, HasOffset: true}},
		{`"\u0044ate(1745081013817)"`, Date{MS: 1745081013817}},
		{`"\u002FDate(1745081013817)\u002f"`, Date{MS: 1745081013817}},
		{`"1745081013817"`, Date{MS: 1745081013817}},
		{`"2025-04-19T16:43:33.817Z"`, Date{MS: 1745081013817}},
		{` "Date(1)" `, Date{MS: 1}},
		{"\n\t1745081013817\r\n", Date{MS: 1745081013817}},
		{`1745081013817`, Date{MS: 1745081013817}},
		{`-1745081013817`, Date{MS: -1745081013817}},
		{`0`, Date{}},
		{`-0`, Date{}},
		{`1745081013817.0`, Date{MS: 1745081013817}},
		{`1745081013817.000`, Date{MS: 1745081013817}},
		{`1.745081013817e12`, Date{MS: 1745081013817}},
		{`1.745081013817E+12`, Date{MS: 1745081013817}},
		{`17450810138170e-1`, Date{MS: 1745081013817}},
		{`0e99999999999999999999`, Date{}},
		{`0.0e-5`, Date{}},
		{`999999999999999`, Date{MS: 999999999999999}},
		// 2015 capture, as a .NET client writes it.
		{`"\/Date(1426783106000)\/"`, Date{MS: 1426783106000}},
	}
	for _, tt := range tests {
		got, err := ParseDateJSON([]byte(tt.raw))
		if err != nil || got != tt.want {
			t.Errorf("ParseDateJSON(%s) = %+v, %v; want %+v, nil", tt.raw, got, err, tt.want)
		}
	}
}

func TestParseDateJSONRejects(t *testing.T) {
	tests := []struct {
		raw  string
		want error
	}{
		{``, errDateEmpty},
		{`   `, errDateEmpty},
		{`null`, errDateNull},
		{`true`, errDateType},
		{`{}`, errDateType},
		{`[1745081013817]`, errDateType},
		{`""`, errDateEmpty},
		{`"`, errDateSyntax},
		{`"Date(1)`, errDateSyntax},
		{`"Date(1)"x`, errDateSyntax},
		{`"Date(1)\"`, errDateSyntax},
		{`"\x"`, errDateSyntax},
		{`"\u00"`, errDateSyntax},
		{`"\u00zz"`, errDateSyntax},
		{`"Date(1)` + "\n" + `"`, errDateSyntax},
		{`"Dáte(1)"`, errDateSyntax},
		{`"\u00e9"`, errDateSyntax},
		{`"\ud83d\ude00"`, errDateSyntax},
		{`"tomorrow"`, errDateSyntax},
		{`1745081013817.5`, errDateFrac},
		{`1.5`, errDateFrac},
		{`1e-1`, errDateFrac},
		{`1000000000000000`, errDateRange},
		{`-1000000000000000`, errDateRange},
		{`9223372036854775807`, errDateRange},
		{`9223372036854775808`, errDateRange},
		{`1e19`, errDateRange},
		{`1e99999999999999999999`, errDateRange},
		{`01`, errDateType},
		{`1.`, errDateType},
		{`.5`, errDateType},
		{`1e`, errDateType},
		{`-`, errDateType},
		{`1_000`, errDateType},
		{`0x10`, errDateType},
		{`1 2`, errDateType},
	}
	for _, tt := range tests {
		got, err := ParseDateJSON([]byte(tt.raw))
		if err != tt.want {
			t.Errorf("ParseDateJSON(%s) = %+v, %v; want error %v", tt.raw, got, err, tt.want)
		}
	}
}

func TestParseDateJSONNoAlloc(t *testing.T) {
	for _, raw := range []string{`"\/Date(1745081013817-0400)\/"`, `"Date(1745081013817)"`, `1745081013817`, `"2025-04-19T16:43:33.817Z"`} {
		b := []byte(raw)
		got := testing.AllocsPerRun(100, func() { ParseDateJSON(b) })
		if got != 0 {
			t.Errorf("ParseDateJSON(%s) allocs = %v, want 0", raw, got)
		}
	}
}

func TestDateTime(t *testing.T) {
	d := Date{MS: 1745081013817}
	got, want := d.Time(), time.Date(2025, 4, 19, 16, 43, 33, 817e6, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Date.Time() = %v, want %v", got, want)
	}
	if got := (DateTime{MS: 1745081013817}).Time(); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("DateTime.Time() = %v, want %v", got, want)
	}
	local := time.Date(2025, 4, 19, 12, 43, 33, 817999999, time.FixedZone("EDT", -4*3600))
	if got, want := NewDateTime(local), (DateTime{MS: 1745081013817}); got != want {
		t.Errorf("NewDateTime(%v) = %+v, want %+v", local, got, want)
	}
}

func TestAppendDate(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(AppendDate(nil, 1745081013817)), "Date(1745081013817)"},
		{string(AppendDate([]byte("x"), 0)), "xDate(0)"},
		{string(AppendDate(nil, -5)), "Date(-5)"},
		{string(AppendDateOffset(nil, 1745081013817, -240)), "Date(1745081013817-0400)"},
		{string(AppendDateOffset(nil, 1745081013817, 0)), "Date(1745081013817+0000)"},
		{string(AppendDateOffset(nil, 1745081013817, 330)), "Date(1745081013817+0530)"},
		{string(AppendDateOffset(nil, 1745081013817, -570)), "Date(1745081013817-0930)"},
		{string(AppendDateOffset(nil, 1745081013817, 840)), "Date(1745081013817+1400)"},
		{string(AppendDateOffset(nil, 1745081013817, -899)), "Date(1745081013817-1459)"},
		{string(AppendDateOffset(nil, 1745081013817, 900)), "Date(1745081013817+0000)"},
		{string(AppendDateOffset(nil, 1745081013817, -100000)), "Date(1745081013817+0000)"},
		// 2015 capture: DT − ST = −479.8 min → −0800.
		{string(AppendDateOffset(nil, 1426783106000, -480)), "Date(1426783106000-0800)"},
		{string(AppendDateTime(nil, 1745081013817)), `{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestDateTimeJSON(t *testing.T) {
	type alarm struct {
		TriggeredAt    DateTime
		AcknowledgedAt *DateTime
		ClearedAt      *DateTime
	}
	in := alarm{TriggeredAt: DateTime{MS: 1745081013817}, ClearedAt: &DateTime{MS: 1745000000000}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"TriggeredAt":{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0},` +
		`"AcknowledgedAt":null,"ClearedAt":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0}}`
	if got := string(b); got != want {
		t.Errorf("json.Marshal = %s, want %s", got, want)
	}
	var out alarm
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.TriggeredAt != in.TriggeredAt || out.AcknowledgedAt != nil || *out.ClearedAt != *in.ClearedAt {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
}

func TestDateTimeUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want DateTime
	}{
		{`{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0}`, DateTime{MS: 1745081013817}},
		{`{"DateTime":"\/Date(1745081013817)\/","OffsetMinutes":0}`, DateTime{MS: 1745081013817}},
		{`{"DateTime":"Date(1745081013817-0400)","OffsetMinutes":-240}`, DateTime{MS: 1745081013817}},
		{`{"datetime":1745081013817}`, DateTime{MS: 1745081013817}},
		{`{"DateTime":"2025-04-19T16:43:33.817Z","Extra":[1]}`, DateTime{MS: 1745081013817}},
		// 2015 capture of SystemUtcTime.
		{`{"DateTime":"\/Date(1426783106000)\/","OffsetMinutes":0}`, DateTime{MS: 1426783106000}},
	}
	for _, tt := range tests {
		var got DateTime
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || got != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`{}`, `{"DateTime":null}`, `{"DateTime":"soon"}`, `"/Date(1)/"`, `[]`, `5`} {
		var got DateTime
		err := json.Unmarshal([]byte(in), &got)
		if err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "DateTime") {
			t.Errorf("Unmarshal(%s) error %q, want it to name DateTime", in, err)
		}
	}
	keep := DateTime{MS: 7}
	if err := keep.UnmarshalJSON([]byte("null")); err != nil || keep.MS != 7 {
		t.Errorf("UnmarshalJSON(null) = %+v, %v; want unchanged", keep, err)
	}
}
