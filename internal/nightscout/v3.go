package nightscout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// API v3 (lib/api3, swagger.yaml): search, read, create, update, patch,
// delete and history of six collections, plus version, status and
// lastModified. It takes `Authorization: Bearer <JWT>` (a JWT from
// /api/v2/authorization/request/{accessToken}), as security.js does, and
// the api-secret header Juggluco sends, and answers errors as
// {"status","message"}. Entries of type sgv are glucoshare's readings: a
// create goes through the upload path Share uploads take, a reading is
// never modified (PUT and PATCH answer 422, as for Nightscout's read-only
// documents; a PATCH with isValid false deletes it), and a deleted one is
// reported by its tombstone.

// v3APIVersion is const.json's API3_VERSION in Nightscout 15.0.7.
const v3APIVersion = "3.0.3-alpha"

// v3Collection is one collection of API v3 (generic/setup.js).
type v3Collection struct {
	name string
	// dedup are the fields that, all present, find the document a create
	// replaces when no identifier does (dedupFallbackFields).
	dedup []string
	// dateFields are the members searched as dates.
	dateFields []string
}

var v3Collections = []v3Collection{
	{name: glucose.CollectionDeviceStatus, dedup: []string{"created_at", "device"}, dateFields: []string{"created_at"}},
	{name: glucose.CollectionEntries, dedup: []string{"date", "type"}, dateFields: []string{"dateString", "sysTime"}},
	{name: glucose.CollectionFood, dedup: []string{"created_at"}, dateFields: []string{"created_at"}},
	{name: glucose.CollectionProfile, dedup: []string{"created_at"}, dateFields: []string{"created_at", "startDate"}},
	{name: glucose.CollectionSettings},
	{name: glucose.CollectionTreatments, dedup: []string{"created_at", "eventType"}, dateFields: []string{"created_at"}},
}

// v3Routes registers API v3 with add, which mounts a handler as it is: v3
// authenticates and answers errors its own way.
func (a *API) v3Routes(add func(method, path string, h http.Handler)) {
	add("GET", "/api/v3/version", a.v3(false, a.v3Version))
	add("GET", "/api/v3/status", a.v3(true, a.v3Status))
	add("GET", "/api/v3/lastModified", a.v3(true, a.v3LastModified))
	for _, col := range v3Collections {
		p := "/api/v3/" + col.name
		add("GET", p, a.v3(true, a.v3Search(col)))
		add("POST", p, a.v3(true, a.v3Create(col)))
		add("GET", p+"/history", a.v3(true, a.v3History(col)))
		add("GET", p+"/history/{lastModified}", a.v3(true, a.v3History(col)))
		add("GET", p+"/{identifier}", a.v3(true, a.v3Read(col)))
		add("PUT", p+"/{identifier}", a.v3(true, a.v3Update(col)))
		add("PATCH", p+"/{identifier}", a.v3(true, a.v3Patch(col)))
		add("DELETE", p+"/{identifier}", a.v3(true, a.v3Delete(col)))
	}
	add("", "/api/v3/", a.v3(false, func(*call) error { return v3Err(http.StatusNotFound, "Bad operation or collection") }))
}

// v3Error is an API v3 error answer: {"status"} and, when set, "message".
type v3Error struct {
	status  int
	message string
}

func (e *v3Error) Error() string { return e.message }

func v3Err(status int, message string) error { return &v3Error{status: status, message: message} }

// Messages and limits of const.json.
const (
	msgMissingToken  = "Missing or bad access token or JWT"
	msgBadToken      = "Bad access token or JWT"
	msgBadBody       = "Bad or missing request body"
	msgBadIdentifier = "Bad or missing identifier field"
	msgBadDate       = "Bad or missing date field"
	msgBadUTC        = "Bad or missing utcOffset field"
	msgBadApp        = "Bad or missing app field"
	msgBadLastMod    = "Bad or missing Last-Modified header/parameter"
	msgReadOnly      = "Trying to modify read-only document"
	minV3Timestamp   = 946684800000 // MIN_TIMESTAMP: 2000-01-01
	maxV3UTCOffset   = 1440         // minutes either way
)

// v3 wraps an API v3 handler: with auth, the caller must present a JWT
// (security.js authenticate); refused ones count for the throttle.
func (a *API) v3(auth bool, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.newCall(w, r)
		sc, _ := r.Context().Value(siteKey{}).(siteContext)
		c.site = sc.site
		var err error
		if auth {
			err = a.v3Authenticate(c)
		}
		if err == nil {
			err = fn(c)
		}
		if err != nil {
			a.v3Fail(w, r, err)
		}
	})
}

// v3Authenticate resolves the bearer JWT. Without an Authorization
// header, an api-secret header (the API secret or a token, or their SHA-1)
// is taken too: Nightscout's API v3 refuses it, but Juggluco's v3 uploader
// sends nothing else (NightPost.java upload), and it is the credential
// API v1 takes.
func (a *API) v3Authenticate(c *call) error {
	auth := c.r.Header.Get("Authorization")
	secret := strings.TrimSpace(c.r.Header.Get("api-secret"))
	parts := strings.Split(auth, " ")
	bearer := len(parts) == 2 && strings.EqualFold(parts[0], "bearer") && parts[1] != ""
	useSecret := auth == "" && secret != "" && secret != "null"
	if !bearer && !useSecret {
		return v3Err(http.StatusUnauthorized, msgMissingToken)
	}
	c.presented = true
	addr := a.addrs.Addr(c.r)
	if err := a.throttle.wait(c.ctx, addr); err != nil {
		return err
	}
	var (
		acc *core.NightscoutAccess
		err error
	)
	if useSecret {
		acc, err = a.svc.NightscoutSecretAccess(c.ctx, secret, c.now)
	} else {
		acc, err = a.svc.NightscoutJWTAccess(c.ctx, parts[1], c.now)
	}
	if err == nil && c.site != nil && acc.AccountID != c.site.AccountID {
		err = core.ErrNightscoutDenied
	}
	if errors.Is(err, core.ErrNightscoutDenied) {
		a.throttle.failed(addr)
		return v3Err(http.StatusUnauthorized, msgBadToken)
	}
	c.acc = acc
	return err
}

// demand is security.js's demandPermission: 403 naming the permission.
func demand(c *call, permission string) error {
	if c.acc.Permits(permission) {
		return nil
	}
	return v3Err(http.StatusForbidden, "Missing permission "+permission)
}

// readPermission is search's and history's: settings need admin.
func (col v3Collection) readPermission() string {
	if col.name == glucose.CollectionSettings {
		return "api:settings:admin"
	}
	return "api:" + col.name + ":read"
}

// v3Fail is API v3's one error writer.
func (a *API) v3Fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *v3Error
		qe *queryError
	)
	switch {
	case errors.As(err, &ve):
		body := map[string]any{"status": ve.status}
		if ve.message != "" {
			body["message"] = ve.message
		}
		writeJSON(w, ve.status, body)
	case errors.Is(err, core.ErrNightscoutDenied):
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": http.StatusUnauthorized, "message": msgBadToken})
	case errors.Is(err, glucose.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]any{"status": http.StatusNotFound})
	case errors.As(err, &qe):
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": http.StatusBadRequest, "message": qe.msg})
	case nsdoc.IsDecodeError(err):
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": http.StatusBadRequest, "message": msgBadBody, "description": err.Error()})
	default:
		// Storage limits, unavailability and internal errors keep the
		// answers of the v1 writer, whose bodies have v3's members too.
		a.fail(w, r, err)
	}
}

// GET /api/v3/version (specific/version.js): public.
func (a *API) v3Version(c *call) error {
	writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK, "result": v3VersionInfo(c.now)})
	return nil
}

func v3VersionInfo(now time.Time) map[string]any {
	return map[string]any{"version": apiVersion, "apiVersion": v3APIVersion, "srvDate": now.UnixMilli(),
		"storage": map[string]any{"storage": "glucoshare", "version": apiVersion}}
}

// GET /api/v3/status (specific/status.js): the version and the caller's
// permissions per collection, as "crud" letters.
func (a *API) v3Status(c *call) error {
	info := v3VersionInfo(c.now)
	perms := map[string]string{}
	for _, col := range v3Collections {
		s := ""
		for _, p := range []struct{ letter, action string }{{"c", "create"}, {"r", "read"}, {"u", "update"}, {"d", "delete"}} {
			if c.acc.Permits("api:" + col.name + ":" + p.action) {
				s += p.letter
			}
		}
		if s != "" {
			perms[col.name] = s
		}
	}
	info["apiPermissions"] = perms
	writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK, "result": info})
	return nil
}

// GET /api/v3/lastModified (specific/lastModified.js).
func (a *API) v3LastModified(c *call) error {
	names := make([]string, len(v3Collections))
	for i, col := range v3Collections {
		names[i] = col.name
	}
	cols, err := a.svc.LastModified(c.ctx, c.acc, names)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"status": http.StatusOK,
		"result": map[string]any{"srvDate": c.now.UnixMilli(), "collections": cols}})
	return nil
}

// v3Result writes {"status":200,"result":…} around encoded JSON.
func v3Result(w http.ResponseWriter, result []byte) {
	var b bytes.Buffer
	b.WriteString(`{"status":200,"result":`)
	b.Write(result)
	b.WriteByte('}')
	writeBody(w, http.StatusOK, b.Bytes())
}

// v3Doc renders a stored document as API v3 shows it: its body with
// identifier and the server's times, isValid false when deleted, then
// only the fields asked for.
func v3Doc(d glucose.Document, fields []string) *nsdoc.Object {
	o, err := nsdoc.ParseObject(d.Body)
	if err != nil {
		o, _ = nsdoc.ParseObject([]byte("{}"))
	}
	o.Set("identifier", d.Identifier)
	o.Set("srvModified", d.SrvModified)
	o.Set("srvCreated", d.SrvCreated)
	if d.Deleted {
		o.Set("isValid", false)
	}
	return project(o, fields)
}

// v3Entry renders an entry: a reading as the v1 entry without _id, a
// tombstone as a deleted sgv entry.
func v3Entry(accountID string, e core.Entry, fields []string) *nsdoc.Object {
	switch {
	case e.Doc != nil:
		return v3Doc(*e.Doc, fields)
	case e.Tombstone != nil:
		r := glucose.Reading{ST: e.Tombstone.ST}
		o, _ := nsdoc.ParseObject([]byte("{}"))
		o.Set("type", "sgv")
		o.Set("date", r.ST)
		o.Set("identifier", r.EntryID(accountID))
		o.Set("srvModified", e.Tombstone.DeletedAt)
		o.Set("srvCreated", e.Tombstone.DeletedAt)
		o.Set("isValid", false)
		return project(o, fields)
	}
	b, _ := json.Marshal(entryOf(accountID, *e.Reading, deviceOf(e))) // a struct of strings and numbers
	o, _ := nsdoc.ParseObject(b)
	o.Delete("_id")
	o.Set("identifier", e.Reading.EntryID(accountID))
	o.Set("srvModified", e.Reading.ReceivedAt)
	o.Set("srvCreated", e.Reading.ReceivedAt)
	return project(o, fields)
}

// project is fieldsProjector.js: "" and "_all" keep everything, a list
// keeps its members only.
func project(o *nsdoc.Object, fields []string) *nsdoc.Object {
	if fields == nil {
		return o
	}
	for _, k := range o.Keys() {
		if !slices.Contains(fields, k) {
			o.Delete(k)
		}
	}
	return o
}

// fieldsOf reads the fields parameter.
func fieldsOf(c *call) []string {
	f := c.r.URL.Query().Get("fields")
	if f == "" || f == "_all" {
		return nil
	}
	return strings.Split(f, ",")
}

// objectsJSON renders objects as an array.
func objectsJSON(os []*nsdoc.Object) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, o := range os {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o.Bytes())
	}
	b.WriteByte(']')
	return b.Bytes()
}

// GET /api/v3/{collection} (generic/search): valid documents only.
func (a *API) v3Search(col v3Collection) handlerFunc {
	return func(c *call) error {
		if err := demand(c, col.readPermission()); err != nil {
			return err
		}
		values := c.r.URL.Query()
		for _, reserved := range []string{"token", "now"} {
			values.Del(reserved)
		}
		pq, err := parseV3Query(values, col.dateFields)
		if err != nil {
			return err
		}
		fields := fieldsOf(c)
		var out []*nsdoc.Object
		if col.name == glucose.CollectionEntries {
			q := pq.q
			// Entries merge readings and documents by date; the default
			// order (by identifier, which starts with the time) is by date.
			if len(q.Sort) > 0 && q.Sort[0].Field == glucose.FieldIdentifier {
				q.Sort[0].Field = glucose.FieldDate
			}
			es, err := a.svc.FindEntries(c.ctx, c.acc, q)
			if err != nil {
				return err
			}
			for _, e := range es {
				out = append(out, v3Entry(c.acc.AccountID, e, fields))
			}
		} else {
			ds, err := a.svc.FindDocuments(c.ctx, c.acc, col.name, pq.q)
			if err != nil {
				return err
			}
			for _, d := range ds {
				out = append(out, v3Doc(d, fields))
			}
		}
		v3Result(c.w, objectsJSON(out))
		return nil
	}
}

// found is a document or an entry looked up by identifier.
type found struct {
	entry    core.Entry
	deleted  bool
	modified int64
}

// lookup finds the document (or entry) with identifier, deleted ones
// included; glucose.ErrNotFound when none.
func (a *API) lookup(c *call, col v3Collection, identifier string) (found, error) {
	if col.name == glucose.CollectionEntries {
		e, err := a.svc.EntryByIdentifier(c.ctx, c.acc, identifier)
		if err != nil {
			return found{}, err
		}
		return found{entry: e, deleted: e.Tombstone != nil || e.Doc != nil && e.Doc.Deleted, modified: e.Modified()}, nil
	}
	d, err := a.svc.DocumentByIdentifier(c.ctx, c.acc, col.name, identifier)
	if err != nil {
		return found{}, err
	}
	return found{entry: core.Entry{Doc: d}, deleted: d.Deleted, modified: d.SrvModified}, nil
}

// GET /api/v3/{collection}/{identifier} (generic/read): 404 unknown, 410
// deleted, 304 when not modified since If-Modified-Since.
func (a *API) v3Read(col v3Collection) handlerFunc {
	return func(c *call) error {
		if err := demand(c, "api:"+col.name+":read"); err != nil {
			return err
		}
		f, err := a.lookup(c, col, c.r.PathValue("identifier"))
		if err != nil {
			return err
		}
		if f.deleted {
			return v3Err(http.StatusGone, "")
		}
		modified := glucose.FromMS(f.modified)
		c.w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
		if since, err := http.ParseTime(c.r.Header.Get("If-Modified-Since")); err == nil && !modified.Truncate(time.Second).After(since) {
			c.w.WriteHeader(http.StatusNotModified)
			return nil
		}
		v3Result(c.w, v3Entry(c.acc.AccountID, f.entry, fieldsOf(c)).Bytes())
		return nil
	}
}

// GET /api/v3/{collection}/history[/{lastModified}] (generic/history):
// what changed after lastModified (or at or after the Last-Modified
// header's second), deleted documents included, oldest change first.
func (a *API) v3History(col v3Collection) handlerFunc {
	return func(c *call) error {
		if err := demand(c, col.readPermission()); err != nil {
			return err
		}
		after, inclusive, err := historySince(c)
		if err != nil {
			return err
		}
		pq, err := parseV3Query(limitOnly(c), nil)
		if err != nil {
			return err
		}
		out, newest, err := a.changes(c.ctx, c.acc, col, after, inclusive, pq.q.Limit, fieldsOf(c))
		if err != nil {
			return err
		}
		if len(out) > 0 {
			c.w.Header().Set("Last-Modified", glucose.FromMS(newest).UTC().Format(http.TimeFormat))
			c.w.Header().Set("ETag", `W/"`+strconv.FormatInt(newest, 10)+`"`)
		}
		v3Result(c.w, objectsJSON(out))
		return nil
	}
}

// changes reads a collection's history after the cursor (at or after it
// when inclusive), deleted documents included, oldest change first, at
// most limit, as API v3 shows them; newest is the latest change's time.
// History reads and storage sockets share it.
func (a *API) changes(ctx context.Context, acc *core.NightscoutAccess, col v3Collection, after int64, inclusive bool, limit int,
	fields []string) (out []*nsdoc.Object, newest int64, err error) {
	if col.name == glucose.CollectionEntries {
		es, err := a.svc.EntriesHistory(ctx, acc, after, inclusive, limit)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range es {
			out = append(out, v3Entry(acc.AccountID, e, fields))
			newest = max(newest, e.Modified())
		}
		return out, newest, nil
	}
	op := glucose.OpGt
	if inclusive {
		op = glucose.OpGte
	}
	ds, err := a.svc.FindDocuments(ctx, acc, col.name, glucose.DocQuery{Limit: limit, IncludeDeleted: true,
		Sort:  []glucose.SortKey{{Field: glucose.FieldSrvModified}},
		Where: []glucose.Cond{{Field: glucose.FieldSrvModified, Op: op, Values: []glucose.Value{glucose.Num(float64(after))}}}})
	if err != nil {
		return nil, 0, err
	}
	for _, d := range ds {
		out = append(out, v3Doc(d, fields))
		newest = max(newest, d.SrvModified)
	}
	return out, newest, nil
}

// limitOnly keeps the limit parameter, which is all history reads.
func limitOnly(c *call) map[string][]string {
	if l := c.r.URL.Query().Get("limit"); l != "" {
		return map[string][]string{"limit": {l}}
	}
	return map[string][]string{}
}

// historySince reads history's starting point: the path's lastModified
// (milliseconds, seconds or ISO 8601; exclusive), else the Last-Modified
// header floored to its second (inclusive).
func historySince(c *call) (int64, bool, error) {
	if p := c.r.PathValue("lastModified"); p != "" {
		ms, ok := v3Time(json.RawMessage(strconv.Quote(p)))
		if !ok {
			return 0, false, v3Err(http.StatusBadRequest, msgBadLastMod)
		}
		return ms, false, nil
	}
	t, err := http.ParseTime(c.r.Header.Get("Last-Modified"))
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, c.r.Header.Get("Last-Modified")); err != nil {
			return 0, false, v3Err(http.StatusBadRequest, msgBadLastMod)
		}
	}
	return t.Truncate(time.Second).UnixMilli(), true, nil
}

// v3Time is dateTools.js's parseToMoment for one value: a number (or a
// string of one) of milliseconds, or seconds when below 2000-01-01; else
// ISO 8601. false when it is none, or before 2000.
func v3Time(raw json.RawMessage) (int64, bool) {
	ms, _, ok := v3TimeZone(raw)
	return ms, ok
}

// v3TimeZone is v3Time with the offset a string carried (minutes; 0 for
// numbers, which moment reads in the server's zone, UTC).
func v3TimeZone(raw json.RawMessage) (int64, int, bool) {
	var (
		f   float64
		s   string
		num bool
	)
	switch {
	case json.Unmarshal(raw, &f) == nil:
		num = true
	case json.Unmarshal(raw, &s) == nil:
		if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && strings.TrimSpace(s) != "" {
			f, num = n, true
		}
	default:
		return 0, 0, false
	}
	if num {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > glucose.MaxMS {
			return 0, 0, false
		}
		ms := int64(f)
		if ms < minV3Timestamp {
			ms = int64(f * 1000)
		}
		if ms < minV3Timestamp || ms > glucose.MaxMS {
			return 0, 0, false
		}
		return ms, 0, true
	}
	t, ok := parseZoned(s)
	if !ok || t.UnixMilli() < minV3Timestamp {
		return 0, 0, false
	}
	_, off := t.Zone()
	return t.UnixMilli(), off / 60, true
}
