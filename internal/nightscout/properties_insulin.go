package nightscout

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Insulin and carbs on board (lib/plugins/iob.js, cob.js), the glucose
// Nightscout gives a treatment (lib/data/treatmenttocurve.js), and the
// profile they read (lib/profilefunctions.js).

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
