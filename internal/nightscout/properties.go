package nightscout

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// API v2 properties (lib/api2/properties.js): the values Nightscout's
// plugins compute from the newest data — the current reading and its
// delta (bgnow, delta, buckets, direction, rawbg), the uploader's battery
// (upbat), insulin and carbs on board (iob, cob), and the state of the
// pump and of the closed loop (pump, loop, openaps). Watch faces, Nightguard
// and menu-bar apps read only this endpoint.
//
// Nightscout computes them from the data it keeps in memory; glucoshare
// reads what each asked property needs, in bounded windows: the readings
// of the last 20 minutes before the newest (at most propertyReadings), the
// device statuses of the last 6 hours (at most propertyStatuses), the
// treatments of the last day (at most propertyTreatments) and the newest
// profile. properties_plugins.go computes each property as the plugin of
// the same name does; docs/nightscout.md says where the results differ.

const (
	// propertyReadings bounds the readings read: the four 5-minute buckets
	// hold at most 20 of a CGM that reads every minute, and a few more in
	// the future are skipped.
	propertyReadings = 24
	// propertyReadingsSpan is how old the newest reading may be: what
	// Nightscout keeps loaded (two days).
	propertyReadingsSpan = 48 * time.Hour
	// propertyStatusSpan is the longest look back of a plugin over device
	// statuses (loop and openaps, 6 hours); propertyStatuses bounds how
	// many are read, newest first (a loop uploads one every 5 minutes).
	propertyStatusSpan = 6 * time.Hour
	propertyStatuses   = 150
	// propertyTreatmentSpan and propertyTreatments bound the treatments
	// read for insulin and carbs on board.
	propertyTreatmentSpan = 24 * time.Hour
	propertyTreatments    = 300
	// propertyFuture is how far after now device statuses still count
	// (iob and cob allow clocks 5 minutes ahead).
	propertyFuture = 5 * time.Minute
)

// propertyNames are the properties glucoshare computes, in the order the
// plugins run (the first to offer a property wins in Nightscout).
var propertyNames = []string{"bgnow", "delta", "buckets", "rawbg", "direction", "upbat", "iob", "cob", "pump", "openaps", "loop"}

// statusPlugins are the plugins that read (and amend) device statuses.
var statusPlugins = map[string]bool{"upbat": true, "iob": true, "cob": true, "pump": true, "openaps": true, "loop": true}

// GET /api/v2/properties, /api/v2/properties/{names}
// lib/api2/properties.js: every property, or those named by the first path
// segment, comma-separated; unknown names are left out. It needs
// api:entries:read and api:treatments:read.
func (a *API) properties(c *call) error {
	if !c.acc.Permits("api:treatments:read") {
		return core.ErrNightscoutDenied
	}
	want := selectedProperties(c.r.PathValue("names"))
	sbx, err := a.loadSandbox(c, want)
	if err != nil {
		return err
	}
	sbx.readingsAround = func(at int64) (int, int, error) { return a.readingsAround(c, at) }
	out := map[string]any{}
	for _, name := range propertyNames {
		if !want[name] && !(sbx.haveStatuses && statusPlugins[name]) {
			continue
		}
		if v, ok := sbx.property(name); ok && want[name] {
			out[name] = finite(v)
		}
	}
	if sbx.err != nil {
		return sbx.err
	}
	if c.r.URL.Query().Get("pretty") != "" {
		b, _ := json.MarshalIndent(out, "", "  ") // maps of decoded JSON always encode
		writeBody(c.w, http.StatusOK, b)
		return nil
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// selectedProperties reads the names of the path (all when none); only
// the first segment counts, as in Nightscout.
func selectedProperties(path string) map[string]bool {
	first, _, _ := strings.Cut(path, "/")
	want := map[string]bool{}
	for _, n := range strings.Split(first, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	if len(want) == 0 {
		for _, n := range propertyNames {
			want[n] = true
		}
	}
	return want
}

// needs tells which stored data a set of properties reads.
func needs(want map[string]bool, names ...string) bool {
	for _, n := range names {
		if want[n] {
			return true
		}
	}
	return false
}

// loadSandbox reads what the wanted properties need, in bounded windows,
// in one read transaction. A follower limited to the current value gets
// the newest reading alone and no documents: core enforces both.
func (a *API) loadSandbox(c *call, want map[string]bool) (sbx *sandbox, err error) {
	acct, err := a.account(c)
	if err != nil {
		return nil, err
	}
	now := c.now.UnixMilli()
	sbx = &sandbox{now: now, mmol: acct.Units.Or(glucose.DefaultUnits).Mmol()}
	err = a.svc.NightscoutView(c.ctx, c.acc, func(r core.NightscoutReader) (err error) {
		if needs(want, "bgnow", "delta", "buckets", "direction", "rawbg") {
			rs, err := r.Readings(now-propertyReadingsSpan.Milliseconds(), now+1, propertyReadings)
			if err != nil {
				return err
			}
			for i := len(rs) - 1; i >= 0; i-- { // oldest first, as Nightscout keeps them
				r := rs[i]
				sbx.sgvs = append(sbx.sgvs, &propSGV{ID: r.EntryID(c.acc.AccountID), Mgdl: r.Value, Mills: r.ST,
					Device: device, Direction: share.NightscoutDirection(r.Trend), Type: "sgv"})
			}
		}
		if needs(want, "upbat", "iob", "cob", "pump", "openaps", "loop") {
			from := now - propertyStatusSpan.Milliseconds()
			if sbx.statuses, err = documents(r, glucose.CollectionDeviceStatus, from, now+propertyFuture.Milliseconds(), propertyStatuses); err != nil {
				return err
			}
			for _, s := range sbx.statuses {
				uploaderOf(s)
			}
			sbx.haveStatuses = true
		}
		if needs(want, "iob", "cob") {
			from := now - propertyTreatmentSpan.Milliseconds()
			if sbx.treatments, err = documents(r, glucose.CollectionTreatments, from, now, propertyTreatments); err != nil {
				return err
			}
			profiles, err := r.FindDocuments(glucose.CollectionProfile, glucose.DocQuery{Sort: byStartDate, Limit: 1,
				Where: []glucose.Cond{{Field: glucose.FieldDate, Op: glucose.OpLte, Values: []glucose.Value{glucose.Num(float64(now))}}}})
			if err != nil {
				return err
			}
			if len(profiles) == 1 {
				sbx.profile = profileOf(profiles[0])
			}
		}
		return nil
	})
	return sbx, err
}

// documents reads a collection's documents dated from <= date <= to,
// newest first at most max, and returns them oldest first, each decoded
// with its _id and mills (its date), as Nightscout holds them in memory.
func documents(r core.NightscoutReader, collection string, from, to int64, max int) ([]jsObject, error) {
	ds, err := r.FindDocuments(collection, glucose.DocQuery{
		Where: []glucose.Cond{
			{Field: glucose.FieldDate, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(from))}},
			{Field: glucose.FieldDate, Op: glucose.OpLte, Values: []glucose.Value{glucose.Num(float64(to))}},
		},
		Sort:  []glucose.SortKey{{Field: glucose.FieldDate, Desc: true}},
		Limit: max,
	})
	if err != nil {
		return nil, err
	}
	out := make([]jsObject, 0, len(ds))
	for i := len(ds) - 1; i >= 0; i-- {
		o, ok := decodeObject(ds[i].Body)
		if !ok {
			continue
		}
		o["_id"] = ds[i].ID
		o["mills"] = json.Number(strconv.FormatInt(ds[i].Date, 10))
		out = append(out, o)
	}
	return out, nil
}

// readingsAround returns the values of the newest reading at or before at
// and of the oldest at or after it (0 when none), within the two days
// Nightscout keeps loaded.
func (a *API) readingsAround(c *call, at int64) (before, after int, err error) {
	from := c.now.UnixMilli() - propertyReadingsSpan.Milliseconds()
	rs, err := a.svc.NightscoutReadings(c.ctx, c.acc, from, at+1, 1)
	if err != nil {
		return 0, 0, err
	}
	if len(rs) == 1 {
		before = rs[0].Value
	}
	es, err := a.svc.FindEntries(c.ctx, c.acc, glucose.DocQuery{
		Where: []glucose.Cond{
			{Field: "type", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str("sgv")}},
			{Field: glucose.FieldDate, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(at))}},
			{Field: glucose.FieldDate, Op: glucose.OpLte, Values: []glucose.Value{glucose.Num(float64(c.now.UnixMilli()))}},
		},
		Sort:  []glucose.SortKey{{Field: glucose.FieldDate}},
		Limit: 1,
	})
	if err != nil {
		return 0, 0, err
	}
	if len(es) == 1 && es[0].Reading != nil {
		after = es[0].Reading.Value
	}
	return before, after, nil
}

// finite replaces numbers JSON cannot hold (the infinities and NaN that
// absurd uploaded amounts can produce) with null, all the way down.
func finite(v any) any {
	switch t := v.(type) {
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil
		}
	case jsObject:
		for k, x := range t {
			t[k] = finite(x)
		}
	case []any:
		for i, x := range t {
			t[i] = finite(x)
		}
	}
	return v
}

// uploaderOf moves uploaderBattery into uploader.battery, as Nightscout
// does when it loads device statuses.
func uploaderOf(s jsObject) {
	if b, ok := s["uploaderBattery"]; ok {
		s["uploader"] = jsObject{"battery": b}
		delete(s, "uploaderBattery")
	}
}

// decodeObject decodes a stored body, keeping numbers as written.
func decodeObject(body []byte) (jsObject, bool) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return normalise(v).(jsObject), true
}

// normalise turns decoded maps into jsObjects, all the way down.
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		o := jsObject(t)
		for k, x := range o {
			o[k] = normalise(x)
		}
		return o
	case []any:
		for i, x := range t {
			t[i] = normalise(x)
		}
	}
	return v
}
