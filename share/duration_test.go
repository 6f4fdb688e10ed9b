package share

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"PT30M", 30 * time.Minute},
		{"PT2H", 2 * time.Hour},
		{"PT2H0M", 2 * time.Hour},
		{"PT1H30M", 90 * time.Minute},
		{"PT0S", 0},
		{"PT0M", 0},
		{"P1D", 24 * time.Hour},
		{"P0D", 0},
		{"P0W", 0},
		{"P0W1D", 24 * time.Hour},
		{"P0DT1H", time.Hour},
		{"PT24H", 24 * time.Hour},
		{"PT1440M", 24 * time.Hour},
		{"PT86400S", 24 * time.Hour},
		{"PT86400.000S", 24 * time.Hour},
		{"PT86400.0000000000S", 24 * time.Hour},
		{"PT23H59M59.999999999S", 24*time.Hour - time.Nanosecond},
		{"PT1H1M1S", time.Hour + time.Minute + time.Second},
		{"PT1.5S", 1500 * time.Millisecond},
		{"PT0.0000000015S", time.Nanosecond},
		{"PT000030M", 30 * time.Minute},
		{"pt30m", 30 * time.Minute},
		{"Pt2h0M", 2 * time.Hour},
		{"p1d", 24 * time.Hour},
		// Without P or PT: read as if PT preceded.
		{"30M", 30 * time.Minute},
		{"1H30M", 90 * time.Minute},
		{"0S", 0},
		{"2h", 2 * time.Hour},
		{"10.5s", 10500 * time.Millisecond},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", errDurationEmpty},
		{"P", errDurationSyntax},
		{"PT", errDurationSyntax},
		{"P1DT", errDurationSyntax},
		{"T30M", errDurationSyntax},
		{"PTT30M", errDurationSyntax},
		{"P1Y", errDurationYM},
		{"P1M", errDurationYM},
		{"P0Y", errDurationYM},
		{"P1D1M", errDurationYM},
		{"p2m", errDurationYM},
		{"PT1Y", errDurationSyntax},
		{"1Y", errDurationSyntax},
		{"PT25H", errDurationRange},
		{"P2D", errDurationRange},
		{"P1W", errDurationRange},
		{"P1DT1S", errDurationRange},
		{"PT1441M", errDurationRange},
		{"PT86400.000000001S", errDurationRange},
		{"PT86400.0000000001S", errDurationRange},
		{"PT99999999999999999999999H", errDurationRange},
		{"PT9223372036854775807S", errDurationRange},
		{"PT-5M", errDurationSyntax},
		{"-PT5M", errDurationSyntax},
		{"PT+5M", errDurationSyntax},
		{"PT1.5H", errDurationSyntax},
		{"PT1.5M", errDurationSyntax},
		{"PT.5S", errDurationSyntax},
		{"PT1.S", errDurationSyntax},
		{"PT1,5S", errDurationSyntax},
		{"PT30", errDurationSyntax},
		{"PTM", errDurationSyntax},
		{"PT30M1H", errDurationSyntax},
		{"PT30M30M", errDurationSyntax},
		{"P1D1W", errDurationSyntax},
		{"PT1D", errDurationSyntax},
		{"1D", errDurationSyntax},
		{"P1H", errDurationSyntax},
		{" PT30M", errDurationSyntax},
		{"PT30M ", errDurationSyntax},
		{"PT30X", errDurationSyntax},
		{"30", errDurationSyntax},
		{"never", errDurationSyntax},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want error %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0M"},
		{30 * time.Minute, "PT30M"},
		{59 * time.Minute, "PT59M"},
		{time.Hour, "PT1H0M"},
		{2 * time.Hour, "PT2H0M"},
		{90 * time.Minute, "PT1H30M"},
		{24 * time.Hour, "PT24H0M"},
		{30*time.Minute + 59*time.Second, "PT30M"},
		{-time.Minute, "PT0M"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if got, err := ParseDuration(tt.want); err != nil || got != max(tt.in, 0).Truncate(time.Minute) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, got, err, tt.in.Truncate(time.Minute))
		}
	}
}
