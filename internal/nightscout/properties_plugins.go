package nightscout

import (
	"strconv"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The plugins behind /api/v2/properties (cgm-remote-monitor 15.0.7,
// lib/plugins/<name>.js), computed over a sandbox of bounded data. Each
// function names the plugin it follows; the values keep Nightscout's
// member names and types, since apps parse them (Nightguard reads
// iob.display as a string and cob.display as a number).

// jsObject is a JSON object as decoded, numbers kept as written.
type jsObject = map[string]any

// sandbox is the data the plugins see (lib/sandbox.js): readings and
// documents oldest first, and the time of the computation.
type sandbox struct {
	now      int64
	mmol     bool
	sgvs     []*propSGV
	statuses []jsObject // device statuses, with _id and mills
	// haveStatuses tells that statuses were read: every plugin over them
	// then runs, since they amend the statuses others show (pump shows
	// the whole status, with upbat's and loop's additions).
	haveStatuses bool
	treatments   []jsObject
	profile      *profileStore

	buckets []*bucket // computed once for bgnow, delta and buckets
	done    bool
	// readingsAround returns the mg/dL of the newest reading at or before
	// a time and of the oldest at or after it (0 for none), for the
	// glucose Nightscout gives a treatment.
	readingsAround func(at int64) (before, after int, err error)
	err            error // the first error of readingsAround
}

// propSGV is a reading as Nightscout's sandbox holds it (dataloader.js).
type propSGV struct {
	ID        string `json:"_id"`
	Mgdl      int    `json:"mgdl"`
	Mills     int64  `json:"mills"`
	Device    string `json:"device"`
	Direction string `json:"direction"`
	Type      string `json:"type"`
	Scaled    any    `json:"scaled"`
}

// property computes one property; false when Nightscout offers none.
func (s *sandbox) property(name string) (any, bool) {
	switch name {
	case "bgnow":
		return s.bgnow(), true
	case "delta":
		d := s.delta()
		return d, d != nil
	case "buckets":
		return s.allBuckets(), true
	case "rawbg":
		// Readings keep no raw (filtered/unfiltered) values, so Nightscout's
		// computation never has its inputs: an empty object, as Nightscout
		// answers without a calibration.
		return jsObject{}, true
	case "direction":
		d := s.direction()
		return d, d != nil
	case "upbat":
		return s.upbat(), true
	case "iob":
		return s.iob(), true
	case "cob":
		return s.cob(), true
	case "pump":
		return s.pump(), true
	case "openaps":
		return s.openaps(), true
	case "loop":
		return s.loop(), true
	}
	return nil, false
}

// lastSGV is the newest reading not in the future.
func (s *sandbox) lastSGV() *propSGV {
	for i := len(s.sgvs) - 1; i >= 0; i-- {
		if s.sgvs[i].Mills <= s.now {
			return s.sgvs[i]
		}
	}
	return nil
}

// bucket is one of bgnow's 5-minute buckets.
type bucket struct {
	Mean      *float64   `json:"mean,omitempty"`
	Last      *int       `json:"last,omitempty"`
	Mills     *int64     `json:"mills,omitempty"`
	Errors    []*propSGV `json:"errors,omitempty"`
	Index     int        `json:"index"`
	FromMills *int64     `json:"fromMills"`
	ToMills   *int64     `json:"toMills"`
	SGVs      []*propSGV `json:"sgvs"`
	IsEmpty   bool       `json:"isEmpty,omitempty"`
}

// withoutPosition is a bucket as bgnow and delta.previous show it
// (without index, fromMills, toMills).
type withoutPosition struct {
	Mean    *float64   `json:"mean,omitempty"`
	Last    *int       `json:"last,omitempty"`
	Mills   *int64     `json:"mills,omitempty"`
	Errors  []*propSGV `json:"errors,omitempty"`
	SGVs    []*propSGV `json:"sgvs"`
	IsEmpty bool       `json:"isEmpty,omitempty"`
}

func (b *bucket) short() withoutPosition {
	return withoutPosition{Mean: b.Mean, Last: b.Last, Mills: b.Mills, Errors: b.Errors, SGVs: b.SGVs, IsEmpty: b.IsEmpty}
}

// bgnow.js fillBuckets: four buckets of 5 minutes back from 2.5 minutes
// after the newest reading; readings are taken newest first until one
// falls outside every bucket (readings in the future are skipped).
func (s *sandbox) allBuckets() []*bucket {
	if s.done {
		return s.buckets
	}
	s.done = true
	const count, width, offset = 4, 5 * 60_000, 150_000
	last := s.lastSGV()
	for i := 0; i < count; i++ {
		b := &bucket{Index: i, SGVs: []*propSGV{}}
		if last != nil {
			from := last.Mills - offset - int64(i*width)
			to := from + width
			b.FromMills, b.ToMills = &from, &to
		}
		s.buckets = append(s.buckets, b)
	}
	for i := len(s.sgvs) - 1; i >= 0 && last != nil; i-- {
		sgv := s.sgvs[i]
		if sgv.Mills > s.now {
			continue
		}
		var in *bucket
		for _, b := range s.buckets {
			if sgv.Mills >= *b.FromMills && sgv.Mills <= *b.ToMills {
				in = b
				break
			}
		}
		if in == nil {
			break
		}
		sgv.Scaled = s.scaled(sgv.Mgdl)
		in.SGVs = append(in.SGVs, sgv)
	}
	for _, b := range s.buckets {
		analyzeBucket(b)
	}
	return s.buckets
}

// analyzeBucket (bgnow.js): the mean and newest of the readings above 39
// mg/dL; readings below 39 are errors (39 itself is neither).
func analyzeBucket(b *bucket) {
	if len(b.SGVs) == 0 {
		b.IsEmpty = true
		return
	}
	sum, n := 0.0, 0
	var newest *propSGV
	for _, sgv := range b.SGVs {
		if sgv.Mgdl > 39 {
			sum += float64(sgv.Mgdl)
			n++
			if newest == nil || sgv.Mills > newest.Mills {
				newest = sgv
			}
		}
		if sgv.Mgdl < 39 {
			b.Errors = append(b.Errors, sgv)
		}
	}
	if n > 0 && sum != 0 {
		mean := sum / float64(n)
		b.Mean = &mean
	}
	if newest != nil {
		b.Last, b.Mills = &newest.Mgdl, &newest.Mills
	}
}

// scaled is a reading in the account's units: mg/dL as a number, mmol/L
// as a string with one decimal (units.js mgdlToMMOL).
func (s *sandbox) scaled(mgdl int) any {
	if !s.mmol {
		return mgdl
	}
	return strconv.FormatFloat(jsRound(float64(mgdl)/glucose.MgdlPerMmol*10)/10, 'f', 1, 64)
}

// recent and previous are bgnow's most recent non-empty bucket and the
// non-empty one before it.
func (s *sandbox) recentBuckets() (recent, previous *bucket) {
	for _, b := range s.allBuckets() {
		if b.IsEmpty {
			continue
		}
		if recent == nil {
			recent = b
		} else if b.Mills != nil && recent.Mills != nil && *b.Mills < *recent.Mills {
			return recent, b
		}
	}
	return recent, nil
}

// bgnow: the most recent bucket, or {} without readings.
func (s *sandbox) bgnow() any {
	recent, _ := s.recentBuckets()
	if recent == nil {
		return jsObject{}
	}
	return recent.short()
}

// delta (bgnow.js calcDelta): the change between the two most recent
// buckets' means, scaled to 5 minutes when they are more than 9 minutes
// apart.
func (s *sandbox) delta() any {
	recent, previous := s.recentBuckets()
	if recent == nil || previous == nil || recent.Mean == nil || previous.Mean == nil {
		return nil
	}
	absolute := *recent.Mean - *previous.Mean
	elapsed := float64(*recent.Mills-*previous.Mills) / 60_000
	interpolated := elapsed > 9
	ago := *recent.Mean - absolute
	if interpolated {
		ago = *recent.Mean - absolute/elapsed*5
	}
	mgdl := jsRound(*recent.Mean - ago)
	var scaledDelta float64 = mgdl
	if s.mmol {
		scaledDelta = jsRound((toMmol(*recent.Mean)-toMmol(ago))*10) / 10
	}
	display := strconv.FormatFloat(scaledDelta, 'f', -1, 64)
	if scaledDelta >= 0 {
		display = "+" + display
	}
	return jsObject{
		"absolute": absolute, "elapsedMins": elapsed, "interpolated": interpolated, "mean5MinsAgo": ago,
		"times": jsObject{"recent": *recent.Mills, "previous": *previous.Mills},
		"mgdl":  mgdl, "scaled": scaledDelta, "display": display, "previous": previous.short(),
	}
}

// toMmol is sandbox.scaleMgdl for mmol/L: units.js rounds to one decimal.
func toMmol(mgdl float64) float64 {
	if mgdl == 0 {
		return 0
	}
	return jsRound(mgdl/glucose.MgdlPerMmol*10) / 10
}

// directionChars are direction.js's labels.
var directionChars = map[string]string{"NONE": "⇼", "TripleUp": "⤊", "DoubleUp": "⇈", "SingleUp": "↑", "FortyFiveUp": "↗",
	"Flat": "→", "FortyFiveDown": "↘", "SingleDown": "↓", "DoubleDown": "⇊", "TripleDown": "⤋",
	"NOT COMPUTABLE": "-", "RATE OUT OF RANGE": "⇕"}

// direction (direction.js): the newest reading's trend, when it is at
// most 15 minutes old.
func (s *sandbox) direction() any {
	last := s.lastSGV()
	if last == nil || s.now-last.Mills > 15*60_000 {
		return nil
	}
	label, ok := directionChars[last.Direction]
	if !ok {
		label = "-"
	}
	return jsObject{"display": nil, "value": last.Direction, "label": label,
		"entity": "&#" + strconv.Itoa(int([]rune(label)[0])) + ";"}
}
