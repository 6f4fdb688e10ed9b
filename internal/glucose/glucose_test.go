package glucose

import "testing"

// Entry ids are what Nightscout clients keep to refer to readings: they
// must not change from one version to the next.
func TestEntryIDStable(t *testing.T) {
	for _, c := range []struct {
		account string
		st      int64
		want    string
	}{
		{"2f0c62a8-3c51-4b8e-9a55-5d7f3f4f2f10", 1745081013817, "6803d2b53195d66e78602562"},
		{"an account id longer than the sixty-four byte stack buffer of EntryID, to take the heap path", -5, "00000000e0c52c3e610e2bf4"},
	} {
		if got := (Reading{ST: c.st}).EntryID(c.account); got != c.want {
			t.Errorf("EntryID(%q, %d) = %s, want %s", c.account, c.st, got, c.want)
		}
	}
}
