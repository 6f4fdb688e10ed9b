package nightscout

import (
	"encoding/json"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// appendJSON must write exactly what json.Marshal writes, escapes and all.
func TestEntryAppendJSON(t *testing.T) {
	r := glucose.Reading{ST: 1745081013817, Value: 120, Trend: share.Trend(4), Offset: -240}
	entries := []entry{
		entryOf("2f0c62a8-3c51-4b8e-9a55-5d7f3f4f2f10", r, device),
		entryOf("x", glucose.Reading{ST: -1, Value: 0, Trend: share.Trend(9), Offset: 840}, mirrorDevice),
		{ID: `"<&>\`, Type: "\u2028\x00\x1f", Device: "é\xff", Direction: "NOT COMPUTABLE", SGV: -5, Date: -9e15},
		{},
	}
	for _, e := range entries {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("appendJSON:\n got %s\nwant prefix%s", got, want)
		}
	}
	for trend := range 16 {
		e := entryOf("a", glucose.Reading{ST: 1, Trend: share.Trend(trend)}, device)
		want, _ := json.Marshal(e)
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("trend %d: got %s, want %s", trend, got, want)
		}
	}
}
