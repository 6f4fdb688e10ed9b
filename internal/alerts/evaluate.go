// Package alerts evaluates followers' alert settings into alarms
// (docs/protocol.md, "Alerts and alarms"). Evaluate is a pure function: its outcome depends only on
// the readings, the settings, the previous alarm state and the instant T, so
// it is tested with plain values and driven in production by the scheduler
// and the ingestion path, each passing its own T.
package alerts

import (
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Alarm states on the wire (docs/protocol.md, "Subscriber" ListSubscriptionAlarms).
const (
	StateActive       = "Active"
	StateAcknowledged = "Acknowledged"
	StateCleared      = "Cleared"
)

// Event types delivered to followers (docs/protocol.md, "Alarm lifecycle": one notification per firing or
// re-alarm; clearing is reported too).
const (
	EventFired   = "fired"
	EventRefired = "refired"
	EventCleared = "cleared"
)

// Kinds, by AlertType (docs/protocol.md, "Alert settings").
const (
	High     = share.AlertTypeHigh
	Low      = share.AlertTypeLow
	FixedLow = share.AlertTypeFixedLow
	NoData   = share.AlertTypeNoData
)

// Kinds lists every alert kind in evaluation order.
var Kinds = []int{High, Low, FixedLow, NoData}

// KindName names a kind for logs, metrics and webhook payloads.
func KindName(kind int) string {
	switch kind {
	case High:
		return "High"
	case Low:
		return "Low"
	case FixedLow:
		return "UrgentLow"
	case NoData:
		return "NoData"
	}
	return "Unknown"
}

const (
	// staleAfter: no alarm is raised from a reading older than this (docs/protocol.md, "Alarm conditions").
	staleAfter = 15 * time.Minute
	// minNoDataDelay: readings arrive every 5 minutes, so a shorter NoData
	// delay is treated as 10 minutes (docs/protocol.md, "Alert settings").
	minNoDataDelay = 10 * time.Minute
)

// Reading is what evaluation needs of a glucose reading.
type Reading struct {
	ST    time.Time
	Value int
}

// Alarm is the domain's alarm.
type Alarm = glucose.Alarm

// Input is everything one evaluation of one subscription looks at.
type Input struct {
	T        time.Time
	Settings share.AlertSettings // as stored (normalised on write)
	// Readings of the publisher, newest first, reaching back at least to
	// the first reading that does not meet a condition, or to T minus the
	// longest AlarmDelay — whichever comes first. Older ones are ignored.
	Readings []Reading
	// ActiveSince is when the subscription last entered state 6 (NoData's
	// reference when the newest reading is older).
	ActiveSince time.Time
	// Monitoring is the publisher's monitoring flag; NoData only alarms
	// while it is on.
	Monitoring bool
	// Open holds the subscription's open alarms by kind.
	Open map[int]*Alarm
}

// Change is one alarm created or updated by an evaluation, with the event it
// produced.
type Change struct {
	Alarm Alarm  // the alarm after the change; ID is empty for a new alarm
	Event string // EventFired, EventRefired or EventCleared
}

// Evaluate applies the lifecycle of docs/protocol.md, "Alarm lifecycle" to every kind at in.T and returns
// the changes, in kind order. It changes nothing else.
func Evaluate(in Input) []Change {
	var out []Change
	for _, kind := range Kinds {
		if c, ok := evaluateKind(in, kind); ok {
			out = append(out, c)
		}
	}
	return out
}

// condition is one kind's verdict at T.
type condition struct {
	mayFire   bool
	stillTrue bool
	value     int // the value an alarm fired now would carry
}

func evaluateKind(in Input, kind int) (Change, bool) {
	set := setting(in.Settings, kind)
	open := in.Open[kind]
	enabled := set.IsEnabled || kind == FixedLow
	if !enabled {
		// Disabling a kind clears its open alarm (docs/protocol.md, "Alarm lifecycle").
		if open != nil && open.Open() {
			return clear(*open, in.T), true
		}
		return Change{}, false
	}
	cond := check(in, kind, set)
	realarm := duration(set.RealarmDelay)
	switch {
	case open == nil || !open.Open():
		if !cond.mayFire {
			return Change{}, false
		}
		a := Alarm{Kind: kind, State: StateActive, Value: cond.value,
			TriggeredAt: in.T, LastNotifiedAt: in.T, NotifyCount: 1}
		return Change{Alarm: a, Event: EventFired}, true
	case !cond.stillTrue:
		return clear(*open, in.T), true
	case realarm <= 0:
		return Change{}, false
	case open.State == StateActive && !in.T.Before(open.LastNotifiedAt.Add(realarm)):
		return renotify(*open, in.T), true
	case open.State == StateAcknowledged && !in.T.Before(open.AcknowledgedAt.Add(realarm)):
		return renotify(*open, in.T), true
	}
	return Change{}, false
}

func clear(a Alarm, t time.Time) Change {
	a.State = StateCleared
	a.ClearedAt = t
	return Change{Alarm: a, Event: EventCleared}
}

func renotify(a Alarm, t time.Time) Change {
	a.State = StateActive
	a.LastNotifiedAt = t
	a.NotifyCount++
	return Change{Alarm: a, Event: EventRefired}
}

// check decides whether kind may fire and whether it is still true (docs/protocol.md, "Alarm conditions").
func check(in Input, kind int, set share.AlertSetting) condition {
	if kind == NoData {
		return checkNoData(in, set)
	}
	threshold, ok := Threshold(kind, set)
	if !ok || len(in.Readings) == 0 {
		return condition{}
	}
	meets := func(v int) bool {
		if kind == High {
			return v > threshold
		}
		return v < threshold
	}
	newest := in.Readings[0]
	if !meets(newest.Value) {
		return condition{}
	}
	delay := duration(set.AlarmDelay)
	t0 := runStart(in.Readings, meets, newest.ST.Add(-delay))
	mayFire := newest.ST.Sub(t0) >= delay && in.T.Sub(newest.ST) <= staleAfter
	return condition{mayFire: mayFire, stillTrue: true, value: newest.Value}
}

// runStart returns the ST of the oldest reading of the unbroken run of
// readings meeting the condition that ends at the newest. It stops early
// once the run reaches back to enough (the delay is then met anyway).
func runStart(rs []Reading, meets func(int) bool, enough time.Time) time.Time {
	t0 := rs[0].ST
	for _, r := range rs {
		if !meets(r.Value) {
			break
		}
		t0 = r.ST
		if !t0.After(enough) {
			break
		}
	}
	return t0
}

func checkNoData(in Input, set share.AlertSetting) condition {
	if !in.Monitoring {
		return condition{}
	}
	ref := in.ActiveSince
	value := 0
	if len(in.Readings) > 0 {
		value = in.Readings[0].Value
		if in.Readings[0].ST.After(ref) {
			ref = in.Readings[0].ST
		}
	}
	delay := max(duration(set.AlarmDelay), minNoDataDelay)
	silent := in.T.Sub(ref) >= delay
	return condition{mayFire: silent, stillTrue: silent, value: value}
}

// Threshold returns the threshold of a High, Low or urgent-low setting
// (docs/protocol.md, "Alert settings"): MaxValue when it lies in 40–400, else MinValue when it does; urgent
// low always uses MaxValue (normalised into 40–55 on write).
func Threshold(kind int, set share.AlertSetting) (int, bool) {
	usable := func(v int) bool { return v >= 40 && v <= 400 }
	switch {
	case kind == FixedLow:
		return set.MaxValue, usable(set.MaxValue)
	case kind != High && kind != Low:
		return 0, false
	case usable(set.MaxValue):
		return set.MaxValue, true
	case usable(set.MinValue):
		return set.MinValue, true
	}
	return 0, false
}

// setting returns the settings member of kind.
func setting(s share.AlertSettings, kind int) share.AlertSetting {
	switch kind {
	case High:
		return s.HighAlert
	case Low:
		return s.LowAlert
	case FixedLow:
		return s.FixedLowAlert
	default:
		return s.NoDataAlert
	}
}

// duration parses a stored duration; stored values were validated on write,
// so a bad one (which cannot happen) counts as zero.
func duration(s string) time.Duration {
	d, err := share.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// Lookback is how far before T readings must reach for Evaluate to see
// every run that matters under these settings: a newest reading may be up to
// staleAfter old and still fire, its run must be visible for the longest
// AlarmDelay, plus one reading interval so that the run's start shows.
func Lookback(s share.AlertSettings) time.Duration {
	var longest time.Duration
	for _, kind := range []int{High, Low, FixedLow} {
		longest = max(longest, duration(setting(s, kind).AlarmDelay))
	}
	return staleAfter + longest + 5*time.Minute
}
