package nightscout

import (
	"sort"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The plugins over device statuses: upbat, pump, loop and openaps
// (lib/plugins/upbat.js, pump.js, loop.js, openaps.js).

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
			if st := x.(jsObject); num(st["mills"]) > recent {
				min = lowerBattery(min, st)
			}
		}
		if min == nil {
			continue // no percentage reported: lodash's minBy finds none
		}
		d["min"] = min["uploader"]
		lowest = lowerBattery(lowest, min)
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
	if _, ok := batteryOf(u); !ok {
		return // a voltage alone raises no notification
	}
	switch {
	case battery <= 30 && battery > 20:
		u["notification"] = levelWarn
	case battery <= 20:
		u["notification"] = levelUrgent
	}
}

// lowerBattery returns whichever of two statuses reports the lower
// battery; a status without one never wins (nil when neither has one).
func lowerBattery(a, b jsObject) jsObject {
	vb, okb := batteryOf(b["uploader"])
	if !okb {
		return a
	}
	if va, oka := batteryOf(a["uploader"]); oka && va <= vb {
		return a
	}
	return b
}

// batteryOf is an uploader's battery percentage, when it has one.
func batteryOf(u any) (float64, bool) {
	o, _ := u.(jsObject)
	return parseNum(o["battery"])
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
