package core

import (
	"testing"
	"time"
)

// TestLoginDelay: no delay below the free failures, then the first delay
// doubling up to the maximum, and the maximum for any later failure (a
// shift beyond 2^33 seconds once overflowed a Duration into a negative
// delay, which let a patient attacker start again from zero).
func TestLoginDelay(t *testing.T) {
	first, max := time.Second, 15*time.Minute
	for n, want := range map[int]time.Duration{1: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 14: 512 * time.Second,
		15: max, 39: max, 40: max, 100: max, 1 << 30: max} {
		if got := loginDelay(n, 5, first, max); got != want {
			t.Errorf("loginDelay(%d) = %v, want %v", n, got, want)
		}
	}
}
