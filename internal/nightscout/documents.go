package nightscout

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// The document collections of API v1: treatments, devicestatus,
// profile, food and activity (lib/api/<collection>/index.js,
// lib/server/<collection>.js).
//
// Uploaded text is stored as it came: Nightscout passes strings through
// DOMPurify for its own web pages, which glucoshare does not serve from
// these documents (its dashboard escapes what it shows), so apps read back
// exactly what they wrote.

// v1Document renders a stored document as API v1 shows it: _id first,
// then the document's members.
func v1Document(d glucose.Document) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"_id":"`)
	buf.WriteString(d.ID)
	buf.WriteByte('"')
	if len(d.Body) > 2 {
		buf.WriteByte(',')
		buf.Write(d.Body[1:])
	} else {
		buf.WriteByte('}')
	}
	return buf.Bytes()
}

// documentsJSON renders documents as an array, each through shape when
// it is not nil.
func documentsJSON(ds []glucose.Document, shape func(*nsdoc.Object)) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, d := range ds {
		if i > 0 {
			buf.WriteByte(',')
		}
		out := v1Document(d)
		if shape != nil {
			if o, err := nsdoc.ParseObject(out); err == nil {
				shape(o)
				out = o.Bytes()
			}
		}
		buf.Write(out)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// takeIDs removes _id from a document and returns it, with the
// identifier: a valid _id (24 hex digits) is the document's; a UUID in
// _id becomes the identifier when uuids says so and none is given
// (UUID_HANDLING, Loop and Trio send their sync ids there); another _id is
// dropped.
func takeIDs(o *nsdoc.Object, uuids bool) (id, identifier string, err error) {
	identifier, _ = o.String("identifier")
	raw, has := o.String("_id")
	o.Delete("_id")
	switch {
	case !has:
	case isObjectID(raw):
		id = strings.ToLower(raw)
	case uuids && identifier == "" && raw != "":
		identifier = raw
		o.Set("identifier", raw)
	}
	return id, identifier, nil
}

// checkIDs refuses documents whose _id is present and not 24 hex digits
// (lib/api/shared/objectid-validation.js findInvalidId).
func checkIDs(objs []*nsdoc.Object, forNew bool) error {
	for _, o := range objs {
		if raw := o.Raw("_id"); raw != nil && string(raw) != "null" {
			if s, ok := o.String("_id"); !ok || !isObjectID(s) {
				return invalidID(raw, forNew)
			}
		}
	}
	return nil
}

// invalidID is objectid-validation's 400 answer.
func invalidID(raw json.RawMessage, forNew bool) error {
	got := string(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		got = s
	}
	desc := "Must be 24-character hex string. Got: " + got
	if forNew {
		desc = "Must be 24-character hex string or omit for auto-generation. Got: " + got
	}
	return &badRequest{status: http.StatusBadRequest, message: "Invalid _id format", description: desc}
}

// matchRules is the order Nightscout finds the document an upload
// replaces: its identifier, else its _id, else the fallback fields.
func matchRules(id, identifier string, fallback []glucose.Cond) [][]glucose.Cond {
	switch {
	case identifier != "":
		return [][]glucose.Cond{{{Field: glucose.FieldIdentifier, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(identifier)}}}}
	case id != "":
		return [][]glucose.Cond{{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(id)}}}}
	}
	return [][]glucose.Cond{fallback}
}

// byID replaces the document with the given _id, if any.
func byID(id string) [][]glucose.Cond {
	if id == "" {
		return nil
	}
	return matchRules(id, "", nil)
}

// write stores documents and answers them as API v1 echoes them.
func (a *API) write(c *call, collection string, ws []core.DocumentWrite) ([]glucose.Document, error) {
	if len(ws) == 0 {
		return []glucose.Document{}, nil
	}
	return a.svc.WriteDocuments(c.ctx, c.acc, collection, ws, c.now)
}

// find runs a v1 query on a collection.
func (a *API) find(c *call, collection string, q glucose.DocQuery) ([]glucose.Document, error) {
	return a.svc.FindDocuments(c.ctx, c.acc, collection, q)
}

// newestCreated is the newest created_at of documents, for Last-Modified.
func newestCreated(ds []glucose.Document) int64 {
	newest := int64(math.MinInt64)
	for _, d := range ds {
		if d.HasDate {
			newest = max(newest, d.Date)
		}
	}
	return newest
}

// isoNow is the time as created_at writes it.
func isoNow(now time.Time) string { return now.UTC().Format(isoMillis) }

// normalizeCreatedAt rewrites created_at in UTC and records its offset
// in utcOffset, as lib/server/treatments.js and devicestatus.js do; an
// unreadable or missing created_at becomes now.
func normalizeCreatedAt(o *nsdoc.Object, now time.Time) time.Time {
	t := now.UTC()
	offset := 0
	if s, ok := o.String("created_at"); ok {
		if z, ok := parseLooseTime(s); ok {
			_, secs := z.Zone()
			t, offset = z.UTC(), secs/60
		}
	} else if ms, ok := o.Number("created_at"); ok && math.Abs(ms) <= glucose.MaxMS {
		t = glucose.FromMS(int64(ms))
	}
	o.Set("created_at", t.Format(isoMillis))
	o.Set("utcOffset", offset)
	return t
}

// parseLooseTime reads the date forms moment.js accepts from clients,
// keeping the zone (none is UTC).
func parseLooseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsNumber is JavaScript's Number(x) of a member, written as JSON: a
// number stays, a numeric string becomes its number, null and "" are 0,
// booleans 0 and 1, and what is missing or not a number is NaN, which
// JSON writes as null.
func jsNumber(o *nsdoc.Object, key string) float64 {
	raw := o.Raw(key)
	switch {
	case raw == nil:
		return math.NaN()
	case string(raw) == "null":
		return 0.0
	case string(raw) == "true":
		return 1.0
	case string(raw) == "false":
		return 0.0
	}
	if f, ok := o.Number(key); ok {
		return f
	}
	if s, ok := o.String(key); ok {
		s = strings.TrimSpace(s)
		if s == "" {
			return 0.0
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return math.NaN()
}

// setNumber sets a member to Number(member).
func setNumber(o *nsdoc.Object, key string) {
	o.Set(key, jsNumber(o, key))
}

// truthyNumber reports whether Number(member) is neither 0 nor NaN.
func truthyNumber(o *nsdoc.Object, key string) bool {
	f := jsNumber(o, key)
	return f != 0 && !math.IsNaN(f)
}

// ---- treatments (lib/api/treatments/index.js, lib/server/treatments.js)

// GET /api/v1/treatments(.json)
// The newest first by created_at, count of them (100, or 1000 with a
// find); carbs and insulin are always present, as Number() of what was
// stored (null when there was nothing), as serveTreatments writes them.
func (a *API) listTreatments(c *call) error {
	values := c.r.URL.Query()
	def := 100
	for k := range values {
		if strings.HasPrefix(k, "find[") {
			def = 1000
		}
	}
	q, err := parseV1Query(values, v1Treatments, c.now, def)
	if err != nil {
		return err
	}
	ds, err := a.find(c, glucose.CollectionTreatments, q)
	if err != nil {
		return err
	}
	if notModified(c, newestCreated(ds)) {
		return nil
	}
	writeBody(c.w, http.StatusOK, documentsJSON(ds, func(o *nsdoc.Object) {
		setNumber(o, "carbs")
		setNumber(o, "insulin")
	}))
	return nil
}

// POST /api/v1/treatments(.json)
// One treatment or an array; each is prepared as prepareData does and
// replaces the treatment with its identifier, else its _id, else its
// created_at and eventType. The answer is what was stored.
func (a *API) postTreatments(c *call) error {
	objs, err := readDocuments(c.r)
	if err != nil {
		return err
	}
	var ws []core.DocumentWrite
	for _, o := range objs {
		if !o.Has("created_at") || o.IsNull("created_at") {
			o.Set("created_at", isoNow(c.now))
		}
		main, extra := treatmentWrites(o, c.now)
		ws = append(ws, main)
		if extra != nil {
			ws = append(ws, *extra)
		}
	}
	stored, err := a.write(c, glucose.CollectionTreatments, ws)
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, documentsJSON(stored, nil))
	return nil
}

// treatmentWrites prepares a treatment (prepareData, normalizeTreatmentId,
// upsertQueryFor) and, for a pre-bolus with carbs, the carbs treatment
// Nightscout adds preBolus minutes later.
func treatmentWrites(o *nsdoc.Object, now time.Time) (core.DocumentWrite, *core.DocumentWrite) {
	id, identifier, _ := takeIDs(o, true)
	created := normalizeCreatedAt(o, now)
	for _, k := range []string{"glucose", "targetTop", "targetBottom", "carbs", "insulin", "duration", "percent",
		"absolute", "relative", "preBolus"} {
		setNumber(o, k)
	}
	if s, ok := o.String("eventTime"); ok {
		if t, ok := parseLooseTime(s); ok {
			created = t.UTC()
			o.Set("created_at", created.Format(isoMillis))
		}
	}
	o.Delete("eventTime")
	var preBolusCarbs json.RawMessage
	preBolus, _ := o.Number("preBolus")
	if truthyNumber(o, "preBolus") && truthyNumber(o, "carbs") {
		preBolusCarbs = o.Raw("carbs")
		o.Delete("carbs")
	}
	if s, _ := o.String("eventType"); s == "Announcement" {
		o.Set("isAnnouncement", true)
	}
	for _, k := range []string{"targetTop", "targetBottom", "carbs", "insulin", "percent", "relative", "preBolus"} {
		if !truthyNumber(o, k) {
			o.Delete(k)
		}
	}
	if raw := o.Raw("notes"); raw != nil && (string(raw) == `""` || string(raw) == "null" || string(raw) == "0" || string(raw) == "false") {
		o.Delete("notes")
	}
	for _, k := range []string{"absolute", "duration"} {
		if string(o.Raw(k)) == "null" { // NaN
			o.Delete(k)
		}
	}
	if !truthyNumber(o, "glucose") {
		o.Delete("glucose")
		o.Delete("glucoseType")
		o.Delete("units")
	}
	eventType := glucose.Null
	if s, ok := o.String("eventType"); ok {
		eventType = glucose.Str(s)
	}
	main := core.DocumentWrite{Body: o.Bytes(), ID: id, Identifier: identifier,
		Match: matchRules(id, identifier, createdAndType(created, eventType))}
	if preBolusCarbs == nil {
		return main, nil
	}
	pb := &nsdoc.Object{}
	at := created.Add(time.Duration(preBolus * float64(time.Minute)))
	pb.Set("created_at", at.Format(isoMillis))
	pb.SetRaw("eventType", o.Raw("eventType"))
	pb.SetRaw("carbs", preBolusCarbs)
	if notes := o.Raw("notes"); notes != nil {
		pb.SetRaw("notes", notes)
	}
	return main, &core.DocumentWrite{Body: pb.Bytes(), Match: [][]glucose.Cond{createdAndType(at, eventType)}}
}

// createdAndType matches a treatment by created_at and eventType.
func createdAndType(created time.Time, eventType glucose.Value) []glucose.Cond {
	return []glucose.Cond{
		{Field: glucose.FieldDate, Op: glucose.OpEq, Values: []glucose.Value{glucose.Num(float64(created.UnixMilli()))}},
		{Field: "eventType", Op: glucose.OpEq, Values: []glucose.Value{eventType}},
	}
}

// PUT /api/v1/treatments(.json)
// One treatment, prepared and matched as a POST (storage save); the
// answer is the treatment stored.
func (a *API) putTreatments(c *call) error {
	o, err := readObject(c.r)
	if err != nil {
		return err
	}
	w, _ := treatmentWrites(o, c.now)
	stored, err := a.write(c, glucose.CollectionTreatments, []core.DocumentWrite{w})
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, v1Document(stored[0]))
	return nil
}

// readObject reads a body of one object.
func readObject(r *http.Request) (*nsdoc.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return nsdoc.ParseObject(body)
}

// DELETE /api/v1/treatments/{id}
// Deletes the treatment with the _id (a UUID: with the identifier); "*"
// deletes what the query finds.
func (a *API) deleteTreatment(c *call) error {
	return a.deleteMatching(c, glucose.CollectionTreatments, v1Treatments, withID(c.r.URL.Query(), c.r.PathValue("id")))
}

// DELETE /api/v1/treatments(.json): what the query finds (the last four
// days without a date condition).
func (a *API) deleteTreatments(c *call) error {
	return a.deleteMatching(c, glucose.CollectionTreatments, v1Treatments, c.r.URL.Query())
}

// withID sets find[_id], as the delete routes do; "*" matches any.
func withID(values url.Values, id string) url.Values {
	out := url.Values{}
	for k, v := range values {
		if k != "find[_id]" {
			out[k] = v
		}
	}
	if id != "*" {
		out.Set("find[_id]", id)
	}
	return out
}

func (a *API) deleteMatching(c *call, collection string, coll v1Collection, values url.Values) error {
	q, err := parseV1Query(values, coll, c.now, defaultCount)
	if err != nil {
		return err
	}
	n, err := a.svc.DeleteDocuments(c.ctx, c.acc, collection, q, c.now)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, deleted{true, n})
	return nil
}

// ---- devicestatus (lib/api/devicestatus/index.js, lib/server/devicestatus.js)

// GET /api/v1/devicestatus(.json): the newest first by created_at, count
// of them (default 10).
func (a *API) listDeviceStatus(c *call) error {
	q, err := parseV1Query(c.r.URL.Query(), v1DeviceStatus, c.now, 10)
	if err != nil {
		return err
	}
	return a.listAll(c, glucose.CollectionDeviceStatus, q)
}

// POST /api/v1/devicestatus(.json)
// One status or an array, each with its created_at in UTC and its offset
// in utcOffset; an _id must be 24 hex digits. Nightscout inserts them
// (a repeated _id fails there); glucoshare replaces the status with that
// _id, so that a retried upload is harmless.
func (a *API) postDeviceStatus(c *call) error {
	objs, err := readDocuments(c.r)
	if err != nil {
		return err
	}
	if err := checkIDs(objs, true); err != nil {
		return err
	}
	ws := make([]core.DocumentWrite, len(objs))
	for i, o := range objs {
		id, _, _ := takeIDs(o, false)
		normalizeCreatedAt(o, c.now)
		ws[i] = core.DocumentWrite{Body: o.Bytes(), ID: id, Match: byID(id)}
	}
	stored, err := a.write(c, glucose.CollectionDeviceStatus, ws)
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, documentsJSON(stored, nil))
	return nil
}

// DELETE /api/v1/devicestatus/{id}: an _id of 24 hex digits, or "*".
func (a *API) deleteDeviceStatus(c *call) error {
	id := c.r.PathValue("id")
	if id != "*" && !isObjectID(id) {
		raw, _ := json.Marshal(id)
		return invalidID(raw, false)
	}
	return a.deleteMatching(c, glucose.CollectionDeviceStatus, v1DeviceStatus, withID(c.r.URL.Query(), strings.ToLower(id)))
}

// DELETE /api/v1/devicestatus(.json): what the query finds.
func (a *API) deleteDeviceStatuses(c *call) error {
	return a.deleteMatching(c, glucose.CollectionDeviceStatus, v1DeviceStatus, c.r.URL.Query())
}

// ---- profile (lib/api/profile/index.js, lib/server/profile.js)

// profilesDefaultCount is PROFILES_DEFAULT_COUNT.
const profilesDefaultCount = 10

// byStartDate is the profiles' order: newest start first.
var byStartDate = []glucose.SortKey{{Field: glucose.FieldDate, Desc: true}}

// GET /api/v1/profile(.json): the count (default 10) profiles that start
// last, whatever their age.
func (a *API) listProfiles(c *call) error {
	count := profilesDefaultCount
	if n, ok := jsParseInt(c.r.URL.Query().Get("count")); ok && n > 0 {
		count = int(min(n, maxCount))
	}
	return a.listAll(c, glucose.CollectionProfile, glucose.DocQuery{Sort: byStartDate, Limit: count})
}

// GET /api/v1/profile/current(.json): the profile that starts last, as an
// object, or null.
func (a *API) currentProfile(c *call) error {
	ds, err := a.find(c, glucose.CollectionProfile, glucose.DocQuery{Sort: byStartDate, Limit: 1})
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		writeBody(c.w, http.StatusOK, []byte("null"))
		return nil
	}
	writeBody(c.w, http.StatusOK, v1Document(ds[0]))
	return nil
}

// GET /api/v1/profiles(.json): a query (list_query) on startDate, which
// like every query searches the last four days without a date
// condition.
func (a *API) queryProfiles(c *call) error {
	q, err := parseV1Query(c.r.URL.Query(), v1Profiles, c.now, profilesDefaultCount)
	if err != nil {
		return err
	}
	if len(q.Sort) == 0 {
		q.Sort = byStartDate
	}
	return a.listAll(c, glucose.CollectionProfile, q)
}

// POST /api/v1/profile(.json): one profile or an array, created_at set
// when missing; an _id must be 24 hex digits.
func (a *API) postProfiles(c *call) error {
	return a.postPlain(c, glucose.CollectionProfile, false)
}

// PUT /api/v1/profile(.json): one profile, replacing the one with its
// _id (a new one without); the answer is the profile.
func (a *API) putProfile(c *call) error {
	return a.putOne(c, glucose.CollectionProfile)
}

// postPlain stores new documents with created_at (set to now when
// missing, or always when stamp) and answers them.
func (a *API) postPlain(c *call, collection string, stamp bool) error {
	return a.storePlain(c, collection, stamp, true)
}

// storePlain stores documents, each replacing the one with its _id, with
// created_at set to now when missing (or always when stamp), and answers
// them; forNew phrases the error of a bad _id for a POST.
func (a *API) storePlain(c *call, collection string, stamp, forNew bool) error {
	objs, err := readDocuments(c.r)
	if err != nil {
		return err
	}
	if err := checkIDs(objs, forNew); err != nil {
		return err
	}
	ws := make([]core.DocumentWrite, len(objs))
	for i, o := range objs {
		id, _, _ := takeIDs(o, false)
		if stamp || !o.Has("created_at") {
			o.Set("created_at", isoNow(c.now))
		}
		ws[i] = core.DocumentWrite{Body: o.Bytes(), ID: id, Match: byID(id)}
	}
	stored, err := a.write(c, collection, ws)
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, documentsJSON(stored, nil))
	return nil
}

// putOne replaces the document with the body's _id (storage save).
func (a *API) putOne(c *call, collection string) error {
	o, err := readObject(c.r)
	if err != nil {
		return err
	}
	if err := checkIDs([]*nsdoc.Object{o}, false); err != nil {
		return err
	}
	id, _, _ := takeIDs(o, false)
	if !o.Has("created_at") {
		o.Set("created_at", isoNow(c.now))
	}
	stored, err := a.write(c, collection, []core.DocumentWrite{{Body: o.Bytes(), ID: id, Match: byID(id)}})
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, v1Document(stored[0]))
	return nil
}

// deleteByID answers DELETE /api/v1/<collection>/{id}: an _id of 24 hex
// digits, deleted; the answer is {}.
func (a *API) deleteByID(collection string) handlerFunc {
	return func(c *call) error {
		id := c.r.PathValue("id")
		if !isObjectID(id) {
			raw, _ := json.Marshal(id)
			return invalidID(raw, false)
		}
		q := glucose.DocQuery{Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(strings.ToLower(id))}}}}
		if _, err := a.svc.DeleteDocuments(c.ctx, c.acc, collection, q, c.now); err != nil {
			return err
		}
		writeBody(c.w, http.StatusOK, []byte("{}"))
		return nil
	}
}

// ---- food (lib/api/food/index.js, lib/server/food.js)

// byCreation is the order documents were stored in (MongoDB's natural
// order, which food lists use).
var byCreation = []glucose.SortKey{{Field: glucose.FieldSrvCreated}}

// GET /api/v1/food(.json): every food.
func (a *API) listFood(c *call) error {
	return a.listAll(c, glucose.CollectionFood, glucose.DocQuery{Sort: byCreation, Limit: maxCount})
}

// GET /api/v1/food/quickpicks: type "quickpick" and hidden "false", by
// position.
func (a *API) listQuickpicks(c *call) error {
	return a.listAll(c, glucose.CollectionFood, glucose.DocQuery{Limit: maxCount,
		Where: []glucose.Cond{
			{Field: "type", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str("quickpick")}},
			{Field: "hidden", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str("false")}}},
		Sort: []glucose.SortKey{{Field: "position"}}})
}

// GET /api/v1/food/regular: type "food".
func (a *API) listRegularFood(c *call) error {
	return a.listAll(c, glucose.CollectionFood, glucose.DocQuery{Limit: maxCount, Sort: byCreation,
		Where: []glucose.Cond{{Field: "type", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str("food")}}}})
}

// listAll answers the documents a query finds.
func (a *API) listAll(c *call, collection string, q glucose.DocQuery) error {
	ds, err := a.find(c, collection, q)
	if err != nil {
		return err
	}
	writeBody(c.w, http.StatusOK, documentsJSON(ds, nil))
	return nil
}

// POST /api/v1/food(.json): one food or an array; created_at is always
// the time of the upload.
func (a *API) postFood(c *call) error {
	return a.postPlain(c, glucose.CollectionFood, true)
}

// PUT /api/v1/food(.json): one food or an array, each replacing the food
// with its _id (a new one without); the answer is an array.
func (a *API) putFood(c *call) error {
	return a.storePlain(c, glucose.CollectionFood, false, false)
}

// ---- activity (lib/api/activity/index.js, lib/server/activity.js)

// GET /api/v1/activity(.json): the newest first by created_at (the last
// four days without a date condition), count of them when given.
func (a *API) listActivity(c *call) error {
	q, err := parseV1Query(c.r.URL.Query(), v1Activity, c.now, maxCount)
	if err != nil {
		return err
	}
	ds, err := a.find(c, glucose.CollectionActivity, q)
	if err != nil {
		return err
	}
	if notModified(c, newestCreated(ds)) {
		return nil
	}
	writeBody(c.w, http.StatusOK, documentsJSON(ds, nil))
	return nil
}

// POST /api/v1/activity(.json): one record or an array, created_at set
// when missing.
func (a *API) postActivity(c *call) error {
	return a.postPlain(c, glucose.CollectionActivity, false)
}

// PUT /api/v1/activity(.json): one record, by its _id.
func (a *API) putActivity(c *call) error {
	return a.putOne(c, glucose.CollectionActivity)
}
