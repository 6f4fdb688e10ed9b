package alerts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

var epoch = time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return epoch.Add(time.Duration(min) * time.Minute) }

// step is one thing that happens in a scenario, at minute t.
type step struct {
	t      int
	action string // "reading", "tick", "ack", "settings", "monitoring-off"
	value  int
	set    func(*share.AlertSettings)
}

func reading(t, v int) step { return step{t: t, action: "reading", value: v} }
func tick(t int) step       { return step{t: t, action: "tick"} }
func ack(t int) step        { return step{t: t, action: "ack"} }

// sim plays a scenario against Evaluate the way the server does: every
// reading is evaluated on arrival, ticks evaluate with no new reading,
// acknowledgements move Active → Acknowledged. It records "T kind event
// count" lines.
type sim struct {
	settings share.AlertSettings
	readings []Reading // newest first
	open     map[int]*Alarm
	events   []string
	monitor  bool
}

func (s *sim) evaluate(t time.Time) {
	for _, c := range Evaluate(Input{T: t, Settings: s.settings, Readings: s.readings,
		ActiveSince: epoch, Monitoring: s.monitor, Open: s.open}) {
		a := c.Alarm
		s.events = append(s.events, fmt.Sprintf("%d %s %s %d", int(t.Sub(epoch)/time.Minute), KindName(a.Kind), c.Event, a.NotifyCount))
		if a.Open() {
			s.open[a.Kind] = &a
		} else {
			delete(s.open, a.Kind)
		}
	}
}

func (s *sim) run(steps []step) []string {
	for _, st := range steps {
		t := at(st.t)
		switch st.action {
		case "reading":
			s.readings = slices.Insert(s.readings, 0, Reading{ST: t, Value: st.value})
			s.evaluate(t)
		case "tick":
			s.evaluate(t)
		case "ack":
			for _, a := range s.open {
				if a.State == StateActive {
					a.State, a.AcknowledgedAt = StateAcknowledged, t
				}
			}
		case "settings":
			st.set(&s.settings)
			s.evaluate(t)
		case "monitoring-off":
			s.monitor = false
			s.evaluate(t)
		}
	}
	return s.events
}

// only enables exactly the kinds given (urgent low is always evaluated, so
// tests that are not about it keep values above 55).
func settings(mod func(*share.AlertSettings)) share.AlertSettings {
	s := share.DefaultAlertSettings()
	s.HighAlert.IsEnabled, s.LowAlert.IsEnabled, s.NoDataAlert.IsEnabled = false, false, false
	if mod != nil {
		mod(&s)
	}
	return s
}

func ticks(from, to int) []step {
	var out []step
	for t := from; t <= to; t++ {
		out = append(out, tick(t))
	}
	return out
}

func TestScenarios(t *testing.T) {
	lowExample := func(s *share.AlertSettings) {
		s.LowAlert = share.AlertSetting{AlertType: Low, IsEnabled: true, MinValue: 39, MaxValue: 70, AlarmDelay: "PT15M", RealarmDelay: "PT30M"}
	}
	cases := []struct {
		name     string
		settings func(*share.AlertSettings)
		steps    []step
		want     []string
	}{
		{
			// docs/protocol.md, "Worked examples", the Low example, step for step.
			name:     "worked example: low",
			settings: lowExample,
			steps: []step{reading(0, 72), reading(5, 68), reading(10, 66), reading(15, 65), reading(20, 64),
				reading(25, 62), reading(30, 61), reading(35, 60), reading(40, 60), reading(45, 60), tick(50),
				ack(52), reading(55, 61), reading(60, 61), tick(80), tick(81), tick(82), reading(85, 75)},
			want: []string{"20 Low fired 1", "50 Low refired 2", "82 Low refired 3", "85 Low cleared 3"},
		},
		{
			name:     "below threshold briefly: no alarm",
			settings: lowExample,
			steps:    []step{reading(0, 68), reading(5, 66), reading(10, 72), reading(15, 60), reading(20, 75)},
			want:     nil,
		},
		{
			name:     "gaps do not break a run",
			settings: lowExample,
			steps:    []step{reading(0, 65), reading(16, 64)},
			want:     []string{"16 Low fired 1"},
		},
		{
			name:     "stale data raises nothing",
			settings: lowExample,
			steps:    []step{reading(0, 65), tick(16), tick(30)},
			want:     nil,
		},
		{
			// docs/protocol.md, "Worked examples": urgent low at 54 fires at once and repeats every 30 min.
			name:     "worked example: urgent low with zero delay",
			settings: nil,
			steps:    append([]step{reading(100, 54)}, append(ticks(101, 161), reading(165, 56))...),
			want:     []string{"100 UrgentLow fired 1", "130 UrgentLow refired 2", "160 UrgentLow refired 3", "165 UrgentLow cleared 3"},
		},
		{
			name: "each kind is independent: 50 is Low and urgent low",
			settings: func(s *share.AlertSettings) {
				lowExample(s)
				s.LowAlert.AlarmDelay = "PT0M"
			},
			steps: []step{reading(0, 50)},
			want:  []string{"0 Low fired 1", "0 UrgentLow fired 1"},
		},
		{
			// docs/protocol.md, "Worked examples" NoData example.
			name: "worked example: no data",
			settings: func(s *share.AlertSettings) {
				s.NoDataAlert.IsEnabled, s.NoDataAlert.AlarmDelay = true, "PT20M"
			},
			steps: append(append([]step{reading(200, 120)}, ticks(201, 225)...), reading(230, 121), tick(231)),
			want:  []string{"220 NoData fired 1", "230 NoData cleared 1"},
		},
		{
			name: "no data delay below 10 minutes counts as 10",
			settings: func(s *share.AlertSettings) {
				s.NoDataAlert.IsEnabled, s.NoDataAlert.AlarmDelay = true, "PT1M"
			},
			steps: append([]step{reading(0, 120)}, ticks(1, 10)...),
			want:  []string{"10 NoData fired 1"},
		},
		{
			name: "no data needs the publisher's monitoring flag",
			settings: func(s *share.AlertSettings) {
				s.NoDataAlert.IsEnabled, s.NoDataAlert.AlarmDelay = true, "PT20M"
			},
			steps: append(append([]step{reading(0, 120)}, ticks(1, 21)...), step{t: 22, action: "monitoring-off"}, tick(60)),
			want:  []string{"20 NoData fired 1", "22 NoData cleared 1"},
		},
		{
			name: "high with the official convention (threshold in MinValue, MaxValue 401)",
			settings: func(s *share.AlertSettings) {
				s.HighAlert = share.AlertSetting{AlertType: High, IsEnabled: true, MinValue: 200, MaxValue: 401, AlarmDelay: "PT10M", RealarmDelay: "PT0M"}
			},
			steps: []step{reading(0, 200), reading(5, 201), reading(10, 250), reading(15, 401), tick(100), reading(105, 199)},
			want:  []string{"15 High fired 1", "105 High cleared 1"},
		},
		{
			name: "high with Spike's convention (threshold in MaxValue)",
			settings: func(s *share.AlertSettings) {
				s.HighAlert = share.AlertSetting{AlertType: High, IsEnabled: true, MinValue: 200, MaxValue: 250, AlarmDelay: "PT0M", RealarmDelay: "PT0S"}
			},
			steps: []step{reading(0, 240), reading(5, 251)},
			want:  []string{"5 High fired 1"},
		},
		{
			name: "comparisons are strict",
			settings: func(s *share.AlertSettings) {
				lowExample(s)
				s.LowAlert.AlarmDelay = "PT0M"
			},
			steps: []step{reading(0, 70), reading(5, 69)},
			want:  []string{"5 Low fired 1"},
		},
		{
			name:     "disabled alert never fires",
			settings: func(s *share.AlertSettings) { lowExample(s); s.LowAlert.IsEnabled = false },
			steps:    []step{reading(0, 60), reading(5, 60), reading(10, 60), reading(15, 60), reading(20, 60)},
			want:     nil,
		},
		{
			name:     "disabling a kind mid-episode clears its alarm",
			settings: lowExample,
			steps: []step{reading(0, 60), reading(5, 60), reading(10, 60), reading(15, 60),
				{t: 17, action: "settings", set: func(s *share.AlertSettings) { s.LowAlert.IsEnabled = false }}, reading(20, 60)},
			want: []string{"15 Low fired 1", "17 Low cleared 1"},
		},
		{
			name:     "a lower threshold mid-episode clears; the delay applies again",
			settings: lowExample,
			steps: []step{reading(0, 60), reading(5, 60), reading(10, 60), reading(15, 60),
				{t: 16, action: "settings", set: func(s *share.AlertSettings) { s.LowAlert.MaxValue = 58 }},
				reading(20, 57), reading(25, 57), reading(30, 57), reading(35, 57)},
			want: []string{"15 Low fired 1", "16 Low cleared 1", "35 Low fired 1"},
		},
		{
			name:     "a shorter re-alarm interval mid-episode takes effect at the next evaluation",
			settings: lowExample,
			steps: []step{reading(0, 60), reading(5, 60), reading(10, 60), reading(15, 60),
				{t: 16, action: "settings", set: func(s *share.AlertSettings) { s.LowAlert.RealarmDelay = "PT5M" }},
				reading(20, 60), reading(25, 60)},
			want: []string{"15 Low fired 1", "20 Low refired 2", "25 Low refired 3"},
		},
		{
			name:     "acknowledged with no re-alarm stays silent until it clears",
			settings: func(s *share.AlertSettings) { lowExample(s); s.LowAlert.RealarmDelay = "PT0M" },
			steps:    append(append([]step{reading(0, 60), reading(5, 60), reading(10, 60), reading(15, 60), ack(16)}, ticks(17, 200)...), reading(205, 80)),
			want:     []string{"15 Low fired 1", "205 Low cleared 1"},
		},
		{
			name:     "a backfill of old readings does not replay past episodes",
			settings: lowExample,
			steps:    []step{reading(100, 120), reading(105, 121)},
			want:     nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sim{settings: settings(c.settings), open: map[int]*Alarm{}, monitor: true}
			got := s.run(c.steps)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("events:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestBackfillAfterLatestIsIgnored(t *testing.T) {
	// Readings arriving out of order: only the newest reading and its run
	// matter, so an old low backfilled after a normal reading raises nothing.
	s := &sim{settings: settings(func(s *share.AlertSettings) {
		s.LowAlert = share.AlertSetting{AlertType: Low, IsEnabled: true, MaxValue: 70, MinValue: 39, AlarmDelay: "PT0M", RealarmDelay: "PT30M"}
	}), open: map[int]*Alarm{}, monitor: true}
	s.readings = []Reading{{ST: at(10), Value: 100}}
	s.readings = append(s.readings, Reading{ST: at(5), Value: 50}) // older, low
	s.evaluate(at(11))
	if len(s.events) != 0 {
		t.Errorf("backfilled low raised %v", s.events)
	}
}

func TestThreshold(t *testing.T) {
	cases := []struct {
		kind, min, max, want int
		ok                   bool
	}{
		{High, 200, 401, 200, true},
		{High, 200, 250, 250, true},
		{High, 39, 401, 0, false},
		{Low, 39, 70, 70, true},
		{Low, 80, 39, 80, true},
		{FixedLow, 39, 55, 55, true},
		{NoData, 39, 401, 0, false},
	}
	for _, c := range cases {
		got, ok := Threshold(c.kind, share.AlertSetting{MinValue: c.min, MaxValue: c.max})
		if got != c.want || ok != c.ok {
			t.Errorf("Threshold(%d, %d, %d) = %d, %v; want %d, %v", c.kind, c.min, c.max, got, ok, c.want, c.ok)
		}
	}
}

func TestLookbackCoversLongestDelay(t *testing.T) {
	s := settings(func(s *share.AlertSettings) { s.HighAlert.AlarmDelay = "PT2H" })
	if got, want := Lookback(s), 2*time.Hour+20*time.Minute; got != want {
		t.Errorf("Lookback = %v, want %v", got, want)
	}
}
