package mirror_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/share"
)

// sensor is a fake upstream account with a reading every 5 minutes from
// first on; each appears upstream lag after its time, as the hosted
// service shows readings after the phone uploads them. While down, the
// upstream answers 500 with an HTML page, as its proxy does in an outage.
type sensor struct {
	clock     *clocktest.Clock
	first     time.Time
	lag       time.Duration
	downFrom  time.Time
	downUntil time.Time
}

func (s *sensor) visible(now time.Time) []share.Reading {
	var rs []share.Reading
	for st := s.first; !st.Add(s.lag).After(now); st = st.Add(5 * time.Minute) {
		rs = append(rs, share.Reading{ST: st.UnixMilli(), Value: 100 + int(st.Unix()/300%50), Trend: share.TrendFlat})
	}
	return rs
}

func (s *sensor) serve(w http.ResponseWriter, r *http.Request, c call) {
	now := s.clock.Now()
	if !now.Before(s.downFrom) && now.Before(s.downUntil) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html><body>500 Internal Server Error</body></html>"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch c.Endpoint {
	case "General/AuthenticatePublisherAccount":
		w.Write([]byte(`"11111111-1111-1111-1111-111111111111"`))
	case "General/LoginPublisherAccountById":
		w.Write([]byte(`"22222222-2222-2222-2222-222222222222"`))
	case readEndpoint:
		minutes, _ := strconv.Atoi(c.Minutes)
		count, _ := strconv.Atoi(c.MaxCount)
		all := s.visible(now)
		var out []share.Reading // newest first
		for i := len(all) - 1; i >= 0 && len(out) < count; i-- {
			if all[i].ST >= now.Add(-time.Duration(minutes)*time.Minute).UnixMilli() {
				out = append(out, all[i])
			}
		}
		w.Write(share.AppendReadings(nil, out, false))
	default:
		http.Error(w, "unexpected", http.StatusNotFound)
	}
}

// Three hours of a sensor whose readings appear 40 s after their time,
// with the upstream down during the second hour: the first poll reads the
// last 24 hours; then about one read per reading, each reading stored
// within 30 s of its appearance upstream; during the outage the polls back
// off; on recovery the hour missed is read back, with no gap and no
// reading twice.
func TestScheduleFollowsReadingsAndBackfillsAfterAnOutage(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 20, 0, time.UTC)
	w := newWorld(t, start)
	s := &sensor{clock: w.clock, first: start.Add(-30 * time.Hour).Truncate(5 * time.Minute).Add(2 * time.Minute),
		lag: 40 * time.Second, downFrom: start.Add(time.Hour), downUntil: start.Add(2 * time.Hour)}
	u := newUpstream(t)
	u.serve = s.serve
	w.link(u, "the password")

	readsAt := map[string]int{}
	var last time.Time // the last poll
	for w.clock.Now().Before(start.Add(3 * time.Hour)) {
		w.step()
		last = w.clock.Now()
		phase := "healthy"
		switch now := w.clock.Now(); {
		case !now.Before(s.downFrom) && now.Before(s.downUntil):
			phase = "down"
		case !now.Before(s.downUntil):
			phase = "after"
		}
		readsAt[phase]++
		w.untilNextPoll()
	}
	if c := u.Calls()[2]; c.Minutes != "1440" || c.MaxCount != "288" {
		t.Errorf("first read %s/%s, want 1440/288", c.Minutes, c.MaxCount)
	}
	stored := w.readings()
	want := s.visible(last)
	// The stored readings are exactly the upstream's of the last 24 hours
	// before the link and everything since: no gap, no duplicate.
	firstWanted := start.Add(-24 * time.Hour)
	var wantSTs []int64
	for _, r := range want {
		if r.ST >= firstWanted.UnixMilli() {
			wantSTs = append(wantSTs, r.ST)
		}
	}
	if len(stored) != len(wantSTs) {
		t.Fatalf("%d readings stored, want %d", len(stored), len(wantSTs))
	}
	for i, r := range stored { // newest first
		if want := wantSTs[len(wantSTs)-1-i]; r.ST != want {
			t.Fatalf("stored reading %d at %s, want %s", i, time.UnixMilli(r.ST).UTC(), time.UnixMilli(want).UTC())
		}
		// Outside the backfills, each reading is stored within 30 s of
		// its appearance upstream.
		appeared := time.UnixMilli(r.ST).Add(s.lag)
		backfilled := appeared.Before(start) || (!appeared.Before(s.downFrom) && appeared.Before(s.downUntil.Add(20*time.Minute)))
		if late := time.UnixMilli(r.ReceivedAt).Sub(appeared); !backfilled && late > 30*time.Second {
			t.Errorf("reading at %s stored %s after it appeared upstream", appeared.Add(-s.lag), late)
		}
	}
	// About one read per expected reading while healthy (12 an hour, plus
	// the retries that learn the upstream's delay); a few during the
	// outage.
	if readsAt["healthy"] > 18 {
		t.Errorf("%d polls in the healthy hour, want about 12", readsAt["healthy"])
	}
	if readsAt["down"] > 12 {
		t.Errorf("%d polls during the hour down, want a backoff", readsAt["down"])
	}
	t.Logf("polls by phase %v, %d readings stored", readsAt, len(stored))
	if l := w.status(); l.LastError != "" || l.Broken || l.Failures != 0 {
		t.Errorf("status after recovery: %+v", l)
	}
}
