package sio

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testServer serves s and returns its URL.
func testServer(t *testing.T, s *Server) string {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return ts.URL + "/socket.io/?EIO=4&transport=polling"
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// open does the handshake and returns the session's URL.
func open(t *testing.T, base string) string {
	t.Helper()
	status, body := get(t, base)
	var o struct {
		SID string `json:"sid"`
	}
	if status != 200 || !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &o) != nil {
		t.Fatalf("handshake: %d %q", status, body)
	}
	return base + "&sid=" + o.SID
}

// echoServer accepts /echo and answers "echo" events with their
// arguments; it keeps the last socket in *last.
func echoServer(opts Options, last **Socket) *Server {
	opts.Connect = func(_ *http.Request, s *Socket, _ json.RawMessage) error {
		if s.Namespace != "/echo" {
			return errors.New("Invalid namespace")
		}
		s.On("echo", func(_ *http.Request, args []json.RawMessage) []any {
			out := []any{}
			for _, a := range args {
				out = append(out, a)
			}
			return out
		})
		if last != nil {
			*last = s
		}
		return nil
	}
	return NewServer(opts)
}

func TestConnectEventAck(t *testing.T) {
	base := testServer(t, echoServer(Options{}, nil))
	sess := open(t, base)
	// Two packets in one payload: connect, then an event with ack id 7.
	if status, body := post(t, sess, "40/echo,\x1e42/echo,7[\"echo\",{\"a\":1},2]"); status != 200 || body != "ok" {
		t.Fatalf("post: %d %q", status, body)
	}
	_, body := get(t, sess)
	ps := strings.Split(body, "\x1e")
	if len(ps) != 2 || !strings.HasPrefix(ps[0], `40/echo,{"sid":"`) || ps[1] != `43/echo,7[{"a":1},2]` {
		t.Fatalf("poll: %q, want the connect answer and the ack", body)
	}
	// An unknown namespace gets a connect error, the session lives on.
	post(t, sess, "40/other,")
	if _, body := get(t, sess); body != `44/other,{"message":"Invalid namespace"}` {
		t.Fatalf("unknown namespace: %q", body)
	}
}

func TestBadRequestsInEngineIOShape(t *testing.T) {
	s := echoServer(Options{MaxPayload: 64, MaxSessions: 2}, nil)
	base := testServer(t, s)
	root := strings.TrimSuffix(base, "?EIO=4&transport=polling")
	for _, tc := range []struct{ url, want string }{
		{root + "?EIO=3&transport=polling", `{"code":5,"message":"Unsupported protocol version"}`},
		{root + "?EIO=4&transport=websocket", `{"code":0,"message":"Transport unknown"}`},
		{base + "&sid=unknown", `{"code":1,"message":"Session ID unknown"}`},
	} {
		if status, body := get(t, tc.url); status != 400 || body != tc.want {
			t.Errorf("GET %s: %d %s, want 400 %s", tc.url, status, body, tc.want)
		}
	}
	// A malformed payload or one over MaxPayload: 400, and the session
	// is gone.
	for _, body := range []string{"4zzz", "40/echo," + strings.Repeat("x", 100), "", "52probe", "45/echo,[]"} {
		sess := open(t, base)
		if status, _ := post(t, sess, body); status != 400 {
			t.Errorf("POST %q: status %d, want 400", body, status)
		}
		if status, got := get(t, sess); status != 400 || !strings.Contains(got, `"code":1`) {
			t.Errorf("after POST %q: %d %s, want the session closed", body, status, got)
		}
	}
	// MaxSessions: the third concurrent session is refused.
	open(t, base)
	open(t, base)
	if status, body := get(t, base); status != 403 || body != `{"code":4,"message":"Forbidden"}` {
		t.Errorf("third session: %d %s, want 403 Forbidden", status, body)
	}
}

func TestSessionsPerAddressAreBounded(t *testing.T) {
	addr := "192.0.2.1"
	s := echoServer(Options{MaxPerAddr: 2, AddrOf: func(*http.Request) string { return addr }}, nil)
	base := testServer(t, s)
	first := open(t, base)
	open(t, base)
	if status, _ := get(t, base); status != 403 {
		t.Fatalf("third session of one address: %d, want 403", status)
	}
	addr = "192.0.2.2" // another client is not held up
	open(t, base)
	// A session that ends frees its address's place.
	addr = "192.0.2.1"
	post(t, first, "1")
	open(t, base)
}

func TestSilentClientIsDropped(t *testing.T) {
	s := echoServer(Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}, nil)
	base := testServer(t, s)
	sess := open(t, base)
	// A client that polls and answers pings keeps its session.
	for range 4 {
		_, body := get(t, sess)
		if body != "2" {
			t.Fatalf("poll: %q, want a ping", body)
		}
		post(t, sess, "3")
	}
	if s.Sessions() != 1 {
		t.Fatalf("sessions: %d, want the answering one open", s.Sessions())
	}
	// One that stops is dropped after a ping goes unanswered.
	time.Sleep(300 * time.Millisecond)
	if s.Sessions() != 0 {
		t.Fatalf("sessions: %d, want the silent one dropped", s.Sessions())
	}
}

func TestQueueIsBounded(t *testing.T) {
	var so *Socket
	s := echoServer(Options{MaxQueued: 3}, &so)
	base := testServer(t, s)
	sess := open(t, base)
	post(t, sess, "40/echo,") // its answer takes one place in the queue
	for i := range 2 {
		if err := so.Emit("x", i); err != nil {
			t.Fatalf("emit %d: %v", i, err)
		}
	}
	// The queue is full: the next emit closes the session rather than grow.
	if err := so.Emit("x", 3); err == nil {
		t.Fatal("emit past MaxQueued: want an error")
	}
	if so.Context().Err() == nil || s.Sessions() != 0 {
		t.Fatal("want the socket and its session closed")
	}
}

func TestSecondConcurrentPollClosesSession(t *testing.T) {
	s := echoServer(Options{}, nil)
	base := testServer(t, s)
	sess := open(t, base)
	first := make(chan string)
	go func() { _, b := get(t, sess); first <- b }()
	time.Sleep(100 * time.Millisecond)
	if status, _ := get(t, sess); status != 400 {
		t.Errorf("second poll: %d, want 400", status)
	}
	if b := <-first; b != "1" {
		t.Errorf("first poll: %q, want the close packet", b)
	}
}

func TestDecodePacket(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		typ   int
		ns    string
		ackID int64
	}{
		{"0", true, sioConnect, "/", -1},
		{"0/storage,", true, sioConnect, "/storage", -1},
		{`0/storage,{"token":"x"}`, true, sioConnect, "/storage", -1},
		{"1/storage", true, sioDisconnect, "/storage", -1},
		{`2/storage,12["subscribe",{}]`, true, sioEvent, "/storage", 12},
		{`2["hello"]`, true, sioEvent, "/", -1},
		{`3/storage,4[]`, true, sioAck, "/storage", 4},
		{`2/storage,[]`, false, 0, "", 0},               // an event without a name
		{`2/storage,[1]`, false, 0, "", 0},              // a name that is not a string
		{`2/storage,{"a":1}`, false, 0, "", 0},          // not an array
		{`2/storage,99999999999["x"]`, false, 0, "", 0}, // ack id out of range
		{`51-["x",{"_placeholder":true,"num":0}]`, false, 0, "", 0},
		{`0/storage,"str"`, false, 0, "", 0},
		{`2["x"`, false, 0, "", 0},
		{"7", false, 0, "", 0},
		{"", false, 0, "", 0},
	} {
		p, err := decodePacket([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("decodePacket(%q): err %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (p.typ != tc.typ || p.namespace != tc.ns || p.ackID != tc.ackID) {
			t.Errorf("decodePacket(%q) = %d %q %d, want %d %q %d", tc.in, p.typ, p.namespace, p.ackID, tc.typ, tc.ns, tc.ackID)
		}
	}
}

// FuzzDecode feeds arbitrary payloads through the payload splitter and the
// packet decoder: no panic, and what decodes re-encodes to a packet that
// decodes the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"40/storage,", "42/storage,0[\"subscribe\",{\"accessToken\":\"t\"}]\x1e3",
		"43/storage,1[{}]", "41/storage", "2\x1e3\x1e6", "451-[\"x\",{\"_placeholder\":true}]", "4/,", "40/a,9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := splitPayload(body)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p[0] != eioMessage {
				continue
			}
			pk, err := decodePacket(p[1:])
			if err != nil {
				continue
			}
			again, err := decodePacket(pk.encode()[1:])
			if err != nil || again.typ != pk.typ || again.ackID != pk.ackID || string(again.data) != string(pk.data) {
				t.Fatalf("%q decoded to %+v, re-encoded %q, decoded again to %+v (%v)", p, pk, pk.encode(), again, err)
			}
			if pk.namespace != again.namespace && !(pk.namespace == "" && again.namespace == "/") {
				t.Fatalf("%q: namespace %q became %q", p, pk.namespace, again.namespace)
			}
		}
	})
}
