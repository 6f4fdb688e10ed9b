package nightscout

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

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

// statusesWithin returns the device statuses dated from..to, oldest first.
func (s *sandbox) statusesWithin(from, to int64, member string) []jsObject {
	var out []jsObject
	for _, st := range s.statuses {
		m := millsOf(st)
		if _, ok := st[member]; (ok || member == "") && m >= from && m <= to {
			out = append(out, st)
		}
	}
	return out
}

// upbat (upbat.js): the lowest battery of the last 10 minutes of each
// uploader that reported in the last 30.
func (s *sandbox) upbat() any {
	result := jsObject{"display": "?%", "devices": jsObject{}}
	devices := result["devices"].(jsObject)
	var order []string
	for _, st := range s.statusesWithin(s.now-30*60_000, s.now, "uploader") {
		u, _ := st["uploader"].(jsObject)
		if u == nil {
			continue
		}
		analyzeUploader(st, u)
		uri, _ := st["device"].(string)
		if uri == "" {
			uri = "uploader"
		}
		d, ok := devices[uri].(jsObject)
		if !ok {
			d = jsObject{"name": strings.TrimPrefix(uri, "openaps://"), "uri": uri, "statuses": []any{}}
			devices[uri] = d
			order = append(order, uri)
		}
		kept := jsObject{"uploader": u}
		for _, k := range []string{"created_at", "mills", "_id"} {
			if v, ok := st[k]; ok {
				kept[k] = v
			}
		}
		d["statuses"] = append(d["statuses"].([]any), kept)
	}
	var lowest jsObject
	for _, uri := range order {
		d := devices[uri].(jsObject)
		sts := d["statuses"].([]any)
		sort.SliceStable(sts, func(i, j int) bool { return num(sts[i].(jsObject)["mills"]) < num(sts[j].(jsObject)["mills"]) })
		for i, j := 0, len(sts)-1; i < j; i, j = i+1, j-1 {
			sts[i], sts[j] = sts[j], sts[i]
		}
		recent := num(sts[0].(jsObject)["mills"]) - 10*60_000
		var min jsObject
		for _, x := range sts {
			st := x.(jsObject)
			if num(st["mills"]) > recent && (min == nil || num(st["uploader"].(jsObject)["battery"]) < num(min["uploader"].(jsObject)["battery"])) {
				min = st
			}
		}
		d["min"] = min["uploader"]
		if lowest == nil || num(min["uploader"].(jsObject)["battery"]) < num(lowest["uploader"].(jsObject)["battery"]) {
			lowest = min
		}
	}
	if lowest != nil {
		u := lowest["uploader"].(jsObject)
		result["level"], result["display"] = u["level"], u["display"]
		result["status"] = statusClass(u["notification"])
		result["min"] = u
	}
	return result
}

// analyzeUploader adds upbat.js's value, display, level and notification
// to an uploader's status.
func analyzeUploader(st, u jsObject) {
	battery := num(u["battery"])
	voltage := num(u["batteryVoltage"])
	if voltage > 1000 {
		voltage /= 1000
	}
	if battery == 0 && voltage == 0 {
		return
	}
	charging, _ := st["isCharging"].(bool)
	display := ""
	if battery != 0 {
		u["value"] = u["battery"]
		display = strconv.FormatFloat(battery, 'f', -1, 64) + "%"
	} else {
		u["value"] = voltage
	}
	if voltage != 0 {
		vd := strconv.FormatFloat(voltage, 'f', 3, 64) + "v"
		u["voltage"], u["voltageDisplay"] = voltage, vd
		if battery == 0 {
			display = vd
		}
	}
	if charging {
		display += "⚡"
	}
	u["display"] = display
	switch {
	case battery >= 95:
		u["level"] = 100
	case battery >= 55:
		u["level"] = 75
	case battery >= 30:
		u["level"] = 50
	default:
		u["level"] = 25
	}
	switch {
	case battery <= 30 && battery > 20:
		u["notification"] = levelWarn
	case battery <= 20:
		u["notification"] = levelUrgent
	}
}

// Nightscout's notification levels (lib/constants.json).
const (
	levelNone   = -3
	levelWarn   = 1
	levelUrgent = 2
)

// statusClass is levels.toStatusClass.
func statusClass(level any) string {
	switch level {
	case levelWarn:
		return "warn"
	case levelUrgent:
		return "urgent"
	}
	return "current"
}

// iob (iob.js calcTotal): the newest insulin on board a device status of
// the last 30 minutes reports (Loop's before a pump's), else the
// treatments' computed with the profile's DIA; with both, the treatments'
// as treatmentIob.
func (s *sandbox) iob() any {
	result := s.iobFromStatuses()
	var fromTreatments jsObject
	if len(s.treatments) > 0 {
		fromTreatments = s.iobFromTreatments(s.now)
	}
	if result == nil {
		result = fromTreatments
		if result != nil {
			// Only the shown bolus gets its glucose: one look-up, not one
			// per computation of insulin activity.
			result["lastBolus"] = s.withBG(result["lastBolus"])
		}
	} else if fromTreatments != nil && num(fromTreatments["iob"]) != 0 {
		result["treatmentIob"] = round3(num(fromTreatments["iob"]))
	}
	if result == nil || result["iob"] == nil {
		return jsObject{}
	}
	if v := num(result["iob"]); v != 0 {
		result["iob"] = round3(v)
	}
	display := "0"
	if v := num(result["iob"]); v != 0 {
		display = strconv.FormatFloat(v, 'f', 2, 64)
		if display == "-0.00" {
			display = "0.00"
		}
	}
	result["display"], result["displayLine"] = display, "IOB: "+display+"U"
	return result
}

// iobFromStatuses is iob.js lastIOBDeviceStatus.
func (s *sandbox) iobFromStatuses() jsObject { return s.iobFromStatusesAt(s.now) }

func (s *sandbox) iobFromStatusesAt(at int64) jsObject {
	var all, loops []jsObject
	for _, st := range s.statusesWithin(at-30*60_000, at+propertyFuture.Milliseconds(), "") {
		if r := iobOfStatus(st); r != nil {
			all = append(all, r)
			if r["source"] == "Loop" {
				loops = append(loops, r)
			}
		}
	}
	byMills := func(rs []jsObject) jsObject {
		if len(rs) == 0 {
			return nil
		}
		sort.SliceStable(rs, func(i, j int) bool { return num(rs[i]["mills"]) < num(rs[j]["mills"]) })
		return rs[len(rs)-1]
	}
	if r := byMills(loops); r != nil {
		return r
	}
	return byMills(all)
}

// iobOfStatus is iob.js fromDeviceStatus: OpenAPS's, Loop's or the pump's
// insulin on board.
func iobOfStatus(st jsObject) jsObject {
	if o, ok := member(st, "openaps", "iob"); ok {
		if arr, isArr := o.([]any); isArr {
			if len(arr) == 0 {
				return nil
			}
			o = arr[0]
		}
		iob, ok := o.(jsObject)
		if !ok || len(iob) == 0 {
			return nil
		}
		if t, ok := iob["time"]; ok {
			iob["timestamp"] = t
		}
		return withoutNil(jsObject{"iob": iob["iob"], "basaliob": iob["basaliob"], "activity": iob["activity"],
			"source": "OpenAPS", "device": st["device"], "mills": momentMills(iob["timestamp"])})
	}
	if o, ok := member(st, "loop", "iob"); ok {
		if iob, ok := o.(jsObject); ok {
			return withoutNil(jsObject{"iob": iob["iob"], "source": "Loop", "device": st["device"], "mills": momentMills(iob["timestamp"])})
		}
	}
	if o, ok := member(st, "pump", "iob"); ok {
		if iob, ok := o.(jsObject); ok {
			v := iob["iob"]
			if num(v) == 0 {
				v = iob["bolusiob"]
			}
			r := jsObject{"iob": v, "device": st["device"], "mills": st["mills"]}
			if _, ok := st["connect"]; ok {
				r["source"] = "MM Connect"
			}
			return withoutNil(r)
		}
	}
	return nil
}

// iobFromTreatments is iob.js fromTreatments: each bolus decays along
// Nightscout's curve over the profile's DIA (3 hours without one).
func (s *sandbox) iobFromTreatments(at int64) jsObject {
	total, activity := 0.0, 0.0
	var lastBolus any
	for _, t := range s.treatments {
		if num(t["mills"]) > float64(at) {
			continue
		}
		contrib, act := s.treatmentIOB(t, at)
		if contrib > 0 {
			lastBolus = t
		}
		total += contrib
		activity += act
	}
	return jsObject{"iob": round3(total), "activity": activity, "lastBolus": lastBolus, "source": "Care Portal"}
}

// treatmentIOB is iob.js calcTreatment.
func (s *sandbox) treatmentIOB(t jsObject, at int64) (iob, activity float64) {
	insulin := num(t["insulin"])
	if insulin == 0 {
		return 0, 0
	}
	dia, sens := 3.0, 0.0
	if s.profile != nil {
		if d, ok := s.profile.valueAt("dia", at); ok && d != 0 {
			dia = d
		}
		sens, _ = s.profile.valueAt("sens", at)
	}
	const peak = 75.0
	minAgo := 3.0 / dia * float64(at-int64(num(t["mills"]))) / 1000 / 60
	switch {
	case minAgo < peak:
		x := minAgo/5 + 1
		return insulin * (1 - 0.001852*x*x + 0.001852*x), sens * insulin * (2 / dia / 60 / peak) * minAgo
	case minAgo < 180:
		x := (minAgo - 75) / 5
		return insulin * (0.001323*x*x - 0.054233*x + 0.55556), sens * insulin * (2/dia/60 - (minAgo-peak)*2/dia/60/(60*3-peak))
	}
	return 0, 0
}

// activityAt is iob.js calcTotal(time).activity: a device status's
// (OpenAPS reports one; NaN when the status has none, which cancels the
// delay as in Nightscout), else the treatments'.
func (s *sandbox) activityAt(at int64) float64 {
	if r := s.iobFromStatusesAt(at); r != nil {
		if v, ok := parseNum(r["activity"]); ok {
			return v
		}
		return math.NaN()
	}
	return num(s.iobFromTreatments(at)["activity"])
}

// cob (cob.js cobTotal): it needs a profile with sens and carbratio; the
// carbs on board a device status of the last 30 minutes reports when at
// most 10 minutes old, else the treatments' (carbs absorbed at the
// profile's rate after 20 minutes).
func (s *sandbox) cob() any {
	if s.profile == nil {
		return jsObject{}
	}
	sens, _ := s.profile.valueAt("sens", s.now)
	ratio, _ := s.profile.valueAt("carbratio", s.now)
	if sens == 0 || ratio == 0 {
		return jsObject{}
	}
	result := s.cobFromStatuses()
	if result == nil || result["cob"] == nil || s.now-int64(num(result["mills"])) > 10*60_000 {
		var fromTreatments jsObject
		if len(s.treatments) > 0 {
			fromTreatments = s.cobFromTreatments()
		} else {
			fromTreatments = jsObject{}
		}
		result = jsObject{}
		for k, v := range fromTreatments {
			result[k] = v
		}
		result["source"] = "Care Portal"
		result["treatmentCOB"] = fromTreatments
	}
	if result["cob"] == nil {
		return jsObject{}
	}
	display := jsRound(num(result["cob"])*10) / 10
	result["display"], result["displayLine"] = display, "COB: "+strconv.FormatFloat(display, 'f', -1, 64)+"g"
	return result
}

// cobFromStatuses is cob.js lastCOBDeviceStatus.
func (s *sandbox) cobFromStatuses() jsObject {
	var last jsObject
	for _, st := range s.statusesWithin(s.now-30*60_000, s.now+propertyFuture.Milliseconds(), "") {
		r := cobOfStatus(st)
		if r != nil && (last == nil || num(r["mills"]) >= num(last["mills"])) {
			last = r
		}
	}
	return last
}

// cobOfStatus is cob.js fromDeviceStatus: OpenAPS's newer of suggested and
// enacted COB, or Loop's.
func cobOfStatus(st jsObject) jsObject {
	if o, ok := st["openaps"].(jsObject); ok {
		suggested, _ := o["suggested"].(jsObject)
		enacted, _ := o["enacted"].(jsObject)
		var pick jsObject
		switch {
		case suggested != nil && enacted != nil:
			pick = suggested
			if momentMills(enacted["timestamp"]) > momentMills(suggested["timestamp"]) {
				pick = enacted
			}
		case enacted != nil:
			pick = enacted
		case suggested != nil:
			pick = suggested
		}
		if pick == nil || pick["COB"] == nil {
			return nil
		}
		return withoutNil(jsObject{"cob": pick["COB"], "source": "OpenAPS", "device": st["device"], "mills": momentMills(pick["timestamp"])})
	}
	if o, ok := member(st, "loop", "cob"); ok {
		c, _ := o.(jsObject)
		return withoutNil(jsObject{"cob": c["cob"], "source": "Loop", "device": st["device"], "mills": momentMills(c["timestamp"])})
	}
	return nil
}

// cobFromTreatments is cob.js fromTreatments: each meal's carbs start to
// decay 20 minutes after it, at the profile's carbs_hr, a later meal
// queueing behind an earlier one, the decay delayed while insulin acts.
func (s *sandbox) cobFromTreatments() jsObject {
	total, isDecaying := 0.0, 0
	var lastCarbs any
	var lastDecayedBy int64
	rate := func(at int64) float64 {
		r, _ := s.profile.valueAt("carbs_hr", at)
		return r
	}
	for _, t := range s.treatments {
		carbs, at := num(t["carbs"]), int64(num(t["mills"]))
		if carbs == 0 || at >= s.now {
			continue
		}
		lastCarbs = t
		perMin := rate(at) / 60
		if perMin == 0 {
			continue
		}
		const delay = 20.0
		left := float64(lastDecayedBy-at) / 60_000
		// Date.setMinutes truncates the minutes it is given.
		decayedBy := at + int64(math.Trunc(math.Max(delay, left)+carbs/perMin))*60_000
		startDecay := at + int64(delay*60_000)
		decaying := 0
		if s.now < lastDecayedBy || s.now > startDecay {
			decaying = 1
		}
		hours := float64(decayedBy-s.now) / 3_600_000
		if hours > -10 {
			// The liver releases carbs while insulin acts: the decay is
			// delayed by the carbs the average insulin activity offsets.
			avg := (s.activityAt(lastDecayedBy) + s.activityAt(decayedBy)) / 2
			sens, _ := s.profile.valueAt("sens", at)
			ratio, _ := s.profile.valueAt("carbratio", at)
			delayed := avg * 8 / sens * ratio
			if d := jsRound(delayed / rate(at) * 60); d > 0 {
				decayedBy += int64(d) * 60_000
				hours = float64(decayedBy-s.now) / 3_600_000
			}
		}
		lastDecayedBy = decayedBy
		if hours > 0 {
			total += math.Min(carbs, hours*rate(at))
			isDecaying = decaying
		} else {
			total = 0
		}
	}
	sens, _ := s.profile.valueAt("sens", s.now)
	ratio, _ := s.profile.valueAt("carbratio", s.now)
	var decayedBy any
	if lastDecayedBy != 0 {
		decayedBy = glucose.FromMS(lastDecayedBy).UTC().Format(isoUTC)
	} else {
		decayedBy = 0
	}
	return jsObject{"decayedBy": decayedBy, "isDecaying": isDecaying, "carbs_hr": rate(s.now),
		"rawCarbImpact": float64(isDecaying) * sens / ratio * rate(s.now) / 60, "cob": total, "lastCarbs": s.withBG(lastCarbs)}
}

// withBG adds the glucose Nightscout's treatmenttocurve.js gives a
// treatment (its own glucose, in its units, at most 22 mmol/L or the
// same in mg/dL; else the mean of the readings around it, or 180), as the
// treatment is shown inside iob and cob.
func (s *sandbox) withBG(v any) any {
	t, ok := v.(jsObject)
	if !ok || t["mgdl"] != nil || t["mmol"] != nil {
		return v
	}
	if _, ok := t["eventType"]; !ok {
		t["eventType"] = ""
	}
	if g, ok := t["glucose"]; ok && truthy(g) {
		f, isNum := parseNum(g)
		if !isNum {
			return v
		}
		const maxMmol = 22.0
		if t["units"] == "mmol" || t["units"] == nil && s.mmol {
			t["mmol"] = math.Min(f, maxMmol)
		} else {
			t["mgdl"] = math.Min(f, maxMmol*glucose.MgdlPerMmol)
		}
		return v
	}
	if s.readingsAround == nil {
		return v
	}
	before, after, err := s.readingsAround(int64(num(t["mills"])))
	if err != nil {
		s.err = err
		return v
	}
	bg := 0.0
	switch {
	case before != 0 && after != 0:
		bg = float64(before+after) / 2
	case before != 0:
		bg = float64(before)
	case after != 0:
		bg = float64(after)
	}
	if bg = jsRound(bg); bg == 0 {
		bg = 180
	}
	t["mgdl"] = bg
	return v
}

// pump (pump.js): the device status of the last two hours with the newest
// pump clock, and its data prepared for display.
func (s *sandbox) pump() any {
	var status jsObject
	for _, st := range s.statusesWithin(s.now-120*60_000, s.now, "pump") {
		clock := num(st["mills"])
		if p, ok := st["pump"].(jsObject); ok && p["clock"] != nil {
			clock = float64(momentMills(p["clock"]))
		}
		st["clockMills"] = clock
		if status == nil || clock > num(status["clockMills"]) {
			status = st
		}
	}
	if status == nil {
		status = jsObject{}
	}
	status["data"] = s.pumpData(status)
	return status
}

// pumpData is pump.js prepareData with its default thresholds.
func (s *sandbox) pumpData(status jsObject) jsObject {
	p, _ := status["pump"].(jsObject)
	if p == nil {
		p = jsObject{}
	}
	field := func(v any, label, display string, level int, message string) jsObject {
		f := jsObject{"value": v, "label": label, "display": display, "level": level}
		if message != "" {
			f["message"] = message
		}
		return f
	}
	r := jsObject{"level": levelNone, "clock": nil, "reservoir": nil, "reservoir_display_override": orNil(p["reservoir_display_override"]),
		"reservoir_level_override": orNil(p["reservoir_level_override"]), "extended": orNil(p["extended"])}
	if v, ok := p["manufacturer"]; ok {
		r["manufacturer"] = v
	}
	if v, ok := p["model"]; ok {
		r["model"] = v
	}
	if c, ok := p["clock"]; ok && c != nil {
		at := momentMills(c)
		level, message := levelNone, ""
		switch {
		case s.now-at > 60*60_000:
			level, message = levelUrgent, "URGENT: Pump data stale"
		case s.now-at > 30*60_000:
			level, message = levelWarn, "Warning, Pump data stale"
		}
		r["clock"] = field(glucose.FromMS(at).UTC().Format(isoUTC), "Last Clock", formatAgo(at, s.now), level, message)
	}
	if res, ok := p["reservoir"]; ok && res != nil {
		v := num(res)
		level, message := levelNone, ""
		switch {
		case v < 5:
			level, message = levelUrgent, "URGENT: Pump Reservoir Low"
		case v < 10:
			level, message = levelWarn, "Warning, Pump Reservoir Low"
		}
		r["reservoir"] = field(res, "Reservoir", toPrecision3(v)+"U", level, message)
	} else if p["manufacturer"] == "Insulet" {
		r["reservoir"] = jsObject{"label": "Reservoir", "display": "50+ U"}
	}
	if o, ok := p["reservoir_display_override"]; ok && o != nil && r["reservoir"] != nil {
		r["reservoir"].(jsObject)["display"] = o
	}
	if o, ok := p["reservoir_level_override"]; ok && o != nil && r["reservoir"] != nil {
		r["reservoir"].(jsObject)["level"] = o
	}
	if st, ok := p["status"].(jsObject); ok {
		value, _ := st["status"].(string)
		if value == "" {
			value = "normal"
		}
		if truthy(st["bolusing"]) {
			value = "bolusing"
		} else if truthy(st["suspended"]) {
			value = "suspended"
		}
		r["status"] = jsObject{"value": value, "display": value, "label": "Status"}
	}
	if b, ok := p["battery"].(jsObject); ok {
		if v := num(b["percent"]); v != 0 {
			level, message := batteryLevel(v, 20, 30)
			r["battery"] = field(b["percent"], "Battery", strconv.FormatFloat(v, 'f', -1, 64)+"%", level, message)
			r["battery"].(jsObject)["unit"] = "percent"
		} else if v := num(b["voltage"]); v != 0 {
			level, message := batteryLevel(v, 1.3, 1.35)
			r["battery"] = field(b["voltage"], "Battery", strconv.FormatFloat(v, 'f', -1, 64)+"v", level, message)
			r["battery"].(jsObject)["unit"] = "volts"
		}
	}
	r["device"] = withoutNil(jsObject{"label": "Device", "display": status["device"]})
	r["title"] = "Pump Status"
	level := levelNone
	for _, name := range []string{"reservoir", "battery", "clock", "status", "device"} {
		if f, ok := r[name].(jsObject); ok {
			if l, ok := f["level"].(int); ok && l > level {
				level = l
				r["title"] = f["message"]
			}
		}
	}
	r["level"] = level
	if level > levelNone {
		var msg []string
		if b, ok := r["battery"].(jsObject); ok {
			msg = append(msg, "Pump Battery: "+b["display"].(string))
		}
		if res, ok := r["reservoir"].(jsObject); ok {
			msg = append(msg, "Pump Reservoir: "+res["display"].(string))
		}
		r["message"] = strings.Join(msg, "\n")
	}
	return r
}

func batteryLevel(v, urgent, warn float64) (int, string) {
	switch {
	case v < urgent:
		return levelUrgent, "URGENT: Pump Battery Low"
	case v < warn:
		return levelWarn, "Warning, Pump Battery Low"
	}
	return levelNone, ""
}

// loop (loop.js analyzeData): the newest loop cycle of the last 6 hours,
// its newest enactment and prediction, the last cycle without failure, and
// a symbol for its state.
func (s *sandbox) loop() any {
	result := jsObject{"lastLoop": nil, "lastEnacted": nil, "lastPredicted": nil, "lastOkMoment": nil}
	var lastLoop, lastEnacted, lastOverride jsObject
	var lastOK int64
	for _, st := range s.statusesWithin(s.now-propertyStatusSpan.Milliseconds(), s.now, "loop") {
		l, ok := st["loop"].(jsObject)
		if !ok || l["timestamp"] == nil {
			continue
		}
		at := momentMills(l["timestamp"])
		l["moment"] = isoOf(at)
		if e, ok := l["enacted"].(jsObject); ok && e["timestamp"] != nil {
			et := momentMills(e["timestamp"])
			e["moment"] = isoOf(et)
			if lastEnacted == nil || et > momentMills(lastEnacted["moment"]) {
				lastEnacted = e
			}
		}
		if lastLoop == nil || at > momentMills(lastLoop["moment"]) {
			lastLoop = l
		}
		if p, ok := l["predicted"].(jsObject); ok && p["startDate"] != nil {
			result["lastPredicted"] = p
		}
		if o, ok := st["override"].(jsObject); ok && o["timestamp"] != nil {
			ot := momentMills(o["timestamp"])
			o["moment"] = isoOf(ot)
			if lastOverride == nil || ot > momentMills(lastOverride["moment"]) {
				lastOverride = o
			}
		}
		if l["failureReason"] == nil && (lastOK == 0 || at > lastOK) {
			lastOK = at
		}
	}
	if lastLoop != nil {
		result["lastLoop"] = lastLoop
	}
	if lastEnacted != nil {
		result["lastEnacted"] = lastEnacted
	}
	if lastOverride != nil {
		result["lastOverride"] = lastOverride
	}
	if lastOK != 0 {
		result["lastOkMoment"] = isoOf(lastOK)
	}
	result["display"] = s.loopDisplay(lastLoop)
	return result
}

// loopDisplay is loop.js getDisplayForStatus, recent being half the
// warning time (15 minutes) ago.
func (s *sandbox) loopDisplay(l jsObject) jsObject {
	d := func(symbol, code, label string) jsObject {
		return jsObject{"symbol": symbol, "code": code, "label": label}
	}
	if l == nil {
		return d("⚠", "warning", "Warning")
	}
	recent := s.now - 15*60_000
	enacted, hasEnacted := l["enacted"].(jsObject)
	rtb, hasRTB := l["recommendedTempBasal"].(jsObject)
	switch {
	case l["failureReason"] != nil || hasEnacted && !truthy(enacted["received"]):
		return d("x", "error", "Error")
	case hasEnacted && momentMills(l["timestamp"]) > recent:
		return d("⌁", "enacted", "Enacted")
	case hasRTB && momentMills(rtb["timestamp"]) > recent:
		return d("⏀", "recommendation", "Recomendation")
	case momentMills(l["moment"]) > recent:
		return d("↻", "looping", "Looping")
	}
	return d("⚠", "warning", "Warning")
}

// openaps (openaps.js analyzeData): per device its newest state, and the
// newest enacted, not enacted and suggested decisions, insulin on board and
// predictions of the last 6 hours.
func (s *sandbox) openaps() any {
	devices := jsObject{}
	result := jsObject{"seenDevices": devices, "lastEnacted": nil, "lastNotEnacted": nil, "lastSuggested": nil,
		"lastIOB": nil, "lastMMTune": nil, "lastPredBGs": nil}
	recent := s.now - 15*60_000
	var lastEnacted, lastNotEnacted, lastSuggested, lastIOB, lastPred jsObject
	for _, st := range s.statusesWithin(s.now-propertyStatusSpan.Milliseconds(), s.now, "openaps") {
		o, _ := st["openaps"].(jsObject)
		if o == nil {
			o = jsObject{}
		}
		if arr, ok := o["iob"].([]any); ok && len(arr) > 0 {
			o["iob"] = arr[0]
			if i, ok := arr[0].(jsObject); ok && i["time"] != nil {
				i["timestamp"] = i["time"]
			}
		}
		uri, _ := st["device"].(string)
		if uri == "" {
			uri = "device"
		}
		dev, ok := devices[uri].(jsObject)
		if !ok {
			dev = jsObject{"name": deviceName(uri), "uri": uri}
			devices[uri] = dev
		}
		when := int64(num(st["mills"]))
		m := openapsMoments(o)
		if prev, ok := dev["status"].(jsObject); !ok || when > momentMills(prev["when"]) {
			status := openapsStatus(m, true, when, recent)
			status["when"] = isoOf(when)
			dev["status"] = status
		}
		e, _ := o["enacted"].(jsObject)
		if e != nil && m.enacted != 0 && (lastEnacted == nil || m.enacted > momentMills(lastEnacted["moment"])) {
			e["moment"] = isoOf(m.enacted)
			lastEnacted = e
			lastPred = predBGs(e, lastPred)
		}
		if e != nil && m.notEnacted != 0 && (lastNotEnacted == nil || m.notEnacted > momentMills(lastNotEnacted["moment"])) {
			e["moment"] = isoOf(m.notEnacted)
			lastNotEnacted = e
		}
		if sg, ok := o["suggested"].(jsObject); ok && m.suggested != 0 && (lastSuggested == nil || m.suggested > momentMills(lastSuggested["moment"])) {
			sg["moment"] = isoOf(m.suggested)
			lastSuggested = sg
			lastPred = predBGs(sg, lastPred)
		}
		if i, ok := o["iob"].(jsObject); ok && m.iob != 0 && (lastIOB == nil || momentMills(i["timestamp"]) > momentMills(lastIOB["moment"])) {
			i["moment"] = isoOf(m.iob)
			lastIOB = i
		}
		if mm, ok := st["mmtune"].(jsObject); ok && mm["timestamp"] != nil {
			mm["moment"] = isoOf(momentMills(mm["timestamp"]))
			if prev, ok := dev["mmtune"].(jsObject); !ok || when > momentMills(prev["moment"]) {
				dev["mmtune"] = mm
			}
		}
	}
	set := func(k string, v jsObject) {
		if v != nil {
			result[k] = v
		}
	}
	set("lastEnacted", lastEnacted)
	set("lastNotEnacted", lastNotEnacted)
	set("lastSuggested", lastSuggested)
	set("lastIOB", lastIOB)
	set("lastPredBGs", lastPred)
	var loopFrom jsObject
	switch {
	case lastEnacted != nil && lastSuggested != nil:
		loopFrom = lastSuggested
		if momentMills(lastEnacted["moment"]) > momentMills(lastSuggested["moment"]) {
			loopFrom = lastEnacted
		}
	case lastEnacted != nil:
		loopFrom = lastEnacted
	case lastSuggested != nil:
		loopFrom = lastSuggested
	}
	if loopFrom != nil {
		result["lastLoopMoment"] = loopFrom["moment"]
		if v, ok := loopFrom["eventualBG"]; ok {
			result["lastEventualBG"] = v
		}
	}
	var m moments
	if lastEnacted != nil {
		m.enacted = momentMills(lastEnacted["moment"])
	}
	if lastNotEnacted != nil {
		m.notEnacted = momentMills(lastNotEnacted["moment"])
	}
	if lastSuggested != nil {
		m.suggested = momentMills(lastSuggested["moment"])
	}
	result["status"] = openapsStatus(m, false, 0, recent)
	return result
}

// moments are openaps.js toMoments, 0 for none.
type moments struct{ enacted, notEnacted, suggested, iob int64 }

func openapsMoments(o jsObject) moments {
	var m moments
	at := func(x jsObject) int64 {
		if x["mills"] != nil {
			return int64(num(x["mills"]))
		}
		return momentMills(x["timestamp"])
	}
	if e, ok := o["enacted"].(jsObject); ok && e["timestamp"] != nil {
		if truthy(e["recieved"]) || truthy(e["received"]) {
			m.enacted = at(e)
		} else {
			m.notEnacted = at(e)
		}
	}
	if sg, ok := o["suggested"].(jsObject); ok && (sg["mills"] != nil || sg["timestamp"] != nil) {
		m.suggested = at(sg)
	}
	if i, ok := o["iob"].(jsObject); ok && (i["mills"] != nil || i["timestamp"] != nil) {
		m.iob = at(i)
	}
	return m
}

// openapsStatus is openaps.js momentsToLoopStatus.
func openapsStatus(m moments, noWarning bool, when, recent int64) jsObject {
	d := func(symbol, code, label string) jsObject {
		return jsObject{"symbol": symbol, "code": code, "label": label}
	}
	switch {
	case m.notEnacted != 0 && (m.enacted != 0 && m.notEnacted > m.enacted || m.enacted == 0 && m.notEnacted > recent):
		return d("x", "notenacted", "Not Enacted")
	case m.enacted != 0 && m.enacted > recent:
		return d("⌁", "enacted", "Enacted")
	case m.suggested != 0 && m.suggested > recent:
		return d("↻", "looping", "Looping")
	case when != 0 && (noWarning || when > recent):
		return d("◉", "waiting", "Waiting")
	}
	return d("⚠", "warning", "Warning")
}

// predBGs keeps a decision's predictions when newer than last.
func predBGs(decision, last jsObject) jsObject {
	p, ok := decision["predBGs"]
	if !ok || p == nil || last != nil && momentMills(decision["moment"]) <= momentMills(last["moment"]) {
		return last
	}
	var out jsObject
	if arr, isArr := p.([]any); isArr {
		out = jsObject{"values": arr}
	} else if o, isObj := p.(jsObject); isObj {
		out = o
	} else {
		return last
	}
	out["moment"] = decision["moment"]
	return out
}

// deviceName is utils.deviceName: the part after :// up to a slash.
func deviceName(uri string) string {
	if i := strings.LastIndex(uri, "://"); i >= 0 {
		uri = uri[i+3:]
	}
	name, _, _ := strings.Cut(uri, "/")
	return name
}

// profileStore is the active store of the newest profile.
type profileStore struct {
	store jsObject
	loc   *time.Location
}

func profileOf(d glucose.Document) *profileStore {
	o, ok := decodeObject(d.Body)
	if !ok {
		return nil
	}
	stores, _ := o["store"].(jsObject)
	name, _ := o["defaultProfile"].(string)
	store, _ := stores[name].(jsObject)
	if store == nil {
		return nil
	}
	loc := time.UTC
	if tz, ok := store["timezone"].(string); ok {
		if l, err := time.LoadLocation(strings.Replace(tz, "ETC", "Etc", 1)); err == nil {
			loc = l
		}
	}
	return &profileStore{store: store, loc: loc}
}

// valueAt is profilefunctions.js getValueByTime: a number, or the entry of
// a timed list in effect at that time of day in the profile's zone.
func (p *profileStore) valueAt(key string, at int64) (float64, bool) {
	v, ok := p.store[key]
	if !ok {
		return 0, false
	}
	list, isList := v.([]any)
	if !isList {
		f, ok := parseNum(v)
		return f, ok
	}
	t := time.UnixMilli(jsRoundInt(at, 60_000)).In(p.loc)
	secs := t.Hour()*3600 + t.Minute()*60 + t.Second()
	var found any
	for _, x := range list {
		e, _ := x.(jsObject)
		if e == nil {
			continue
		}
		start, ok := parseNum(e["timeAsSeconds"])
		if !ok {
			hh, mm, _ := strings.Cut(str(e["time"]), ":")
			h, err1 := strconv.Atoi(hh)
			m, err2 := strconv.Atoi(mm)
			if err1 != nil || err2 != nil {
				continue
			}
			start = float64(h*3600 + m*60)
		}
		if float64(secs) >= start {
			found = e["value"]
		}
	}
	f, ok := parseNum(found)
	return f, ok
}

// Helpers with JavaScript's semantics.

// num reads a number (or a numeric string, as JavaScript's arithmetic
// would); 0 for anything else.
func num(v any) float64 {
	f, _ := parseNum(v)
	return f
}

func parseNum(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	}
	return 0, false
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case json.Number, float64, int:
		return num(t) != 0
	}
	return true
}

// member reads o[a][b].
func member(o jsObject, a, b string) (any, bool) {
	inner, ok := o[a].(jsObject)
	if !ok {
		return nil, false
	}
	v, ok := inner[b]
	return v, ok && v != nil
}

func withoutNil(o jsObject) jsObject {
	for k, v := range o {
		if v == nil {
			delete(o, k)
		}
	}
	return o
}

func orNil(v any) any {
	if !truthy(v) {
		return nil
	}
	return v
}

// millsOf is a document's date (Nightscout's mills).
func millsOf(o jsObject) int64 { return int64(num(o["mills"])) }

// isoUTC is how moment.js writes a time in JSON.
const isoUTC = "2006-01-02T15:04:05.000Z"

func isoOf(ms int64) string { return glucose.FromMS(ms).UTC().Format(isoUTC) }

// momentMills parses a time as moment() does: Unix milliseconds, or an ISO
// 8601 string; 0 when it is neither.
func momentMills(v any) int64 {
	switch t := v.(type) {
	case string:
		if at, ok := parseLooseTime(t); ok {
			return at.UnixMilli()
		}
		return 0
	case nil:
		return 0
	}
	return int64(num(v))
}

// jsRound is JavaScript's Math.round: halves round up.
func jsRound(f float64) float64 { return math.Floor(f + 0.5) }

func jsRoundInt(ms, unit int64) int64 { return int64(jsRound(float64(ms)/float64(unit))) * unit }

// round3 rounds to three decimals as iob.js does.
func round3(f float64) float64 { return jsRound(f*1000) / 1000 }

// toPrecision3 is JavaScript's Number.prototype.toPrecision(3) for the
// reservoir's units (halves round up: 120.5 is "121").
func toPrecision3(v float64) string {
	if v == 0 {
		return "0.00"
	}
	digits := 3 - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	p := math.Pow(10, float64(digits))
	rounded := jsRound(v*p) / p
	return strconv.FormatFloat(rounded, 'f', max(digits, 0), 64)
}

// formatAgo is utils.formatAgo in English: "5m ago", "2h ago".
func formatAgo(at, now int64) string {
	since := now - at
	const minute, hour, day = 60_000, 3_600_000, 86_400_000
	ago := func(n int64, unit string) string {
		return strconv.FormatInt(max(1, int64(jsRound(float64(since)/float64(n)))), 10) + unit + " ago"
	}
	switch {
	case at-5*minute > now:
		return "future"
	case at > now:
		return "1m ago"
	case since < hour:
		return ago(minute, "m")
	case since < day:
		return ago(hour, "h")
	case since < 7*day:
		return ago(day, "d")
	}
	return "ago"
}
