package shareapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// POST Publisher/LogoutPublisherAccount [official-app]
// Ends the session (any account's session). Logging out a session that has
// already ended succeeds.
func (a *API) logout(c *call) (reply, error) {
	raw, _, _, err := c.p.String("sessionId")
	if err != nil {
		raw = ""
	}
	if err := a.svc.Logout(c.ctx, raw, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/ChangePublisherAccountPassword [official-app; body defined by glucoshare]
// Body: {"sessionId":"…","oldPassword":"…","newPassword":"…"}; currentPassword
// is accepted as another name for oldPassword.
func (a *API) changePassword(c *call) (reply, error) {
	old, _, ok, err := c.p.String("oldPassword")
	if err != nil {
		return reply{}, err
	}
	if !ok {
		if old, _, _, err = c.p.String("currentPassword"); err != nil {
			return reply{}, err
		}
	}
	newPassword, _, _, err := c.p.String("newPassword")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.ChangePassword(c.ctx, c.sess, old, newPassword, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// serial reads and normalises the serial-number parameter (docs/protocol.md, "Identifiers").
func serial(p *params, name string) (string, error) {
	raw, _, ok, err := p.String(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", glucose.InvalidArgument("%s is missing", name)
	}
	sn, err := share.NormalizeSerial(raw)
	if err != nil {
		return "", glucose.InvalidArgument("%s must be 1 to 64 letters, digits or hyphens", name)
	}
	return sn, nil
}

// POST Publisher/CheckMonitoredReceiverAssignmentStatus [observed]
// 200: "AssignedToYou", "NotAssigned" or "AssignedToSomeoneElse" — a JSON string.
func (a *API) checkAssignment(c *call) (reply, error) {
	sn, err := serial(c.p, "serialNumber")
	if err != nil {
		return reply{}, err
	}
	status, err := a.svc.AssignmentStatus(c.ctx, c.acct.ID, sn)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(status)
}

// POST Publisher/ReplacePublisherAccountMonitoredReceiver [observed]
// 200: the receiver id. The caller's current serial: same id, nothing changes.
func (a *API) replaceReceiver(c *call) (reply, error) {
	sn, err := serial(c.p, "serialNumber")
	if err != nil {
		return reply{}, err
	}
	id, err := a.svc.ReplaceReceiver(c.ctx, c.acct.ID, sn)
	if err != nil {
		return reply{}, err
	}
	return idReply(id)
}

// POST Publisher/GetMonitoredReceiverIdIfEnabled [official-app]
// 200: the receiver id when a receiver is assigned and monitoring is on;
// otherwise the zero id.
func (a *API) receiverIfEnabled(c *call) (reply, error) {
	return idReply(a.svc.MonitoredReceiverIfEnabled(c.acct))
}

// POST Publisher/StopMonitoringReceiver [official-app]
// If the id is the current receiver: monitoring off, assignment released.
// Otherwise MonitoredReceiverNotAssigned.
func (a *API) stopMonitoringReceiver(c *call) (reply, error) {
	raw, _, _, err := c.p.String("monitoredReceiverId")
	if err != nil {
		return reply{}, err
	}
	id, ok := share.ParseID(raw)
	if !ok {
		id = raw // a malformed id is simply not the current receiver
	}
	if err := a.svc.StopMonitoringReceiver(c.ctx, c.acct.ID, id); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/IsRemoteMonitoringSessionActive [observed]
// 200: true or false — the monitoring flag.
func (a *API) isMonitoring(c *call) (reply, error) {
	return boolReply(c.acct.Monitoring)
}

// POST Publisher/StartRemoteMonitoringSession [observed]
// Serial equals the assigned one → monitoring on; no receiver → implicit
// assignment; another serial → MonitoredReceiverSerialNumberDoesNotMatch.
func (a *API) startMonitoring(c *call) (reply, error) {
	sn, err := serial(c.p, "serialNumber")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.StartMonitoring(c.ctx, c.acct.ID, sn); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/StopRemoteMonitoringSession [observed]
// Monitoring off; already off → success.
func (a *API) stopMonitoring(c *call) (reply, error) {
	if err := a.svc.StopMonitoring(c.ctx, c.acct.ID); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/UpdatePublisherAccountRuntimeInfo [observed]
// Body: {"sessionId":"…","runtimeInfo":{RuntimeInfo}}. Over 4 KiB → InvalidArgument.
func (a *API) publisherRuntimeInfo(c *call) (reply, error) {
	return a.runtimeInfo(c, core.RolePublisher)
}

func (a *API) runtimeInfo(c *call, role string) (reply, error) {
	raw, err := c.p.member("runtimeInfo")
	if err != nil {
		return reply{}, err
	}
	if raw == nil || raw[0] != '{' {
		return reply{}, glucose.InvalidArgument("runtimeInfo must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return reply{}, glucose.InvalidArgument("runtimeInfo is not valid JSON")
	}
	if err := a.svc.SetRuntimeInfo(c.ctx, c.acct.ID, role, buf.Bytes(), c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/PostReceiverEgvRecords [observed]
// Body: {"SN":"8G1234","Egvs":[{"Trend":4,"ST":"/Date(…)/","DT":"/Date(…)/","Value":97}],"TA":-5}
// 200: void. Steps 2–7 of docs/protocol.md, "Publisher: glucose"; a failing step stores nothing, except that
// FutureEgvPosted is answered after the other readings were committed.
func (a *API) postEGVs(c *call) (reply, error) {
	sn, egvs, err := decodeEGVPost(c.p)
	if err != nil {
		return reply{}, err
	}
	if _, err := a.svc.PostReadings(c.ctx, c.acct.ID, sn, egvs, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// decodeEGVPost applies docs/protocol.md, "Publisher: glucose" step 2: the structure of an upload.
func decodeEGVPost(p *params) (string, []core.EGV, error) {
	if !p.hasBody() || p.rawBody()[0] != '{' {
		return "", nil, glucose.InvalidArgument("the request body must be a JSON object with SN and Egvs")
	}
	sn, err := serial(p, "SN")
	if err != nil {
		return "", nil, err
	}
	raw, err := p.member("Egvs")
	if err != nil || raw == nil {
		return sn, nil, err
	}
	if raw[0] != '[' {
		return "", nil, glucose.InvalidArgument("Egvs must be an array")
	}
	// The body was validated whole when its members were read: neither
	// the array nor its elements are scanned again.
	elems := arrayElements(raw)
	if len(elems) > core.MaxEGVsPerPost {
		return "", nil, glucose.InvalidArgument("Egvs has %d elements; at most %d are accepted", len(elems), core.MaxEGVsPerPost)
	}
	egvs := make([]core.EGV, len(elems))
	for i, el := range elems {
		if egvs[i], err = decodeEGV(el); err != nil {
			return "", nil, glucose.InvalidArgument("Egvs[%d].%s", i, err.Error())
		}
	}
	return sn, egvs, nil
}

type egvError string

func (e egvError) Error() string { return string(e) }

// decodeEGV reads one element: a date ST, a number Value that rounds into
// 0–1000, an optional date DT, and any Trend.
func decodeEGV(el json.RawMessage) (core.EGV, error) {
	if len(el) == 0 || el[0] != '{' {
		return core.EGV{}, egvError("element must be an object")
	}
	m := validMembers(el) // el is part of a validated body (decodeEGVPost)
	st, ok := m["st"]
	if !ok {
		return core.EGV{}, egvError("ST is missing")
	}
	sd, err := share.ParseDateJSON(st)
	if err != nil {
		return core.EGV{}, egvError("ST is not a date: " + err.Error())
	}
	e := core.EGV{ST: sd.MS, Trend: share.ParseTrend(m["trend"])}
	// null is checked first: json.Unmarshal leaves v at 0 for it, which
	// step 5a would then skip silently as a special value.
	var v float64
	if raw, ok := m["value"]; !ok || isNull(raw) || raw[0] == '"' || json.Unmarshal(raw, &v) != nil {
		return core.EGV{}, egvError("Value must be a number")
	}
	if v = math.Round(v); v < 0 || v > 1000 {
		return core.EGV{}, egvError("Value must be between 0 and 1000")
	}
	e.Value = int(v)
	if dt, ok := m["dt"]; ok && string(dt) != "null" {
		dd, err := share.ParseDateJSON(dt)
		if err != nil {
			return core.EGV{}, egvError("DT is not a date: " + err.Error())
		}
		e.Offset = readingOffset(sd.MS, dd)
	}
	return e, nil
}

// readingOffset derives a reading's UTC offset from its uploaded DT (docs/protocol.md, "Publisher: glucose"):
// DT's own offset when it carries one, else DT − ST rounded to the nearest
// 15 minutes, and +0000 beyond ±14 hours.
func readingOffset(st int64, dt share.Date) int {
	if dt.HasOffset {
		return dt.Offset
	}
	const quarter = 15 * 60_000
	q := math.Round(float64(dt.MS-st) / quarter)
	off := int(q) * 15
	if off > 14*60 || off < -14*60 {
		return 0
	}
	return off
}

// POST Publisher/ReadPublisherLatestGlucoseValues [observed]
// Query: sessionId, minutes, maxCount (or the same names in a JSON body).
// Defaults: minutes 1440, maxCount 1. 200: readings newest first.
func (a *API) readPublisherLatest(c *call) (reply, error) {
	q, err := readQuery(c.p)
	if err != nil {
		return reply{}, err
	}
	rs, err := a.svc.LatestReadings(c.ctx, c.acct.ID, q, c.now)
	if err != nil {
		return reply{}, err
	}
	return a.readingsReply(c, rs)
}

// readQuery reads minutes and maxCount with their defaults; negative values
// are invalid, large ones are capped by the service.
func readQuery(p *params) (q core.ReadQuery, err error) {
	if q.Minutes, err = readCount(p, "minutes", 1440); err != nil {
		return q, err
	}
	q.MaxCount, err = readCount(p, "maxCount", 1)
	return q, err
}

// readCount reads a non-negative integer parameter, def when absent.
func readCount(p *params, name string, def int64) (int64, error) {
	n, ok, err := p.Int(name)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return def, nil
	case n < 0:
		return 0, glucose.InvalidArgument("%s must not be negative", name)
	}
	return n, nil
}

// readingsReply encodes readings in the request's compat mode (docs/protocol.md, "Compatibility mode").
// It writes what share.AppendReadings writes, one reading at a time, so
// that no copy of the readings in their wire form is made.
func (a *API) readingsReply(c *call, rs []glucose.Reading) (reply, error) {
	compat, _, _, _ := c.p.String("compat")
	legacy := a.svc.CompatFor(compat, c.acct) == glucose.CompatLegacy
	body := append(make([]byte, 0, 16+len(rs)*112), '[')
	for i, r := range rs {
		if i > 0 {
			body = append(body, ',')
		}
		body = share.AppendReading(body, r.Wire(), legacy)
	}
	return rawReply(append(body, ']'))
}

// POST Publisher/ReadPublisherAccountDisplayName [official-app]
func (a *API) readDisplayName(c *call) (reply, error) { return jsonReply(c.acct.DisplayName) }

// POST Publisher/UpdatePublisherAccountDisplayName [official-app]
// trimmed, 1–100 characters, no control characters.
func (a *API) updateDisplayName(c *call) (reply, error) {
	name, _, _, err := c.p.String("displayName")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.SetDisplayName(c.ctx, c.acct.ID, name); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/ReadPublisherAccountEmail [official-app]
func (a *API) readEmail(c *call) (reply, error) { return jsonReply(c.acct.Email) }

// POST Publisher/UpdatePublisherAccountEmail [official-app]
// InvalidEmailAddress (rule in docs/protocol.md, "Publisher: contacts and followers").
func (a *API) updateEmail(c *call) (reply, error) {
	email, _, _, err := c.p.String("emailAddress")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.SetEmail(c.ctx, c.acct.ID, email); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// GET Publisher/ReadPublisherAccountImage [official-app]
// 200: the raw image with Content-Type image/png or image/jpeg and
// Cache-Control: private, no-cache. No image → 404 ImageNotFound.
func (a *API) readImage(c *call) (reply, error) {
	return a.imageReply(c, c.acct.ID)
}

func (a *API) imageReply(c *call, accountID string) (reply, error) {
	img, err := a.svc.Image(c.ctx, accountID)
	if err != nil {
		return reply{}, err
	}
	return reply{contentType: img.ContentType, body: img.Data, cache: "private, no-cache"}, nil
}

// POST Publisher/UpdatePublisherAccountImage [official-app]
// Body: {"ImageType":"png","ImageData":[137,80,78,71,…]} — integers −128..255
// or a base64 string; an empty array or null removes the image.
func (a *API) updateImage(c *call) (reply, error) {
	declared, _, _, err := c.p.String("ImageType")
	if err != nil {
		return reply{}, err
	}
	raw, err := c.p.member("ImageData")
	if err != nil {
		return reply{}, err
	}
	data, err := imageBytes(raw)
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.SetImage(c.ctx, c.acct.ID, declared, data); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// imageBytes decodes ImageData: an array of integers −128..255 (negative n
// stands for n+256) or a base64 string.
func imageBytes(raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, glucose.InvalidArgument("ImageData is not valid JSON")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, glucose.InvalidArgument("ImageData must be base64 or an array of byte values")
		}
		return b, nil
	}
	// Elements are decoded one by one: encoding/json would read a null
	// element as 0.
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, glucose.InvalidArgument("ImageData must be base64 or an array of byte values")
	}
	if len(elems) > core.MaxImageBytes {
		return nil, glucose.InvalidArgument("ImageData is larger than %d bytes", core.MaxImageBytes)
	}
	b := make([]byte, len(elems))
	for i, el := range elems {
		var n int
		if isNull(el) || json.Unmarshal(el, &n) != nil || n < -128 || n > 255 {
			return nil, glucose.InvalidArgument("ImageData[%d] must be an integer between -128 and 255", i)
		}
		b[i] = byte(n)
	}
	return b, nil
}
