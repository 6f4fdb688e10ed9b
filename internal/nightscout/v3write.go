package nightscout

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// API v3's writes: create (with deduplication), update, patch and delete,
// as lib/api3/generic/{create,update,patch,delete} do them.

// serverFields are the members API v3 shows from storage columns, never
// kept in a stored body. isValid is kept when true (clients send it);
// deletion is the store's flag.
var serverFields = []string{"_id", "identifier", "srvModified", "srvCreated"}

// immutable are the members update/validate.js refuses to change.
var immutable = []string{"identifier", "date", "utcOffset", "eventType", "device", "app",
	"srvCreated", "subject", "srvModified", "modifiedBy", "isValid"}

// decodeV3 decodes an API v3 request body: one non-empty JSON object.
func decodeV3(body []byte) (*nsdoc.Object, error) {
	o, err := nsdoc.ParseObject(body) // an empty body is no JSON
	if err != nil || o.Len() == 0 {
		return nil, v3Err(http.StatusBadRequest, msgBadBody)
	}
	return o, nil
}

// readV3Document reads and decodes the body of a create or an update as
// collection.js prepares it: its dates parsed and its identifier resolved.
func readV3Document(c *call) (*nsdoc.Object, error) {
	body, err := readBody(c.r)
	if err != nil {
		return nil, err
	}
	o, err := decodeV3(body)
	if err != nil {
		return nil, err
	}
	v3ParseDate(o)
	resolveIdentifier(o)
	return o, nil
}

// v3ParseDate is collection.js's parseDate: date (else created_at) as
// milliseconds, utcOffset from its zone when missing, created_at as its
// ISO 8601 in UTC.
func v3ParseDate(o *nsdoc.Object) {
	for _, key := range []string{"date", "created_at"} {
		raw := o.Raw(key)
		if raw == nil || !jsTruthy(raw) {
			continue
		}
		ms, off, ok := v3TimeZone(raw)
		if !ok {
			continue
		}
		o.Set("date", ms)
		if !o.Has("utcOffset") {
			o.Set("utcOffset", off)
		}
		o.Set("created_at", glucose.FromMS(ms).UTC().Format(isoMillis))
		return
	}
}

// jsTruthy is JavaScript's truthiness of a JSON value.
func jsTruthy(raw json.RawMessage) bool {
	switch s := string(raw); s {
	case "null", "false", `""`, "0":
		return false
	default:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f != 0
		}
		return true
	}
}

// jsString is String(value) in JavaScript, for the members a calculated
// identifier is made of.
func jsString(raw json.RawMessage) string {
	if raw == nil {
		return "undefined"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	if bytes.HasPrefix(raw, []byte("{")) {
		return "[object Object]"
	}
	return string(raw)
}

// nightscoutNamespace is operationTools.js's UUID namespace, the bytes of
// "NightscoutRocks!".
var nightscoutNamespace = []byte("NightscoutRocks!")

// calculateIdentifier is operationTools.js's: a version 5 UUID of
// device_date, with _eventType when there is one.
func calculateIdentifier(o *nsdoc.Object) string {
	key := jsString(o.Raw("device")) + "_" + jsString(o.Raw("date"))
	if raw := o.Raw("eventType"); raw != nil && jsTruthy(raw) {
		key += "_" + jsString(raw)
	}
	h := sha1.New()
	h.Write(nightscoutNamespace)
	h.Write([]byte(key))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// resolveIdentifier gives a document without one its calculated
// identifier.
func resolveIdentifier(o *nsdoc.Object) {
	if raw := o.Raw("identifier"); raw == nil || !jsTruthy(raw) {
		o.Set("identifier", calculateIdentifier(o))
	}
}

// checkCommon is operationTools.js's validateCommon.
func checkCommon(o *nsdoc.Object, patching bool) error {
	if !patching || o.Has("date") {
		if d, ok := o.Number("date"); !ok || d <= minV3Timestamp {
			return v3Err(http.StatusBadRequest, msgBadDate)
		}
	}
	if !patching || o.Has("utcOffset") {
		if u, ok := o.Number("utcOffset"); !ok || u < -maxV3UTCOffset || u > maxV3UTCOffset {
			return v3Err(http.StatusBadRequest, msgBadUTC)
		}
	}
	if !patching || o.Has("app") {
		if s, ok := o.String("app"); !ok || strings.TrimSpace(s) == "" {
			return v3Err(http.StatusBadRequest, msgBadApp)
		}
	}
	return nil
}

// checkCreate is create/validate.js.
func checkCreate(o *nsdoc.Object) error {
	if s, ok := o.String("identifier"); !ok || strings.TrimSpace(s) == "" {
		return v3Err(http.StatusBadRequest, msgBadIdentifier)
	}
	return checkCommon(o, false)
}

// checkReplace is update/validate.js: stored is the document as API v3
// shows it.
func checkReplace(o, stored *nsdoc.Object, patching, dedup bool) error {
	if readOnly(stored) {
		return v3Err(http.StatusUnprocessableEntity, msgReadOnly)
	}
	if string(stored.Raw("isValid")) != "false" {
		for _, field := range immutable {
			if field == "identifier" && dedup || !o.Has(field) {
				continue
			}
			if !strictEqual(o.Raw(field), stored.Raw(field)) {
				return v3Err(http.StatusBadRequest, "Field "+field+" cannot be modified by the client")
			}
		}
	}
	return checkCommon(o, patching)
}

// readOnly tells a document its client locked against any change,
// deletion included.
func readOnly(stored *nsdoc.Object) bool {
	for _, ro := range []string{"isReadOnly", "readOnly", "readonly"} {
		if string(stored.Raw(ro)) == "true" {
			return true
		}
	}
	return false
}

// strictEqual is JavaScript's === between two JSON values: primitives by
// value, objects and arrays never.
func strictEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil || a[0] == '{' || a[0] == '[' {
		return false
	}
	fa, errA := strconv.ParseFloat(string(a), 64)
	fb, errB := strconv.ParseFloat(string(b), 64)
	if errA == nil && errB == nil {
		return fa == fb
	}
	return bytes.Equal(a, b)
}

// storable strips the server's members and names the subject.
func storable(c *call, o *nsdoc.Object, subjectKey string) []byte {
	for _, f := range serverFields {
		o.Delete(f)
	}
	if string(o.Raw("isValid")) != "true" {
		o.Delete("isValid")
	}
	if c.acc.Subject != "" {
		o.Set(subjectKey, c.acc.Subject)
	}
	return o.Bytes()
}

// identifyingRules is utils.js's identifyingFilter: the identifier, an
// _id equal to it, else every dedup field (dates compared as instants).
func identifyingRules(col v3Collection, identifier string, o *nsdoc.Object) [][]glucose.Cond {
	rules := byIdentifier(identifier)
	var dedup []glucose.Cond
	for _, f := range col.dedup {
		raw := o.Raw(f)
		if raw == nil {
			return rules
		}
		if f == "date" || f == "created_at" {
			ms, ok := v3Time(raw)
			if !ok {
				return rules
			}
			dedup = append(dedup, glucose.Cond{Field: glucose.FieldDate, Op: glucose.OpEq, Values: []glucose.Value{glucose.Num(float64(ms))}})
			continue
		}
		v, ok := scalarValue(raw)
		if !ok {
			return rules
		}
		dedup = append(dedup, glucose.Cond{Field: f, Op: glucose.OpEq, Values: []glucose.Value{v}})
	}
	if len(dedup) > 0 {
		rules = append(rules, dedup)
	}
	return rules
}

// byIdentifier finds a document by identifier, else by _id.
func byIdentifier(identifier string) [][]glucose.Cond {
	return [][]glucose.Cond{
		{{Field: glucose.FieldIdentifier, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(identifier)}}},
		{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(identifier)}}},
	}
}

// scalarValue types a JSON scalar for a condition.
func scalarValue(raw json.RawMessage) (glucose.Value, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return glucose.Value{}, false
	}
	switch t := v.(type) {
	case string:
		return glucose.Str(t), true
	case float64:
		return glucose.Num(t), true
	case bool:
		return glucose.Bool(t), true
	case nil:
		return glucose.Null, true
	}
	return glucose.Value{}, false
}

// POST /api/v3/{collection} (generic/create): 201 with the identifier, or
// 200 with isDeduplication when the identifier or the dedup fields find a
// stored document, which the new one replaces. The look-up and the write
// are one transaction, so concurrent creates of one document store it
// once. An sgv entry is an upload of a reading.
func (a *API) v3Create(col v3Collection) handlerFunc {
	return func(c *call) error {
		o, err := readV3Document(c)
		if err != nil {
			return err
		}
		if col.name == glucose.CollectionEntries && isSGV(o) {
			return a.v3CreateReading(c, o)
		}
		identifier, _ := o.String("identifier")
		found, _, err := a.svc.CreateDocument(c.ctx, c.acc, col.name, identifyingRules(col, identifier, o), c.now,
			func(found *glucose.Document) (core.DocumentWrite, error) {
				// A copy each run: the write strips o, and a retried
				// transaction decides again from the request's document.
				if found == nil {
					return v3InsertWrite(c, col, o.Clone())
				}
				return v3ReplaceWrite(c, col, o.Clone(), *found, true)
			})
		if err != nil {
			return err
		}
		if found == nil {
			a.v3Created(c, col, identifier)
			return nil
		}
		a.v3Replaced(c, col, identifier, *found, true)
		return nil
	}
}

// v3InsertWrite checks a new document (create/insert.js) and makes its
// write.
func v3InsertWrite(c *call, col v3Collection, o *nsdoc.Object) (core.DocumentWrite, error) {
	if err := demand(c, "api:"+col.name+":create"); err != nil {
		return core.DocumentWrite{}, err
	}
	if err := checkCreate(o); err != nil {
		return core.DocumentWrite{}, err
	}
	identifier, _ := o.String("identifier")
	w := core.DocumentWrite{Identifier: identifier, Match: byIdentifier(identifier)[:1]}
	w.Body = storable(c, o, "subject")
	return w, nil
}

// v3Insert stores a new document (create/insert.js).
func (a *API) v3Insert(c *call, col v3Collection, o *nsdoc.Object) error {
	w, err := v3InsertWrite(c, col, o)
	if err != nil {
		return err
	}
	if _, err := a.svc.WriteDocuments(c.ctx, c.acc, col.name, []core.DocumentWrite{w}, c.now); err != nil {
		return err
	}
	a.v3Created(c, col, w.Identifier)
	return nil
}

// v3Created answers the creation of a document.
func (a *API) v3Created(c *call, col v3Collection, identifier string) {
	h := c.w.Header()
	h.Set("Last-Modified", c.now.UTC().Format(http.TimeFormat))
	h.Set("Location", a.v3Location(c, col, identifier))
	writeJSON(c.w, http.StatusCreated, map[string]any{"status": http.StatusCreated, "identifier": identifier, "lastModified": c.now.UnixMilli()})
}

// v3Location is the address of a document (Location header).
func (a *API) v3Location(c *call, col v3Collection, identifier string) string {
	prefix := ""
	if c.site != nil {
		prefix = "/ns/" + c.site.Handle
	}
	return prefix + "/api/v3/" + col.name + "/" + identifier
}

// v3ReplaceWrite checks the replacement of a stored document with o
// (update/replace.js) and makes its write.
func v3ReplaceWrite(c *call, col v3Collection, o *nsdoc.Object, stored glucose.Document, dedup bool) (core.DocumentWrite, error) {
	if err := demand(c, "api:"+col.name+":update"); err != nil {
		return core.DocumentWrite{}, err
	}
	if err := checkReplace(o, v3Doc(stored, nil), false, dedup); err != nil {
		return core.DocumentWrite{}, err
	}
	identifier, _ := o.String("identifier")
	w := core.DocumentWrite{Identifier: identifier, Match: byID(stored.ID)}
	w.Body = storable(c, o, "subject")
	return w, nil
}

// v3Replace replaces a stored document with o (update/replace.js).
func (a *API) v3Replace(c *call, col v3Collection, o *nsdoc.Object, stored glucose.Document, dedup bool) error {
	w, err := v3ReplaceWrite(c, col, o, stored, dedup)
	if err != nil {
		return err
	}
	if _, err := a.svc.WriteDocuments(c.ctx, c.acc, col.name, []core.DocumentWrite{w}, c.now); err != nil {
		return err
	}
	a.v3Replaced(c, col, w.Identifier, stored, dedup)
	return nil
}

// v3Replaced answers the replacement of stored by a document with the
// given identifier.
func (a *API) v3Replaced(c *call, col v3Collection, identifier string, stored glucose.Document, dedup bool) {
	c.w.Header().Set("Last-Modified", c.now.UTC().Format(http.TimeFormat))
	out := map[string]any{"status": http.StatusOK, "lastModified": c.now.UnixMilli()}
	if stored.Identifier != identifier || dedup {
		c.w.Header().Set("Location", a.v3Location(c, col, identifier))
		out["identifier"], out["isDeduplication"] = identifier, true
		if stored.Identifier != identifier {
			out["deduplicatedIdentifier"] = stored.Identifier
		}
	}
	writeJSON(c.w, http.StatusOK, out)
}

// v3CreateReading stores an sgv entry as a reading, through the upload
// path of Share uploads (deduplication by time, alarms, live updates).
// Its identifier is the reading's _id: a reading keeps no identifier of
// the client's.
func (a *API) v3CreateReading(c *call, o *nsdoc.Object) error {
	if err := demand(c, "api:entries:create"); err != nil {
		return err
	}
	if err := checkCreate(o); err != nil {
		return err
	}
	egv, ok := egvOf(o)
	if !ok {
		return v3Err(http.StatusBadRequest, "Bad or missing sgv field")
	}
	rs, res, err := a.svc.ImportReadings(c.ctx, c.acc.AccountID, []core.EGV{egv}, c.now)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		why := "the reading is not kept: its value is a sensor's special value or its time is too old"
		if res.Future > 0 {
			why = "the reading is not kept: its time is more than 5 minutes ahead of the server's"
		}
		return &v3Error{status: http.StatusBadRequest, message: why}
	}
	identifier := rs[0].EntryID(c.acc.AccountID)
	h := c.w.Header()
	h.Set("Last-Modified", c.now.UTC().Format(http.TimeFormat))
	h.Set("Location", a.v3Location(c, v3Collection{name: glucose.CollectionEntries}, identifier))
	if res.Stored == 0 {
		writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK, "identifier": identifier,
			"isDeduplication": true, "lastModified": c.now.UnixMilli()})
		return nil
	}
	writeJSON(c.w, http.StatusCreated, map[string]any{"status": http.StatusCreated, "identifier": identifier, "lastModified": c.now.UnixMilli()})
	return nil
}

// unmodifiedSince answers 412 when the document changed after the
// request's If-Unmodified-Since (to the second).
func unmodifiedSince(c *call, modified int64) error {
	since, err := http.ParseTime(c.r.Header.Get("If-Unmodified-Since"))
	if err == nil && glucose.FromMS(modified).Truncate(time.Second).After(since) {
		return v3Err(http.StatusPreconditionFailed, "")
	}
	return nil
}

// PUT /api/v3/{collection}/{identifier} (generic/update): replaces the
// document, or creates it with that identifier; 410 when deleted.
func (a *API) v3Update(col v3Collection) handlerFunc {
	return func(c *call) error {
		o, err := readV3Document(c)
		if err != nil {
			return err
		}
		identifier := c.r.PathValue("identifier")
		o.Set("identifier", identifier)
		f, err := a.lookup(c, col, identifier)
		switch {
		case errors.Is(err, glucose.ErrNotFound) && col.name == glucose.CollectionEntries && isSGV(o):
			return a.v3CreateReading(c, o)
		case errors.Is(err, glucose.ErrNotFound):
			return a.v3Insert(c, col, o)
		case err != nil:
			return err
		case f.deleted:
			return v3Err(http.StatusGone, "")
		case f.entry.Doc == nil:
			return v3Err(http.StatusUnprocessableEntity, msgReadOnly)
		}
		if err := unmodifiedSince(c, f.modified); err != nil {
			return err
		}
		return a.v3Replace(c, col, o, *f.entry.Doc, false)
	}
}

// PATCH /api/v3/{collection}/{identifier} (generic/patch): merges the
// members given into the document.
func (a *API) v3Patch(col v3Collection) handlerFunc {
	return func(c *call) error {
		body, err := readBody(c.r)
		if err != nil {
			return err
		}
		o, err := decodeV3(body)
		if err != nil {
			return err
		}
		if err := demand(c, "api:"+col.name+":update"); err != nil {
			return err
		}
		f, err := a.lookup(c, col, c.r.PathValue("identifier"))
		switch {
		case err != nil:
			return err
		case f.deleted:
			return v3Err(http.StatusGone, "")
		case f.entry.Reading != nil:
			return a.v3PatchReading(c, o, *f.entry.Reading)
		}
		if err := unmodifiedSince(c, f.modified); err != nil {
			return err
		}
		d := *f.entry.Doc
		// patch/validate.js: no read-only document, no immutable member
		// changed, and date, utcOffset and app valid when given.
		if err := checkReplace(o, v3Doc(d, nil), true, false); err != nil {
			return err
		}
		w := core.DocumentWrite{Identifier: d.Identifier, Merge: true, Match: byID(d.ID)}
		w.Body = storable(c, o, "modifiedBy")
		if _, err := a.svc.WriteDocuments(c.ctx, c.acc, col.name, []core.DocumentWrite{w}, c.now); err != nil {
			return err
		}
		c.w.Header().Set("Last-Modified", c.now.UTC().Format(http.TimeFormat))
		writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK})
		return nil
	}
}

// DELETE /api/v3/{collection}/{identifier} (generic/delete): marks the
// document deleted (history reports it), or with permanent=true removes
// it. A reading leaves the store either way, with a tombstone unless
// permanent. Deleting a deleted document or reading again marks it again
// (a new srvModified), as Nightscout's markAsDeleted sets srvModified
// whatever the document's state.
func (a *API) v3Delete(col v3Collection) handlerFunc {
	return func(c *call) error {
		if err := demand(c, "api:"+col.name+":delete"); err != nil {
			return err
		}
		f, err := a.lookup(c, col, c.r.PathValue("identifier"))
		if err != nil {
			return err
		}
		permanent := c.r.URL.Query().Get("permanent") == "true"
		switch e := f.entry; {
		case e.Reading != nil:
			err = a.v3DeleteReading(c, *e.Reading, permanent)
		case e.Tombstone != nil && permanent:
			err = a.svc.RemoveReadingTombstone(c.ctx, c.acc, e.Tombstone.ST)
		case e.Tombstone != nil:
			err = a.svc.DeleteReadingAgain(c.ctx, c.acc, e.Tombstone.ST, c.now)
		case e.Doc != nil:
			if readOnly(v3Doc(*e.Doc, nil)) {
				return v3Err(http.StatusUnprocessableEntity, msgReadOnly)
			}
			if permanent {
				q := glucose.DocQuery{Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(e.Doc.ID)}}}}
				_, err = a.svc.DeleteDocumentsPermanently(c.ctx, c.acc, col.name, q, c.now)
			} else {
				_, err = a.svc.DeleteDocumentBy(c.ctx, c.acc, col.name, e.Doc.ID, c.acc.Subject, c.now)
			}
		}
		if err != nil {
			return err
		}
		writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK})
		return nil
	}
}

// v3PatchReading answers a PATCH of a reading. Readings do not change, but
// a client that invalidates one (AndroidAPS's updateEntry with isValid
// false, when its user removes a glucose value) deletes it: it leaves the
// account's values, and history reports it. Anything else is refused as a
// read-only document's change.
func (a *API) v3PatchReading(c *call, o *nsdoc.Object, r glucose.Reading) error {
	if string(o.Raw("isValid")) != "false" {
		return v3Err(http.StatusUnprocessableEntity, msgReadOnly)
	}
	if err := demand(c, "api:entries:delete"); err != nil {
		return err
	}
	if err := a.v3DeleteReading(c, r, false); err != nil {
		return err
	}
	c.w.Header().Set("Last-Modified", c.now.UTC().Format(http.TimeFormat))
	writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK})
	return nil
}

// v3DeleteReading deletes a reading by its _id: with a tombstone that
// history reports, or for good when permanent.
func (a *API) v3DeleteReading(c *call, r glucose.Reading, permanent bool) error {
	q := glucose.DocQuery{Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq,
		Values: []glucose.Value{glucose.Str(r.EntryID(c.acc.AccountID))}}}}
	_, err := a.svc.DeleteEntries(c.ctx, c.acc, q, c.now, permanent)
	return err
}
