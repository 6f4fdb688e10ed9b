package web

import (
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestDelta follows Nightscout's bgnow: the last change, scaled to five
// minutes across a gap of more than 9, none across more than 15 or from a
// LOW or HIGH marker.
func TestDelta(t *testing.T) {
	at := func(min, v int) glucose.Reading {
		return glucose.Reading{ST: time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute).UnixMilli(), Value: v}
	}
	for _, c := range []struct {
		name string
		rs   []glucose.Reading
		want float64
		ok   bool
	}{
		{"5 min", []glucose.Reading{at(10, 104), at(5, 100)}, 4, true},
		{"10 min gap, per 5 min", []glucose.Reading{at(10, 110), at(0, 100)}, 5, true},
		{"9 min gap, as is", []glucose.Reading{at(9, 106), at(0, 100)}, 6, true},
		{"16 min gap", []glucose.Reading{at(16, 120), at(0, 100)}, 0, false},
		{"LOW before", []glucose.Reading{at(5, 45), at(0, 39)}, 0, false},
		{"HIGH now", []glucose.Reading{at(5, 401), at(0, 390)}, 0, false},
		{"one reading", []glucose.Reading{at(5, 100)}, 0, false},
	} {
		got, ok := delta(c.rs)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: %v, %t; want %v, %t", c.name, got, ok, c.want, c.ok)
		}
	}
}
