package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// AndroidAPS's NSClient v3 with "Connect to websockets" on (its default):
// it downloads only through the storage socket then, so the socket must
// work for it to keep receiving readings and treatments after its first
// load (NSClientV3Plugin.kt @ 00689f9d: the main loop only ticks while the
// setting is on; NSClientV3Service.kt @ 078ae353: the socket's connect,
// subscribe and handlers). Its Socket.IO client is io.socket:socket.io-client
// 2.1.1 (gradle/libs.versions.toml @ 00378ee3): Engine.IO v4, starting on
// HTTP long-polling, IO.socket(url + "/storage") with default options, so
// the address's path is the namespace and the transport is polling unless
// the server offers an upgrade. The sequence replayed here is that
// client's, over HTTP, against a real glucoshare.

// sioClient is one Engine.IO session, polled by hand.
type sioClient struct {
	t   *testing.T
	s   *server
	sid string
	ns  string
}

// sioOpen is the handshake: GET /socket.io/?EIO=4&transport=polling.
func sioOpen(t *testing.T, s *server, ns string) *sioClient {
	t.Helper()
	r := s.do(t, call{method: "GET", path: "/socket.io/?EIO=4&transport=polling&t=P1a2b3c"})
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") {
		t.Fatalf("handshake: %d %q, want 200 and an open packet", r.status, r.body)
	}
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}
	if err := json.Unmarshal([]byte(r.body[1:]), &open); err != nil || open.SID == "" {
		t.Fatalf("open packet %q: %v", r.body, err)
	}
	// No upgrade offered: the client stays on polling.
	if len(open.Upgrades) != 0 || open.PingInterval <= 0 || open.PingTimeout <= 0 || open.MaxPayload <= 0 {
		t.Fatalf("open packet %q: want no upgrades and positive heartbeat and payload limits", r.body)
	}
	return &sioClient{t: t, s: s, sid: open.SID, ns: ns}
}

func (c *sioClient) path() string { return "/socket.io/?EIO=4&transport=polling&sid=" + c.sid }

// post sends packets, joined by the record separator, as the client's
// polling transport does.
func (c *sioClient) post(packets ...string) reply {
	c.t.Helper()
	return c.s.do(c.t, call{path: c.path(), header: []string{"Content-Type", "text/plain;charset=UTF-8"},
		body: strings.Join(packets, "\x1e")})
}

// poll long-polls once, waiting at most wait; it returns the packets, or
// nil when nothing came in time.
func (c *sioClient) poll(wait time.Duration) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.s.base+c.path(), nil)
	res, err := c.s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		c.t.Fatalf("poll: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		c.t.Fatalf("poll: status %d: %s", res.StatusCode, body)
	}
	var out []string
	for _, p := range strings.Split(string(body), "\x1e") {
		if p == "2" { // a ping: answer it, as the client does
			c.post("3")
			continue
		}
		out = append(out, p)
	}
	return out
}

// next polls until a packet other than a ping arrives.
func (c *sioClient) next(wait time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if ps := c.poll(time.Until(deadline)); len(ps) > 0 {
			if len(ps) > 1 {
				c.t.Fatalf("poll returned %d packets %q, want one at a time here", len(ps), ps)
			}
			return ps[0]
		}
	}
	c.t.Fatalf("nothing arrived on %s within %v", c.ns, wait)
	return ""
}

// connect joins the namespace: 40/storage, answered 40/storage,{"sid"}.
func (c *sioClient) connect() {
	c.t.Helper()
	if r := c.post("40" + c.ns + ","); r.status != 200 || r.body != "ok" {
		c.t.Fatalf("namespace connect: %d %q", r.status, r.body)
	}
	got := c.next(5 * time.Second)
	if !strings.HasPrefix(got, "40"+c.ns+",{\"sid\":") {
		c.t.Fatalf("namespace connect answered %q, want 40%s,{\"sid\":…}", got, c.ns)
	}
}

// subscribeAck is the subscribe acknowledgement.
type subscribeAck struct {
	Success     bool     `json:"success"`
	Collections []string `json:"collections"`
	Message     string   `json:"message"`
}

// subscribe emits what onConnectStorage emits, with ack id 0.
func (c *sioClient) subscribe(token string) subscribeAck {
	c.t.Helper()
	msg := fmt.Sprintf(`["subscribe",{"accessToken":%q,"collections":["devicestatus","entries","profile","treatments","foods","settings"]}]`, token)
	if r := c.post("42" + c.ns + ",0" + msg); r.status != 200 || r.body != "ok" {
		c.t.Fatalf("subscribe: %d %q", r.status, r.body)
	}
	got := c.next(15 * time.Second)
	prefix := "43" + c.ns + ",0"
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("subscribe answered %q, want the ack %s[…]", got, prefix)
	}
	var ack []subscribeAck
	if err := json.Unmarshal([]byte(got[len(prefix):]), &ack); err != nil || len(ack) != 1 {
		c.t.Fatalf("subscribe ack %q: %v", got, err)
	}
	return ack[0]
}

// storageEvent is a create/update/delete event's argument.
type storageEvent struct {
	ColName    string         `json:"colName"`
	Doc        map[string]any `json:"doc"`
	Identifier string         `json:"identifier"`
}

// event waits for an event and decodes it: its name and argument.
func (c *sioClient) event(wait time.Duration) (string, storageEvent) {
	c.t.Helper()
	got := c.next(wait)
	prefix := "42" + c.ns + ","
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want an event 42%s,[…]", got, c.ns)
	}
	var arr []json.RawMessage
	var name string
	var ev storageEvent
	if json.Unmarshal([]byte(got[len(prefix):]), &arr) != nil || len(arr) != 2 ||
		json.Unmarshal(arr[0], &name) != nil || json.Unmarshal(arr[1], &ev) != nil {
		c.t.Fatalf("event %q: want [name, {colName, …}]", got)
	}
	return name, ev
}

// shareUpload uploads one reading through the Share API, as the official
// uploader does (docs/protocol.md, "Publisher: glucose").
func shareUpload(t *testing.T, s *server, a account, serial string, st int64, value int) {
	t.Helper()
	hdr := []string{"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Content-Type", "application/json", "Accept", "application/json"}
	login := mustJSON(t, map[string]string{"accountName": a.name, "password": a.password, "applicationId": appID})
	sid := wantID(t, "publisher login", s.do(t, call{host: usHost, path: apiBase + "General/LoginPublisherAccountByName", header: hdr, body: login}))
	q := "?sessionId=" + sid + "&serialNumber=" + serial
	wantID(t, "publisher Replace", s.do(t, call{host: usHost, path: apiBase + "Publisher/ReplacePublisherAccountMonitoredReceiver" + q, header: hdr, body: "{}"}))
	wantVoid(t, "publisher Start", s.do(t, call{host: usHost, path: apiBase + "Publisher/StartRemoteMonitoringSession" + q, header: hdr, body: "{}"}))
	body := escapeSlashes(fmt.Sprintf(`{"Egvs":[{"DT":"%s","ST":"%s","Trend":4,"Value":%d}],"SN":%q,"TA":0}`,
		dotNetDate(st), dotNetDate(st), value, serial))
	wantVoid(t, "publisher Post", s.do(t, call{host: usHost, path: apiBase + "Publisher/PostReceiverEgvRecords?sessionId=" + sid, header: hdr, body: body}))
}

func TestAndroidAPSStorageSocket(t *testing.T) {
	s := startServer(t)
	alice := newNSAccount(t, s, "alice@example.org", false)
	bob := newNSAccount(t, s, "bob@example.org", false)

	// A WebSocket-only client is told the transport is unknown, in
	// Engine.IO's error shape; a v3 client (EIO=3) that the protocol is not
	// supported.
	r := s.do(t, call{method: "GET", path: "/socket.io/?EIO=4&transport=websocket"})
	if r.status != 400 || r.body != `{"code":0,"message":"Transport unknown"}` {
		t.Errorf("websocket transport: %d %s, want 400 {code 0}", r.status, r.body)
	}
	r = s.do(t, call{method: "GET", path: "/socket.io/?EIO=3&transport=polling"})
	if r.status != 400 || r.body != `{"code":5,"message":"Unsupported protocol version"}` {
		t.Errorf("EIO=3: %d %s, want 400 {code 5}", r.status, r.body)
	}

	// AndroidAPS connects /storage and subscribes with its access token.
	a := sioOpen(t, s, "/storage")
	a.connect()
	ack := a.subscribe(alice.readWrite)
	// "foods" is not a collection (food is): left out, as Nightscout does;
	// a read-write token is admin, so settings are in. The reference
	// answers the same, in the order asked.
	if want := "devicestatus,entries,profile,treatments,settings"; !ack.Success || strings.Join(ack.Collections, ",") != want {
		t.Fatalf("subscribe: %+v, want success with %s", ack, want)
	}
	// Bob's follower app, on Bob's per-account address.
	b := sioOpen(t, s, bob.site+"/storage")
	b.connect()
	if ack := b.subscribe(bob.readOnly); !ack.Success || strings.Join(ack.Collections, ",") != "devicestatus,entries,profile,treatments" {
		t.Fatalf("bob's subscribe: %+v, want success without settings (read-only)", ack)
	}

	// A reading through Share arrives as AndroidAPS's "entries" create:
	// it reads doc.srvModified, then the document as an API v3 sgv.
	st := time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli()
	shareUpload(t, s, alice.account, "SM11111111", st, 123)
	name, ev := a.event(15 * time.Second)
	if name != "create" || ev.ColName != "entries" {
		t.Fatalf("after a Share upload: %s %+v, want create of entries", name, ev)
	}
	if ev.Doc["sgv"] != float64(123) || ev.Doc["date"] != float64(st) || ev.Doc["type"] != "sgv" {
		t.Errorf("entries doc %v: want sgv 123 at %d", ev.Doc, st)
	}
	if _, ok := ev.Doc["srvModified"].(float64); !ok {
		t.Errorf("entries doc %v: want a numeric srvModified", ev.Doc)
	}
	if id, _ := ev.Doc["identifier"].(string); id == "" {
		t.Errorf("entries doc %v: want an identifier", ev.Doc)
	}

	// A treatment through API v1 arrives as a "treatments" create.
	created := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	wantStatus(t, "v1 treatment", s.do(t, call{path: "/api/v1/treatments", header: []string{"api-secret", sha1Hex(alice.secret), "Content-Type", "application/json"},
		body: fmt.Sprintf(`[{"eventType":"Carb Correction","created_at":%q,"carbs":12,"enteredBy":"xdrip"}]`, created)}), 200)
	name, ev = a.event(15 * time.Second)
	if name != "create" || ev.ColName != "treatments" || ev.Doc["carbs"] != float64(12) || ev.Doc["eventType"] != "Carb Correction" {
		t.Fatalf("after a v1 treatment: %s %+v, want create of the treatment", name, ev)
	}
	treatmentID, _ := ev.Doc["identifier"].(string)
	if _, ok := ev.Doc["srvModified"].(float64); !ok || treatmentID == "" {
		t.Errorf("treatment doc %v: want identifier and numeric srvModified", ev.Doc)
	}

	// API v3's changes: AndroidAPS's JWT for the token.
	var jwt struct {
		Token string `json:"token"`
	}
	decodeAs(t, "jwt", s.get(t, "/api/v2/authorization/request/"+alice.readWrite), &jwt)
	// A change through API v3's PATCH arrives as an update.
	wantStatus(t, "v3 patch", s.do(t, call{method: "PATCH", path: "/api/v3/treatments/" + treatmentID,
		header: []string{"Authorization", "Bearer " + jwt.Token, "Content-Type", "application/json"}, body: `{"carbs":13}`}), 200)
	name, ev = a.event(15 * time.Second)
	if name != "update" || ev.ColName != "treatments" || ev.Doc["identifier"] != treatmentID || ev.Doc["carbs"] != float64(13) {
		t.Fatalf("after a v3 patch: %s %+v, want update of treatments %s with carbs 13", name, ev, treatmentID)
	}
	wantStatus(t, "v3 delete", s.do(t, call{method: "DELETE", path: "/api/v3/treatments/" + treatmentID,
		header: []string{"Authorization", "Bearer " + jwt.Token}}), 200)
	// The deletion arrives as a delete with its identifier.
	name, ev = a.event(15 * time.Second)
	if name != "delete" || ev.ColName != "treatments" || ev.Identifier != treatmentID {
		t.Fatalf("after a v3 delete: %s %+v, want delete of treatments %s", name, ev, treatmentID)
	}

	// Bob's socket saw none of Alice's changes: his own reading is the
	// first thing it receives.
	shareUpload(t, s, bob.account, "SM22222222", st, 201)
	name, ev = b.event(15 * time.Second)
	if name != "create" || ev.ColName != "entries" || ev.Doc["sgv"] != float64(201) {
		t.Fatalf("bob's socket: first event %s %+v, want his own reading (201), not alice's", name, ev)
	}

	// Alice's token at Bob's address is refused.
	x := sioOpen(t, s, bob.site+"/storage")
	x.connect()
	if ack := x.subscribe(alice.readWrite); ack.Success {
		t.Fatalf("alice's token on bob's namespace: %+v, want refused", ack)
	}

	// A revoked token stops receiving: at the next change the socket is
	// disconnected instead of told.
	var tokenID string
	for _, row := range strings.Split(s.cli(t, "account", "nightscout-token", bob.name, "--list"), "\n") {
		if strings.Contains(row, "follower app") {
			tokenID = strings.Fields(row)[0]
		}
	}
	s.cli(t, "account", "nightscout-token", bob.name, "--revoke", tokenID)
	shareUpload(t, s, bob.account, "SM22222222", st+5*60_000, 202)
	if got := b.next(15 * time.Second); got != "41"+bob.site+"/storage," {
		t.Fatalf("after revoking bob's token: %q, want a disconnect", got)
	}

	// A wrong token is refused, and that socket receives nothing.
	w := sioOpen(t, s, "/storage")
	w.connect()
	if ack := w.subscribe("not-a-token-0123456789"); ack.Success || ack.Message != "Missing or bad accessToken" {
		t.Fatalf("wrong token: %+v, want refused with Nightscout's message", ack)
	}
	shareUpload(t, s, alice.account, "SM11111111", st+5*60_000, 130)
	if name, ev := a.event(15 * time.Second); name != "create" || ev.Doc["sgv"] != float64(130) {
		t.Fatalf("alice's socket: %s %+v, want the second reading", name, ev)
	}
	if ps := w.poll(2 * time.Second); len(ps) > 0 {
		t.Errorf("refused socket received %q, want nothing", ps)
	}

	// An unknown namespace is refused with a connect error; an unknown
	// session with Engine.IO's error.
	u := sioOpen(t, s, "/alarm")
	u.post("40/alarm,")
	if got := u.next(5 * time.Second); got != `44/alarm,{"message":"Invalid namespace"}` {
		t.Errorf("connect to /alarm: %q, want a connect error", got)
	}
	r = s.do(t, call{method: "GET", path: "/socket.io/?EIO=4&transport=polling&sid=nope"})
	if r.status != 400 || r.body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("unknown sid: %d %s", r.status, r.body)
	}
}
