// Package sio serves Socket.IO v5 over Engine.IO v4's HTTP long-polling
// transport, the part of Socket.IO that Nightscout clients need to receive
// live changes: a session handshake, heartbeats, packet framing, namespace
// connects, events with acknowledgements, and events sent to clients.
//
// WebSocket is not offered: the open packet advertises no upgrades, so a
// client with the default transports (polling, then websocket) stays on
// polling. A client that insists on WebSocket gets Engine.IO's "Transport
// unknown" error.
//
// Everything is bounded: sessions overall, the body of a POST, the
// packets waiting for a client's next poll (a client that stops polling
// has its session closed rather than queue without end), and the time a
// session lives without answering a ping.
package sio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options configures a Server. Zero values take the defaults.
type Options struct {
	// PingInterval is how often the server pings (default 25 s, Socket.IO's);
	// a long poll that has nothing to deliver returns after it.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take (default 20 s). A session that
	// does not answer a ping within it — a client that stopped polling — is
	// closed.
	PingTimeout time.Duration
	// MaxPayload bounds a POST's body in bytes (default 64 KiB).
	MaxPayload int
	// MaxSessions bounds the open sessions (default 1000).
	MaxSessions int
	// MaxPerAddr bounds the open sessions of one client address (default
	// 20), so that one client cannot take every session.
	MaxPerAddr int
	// AddrOf tells a request's client address; default its RemoteAddr's
	// host.
	AddrOf func(*http.Request) string
	// MaxQueued bounds the packets waiting for a session's next poll
	// (default 256); past it the session is closed.
	MaxQueued int
	// Connect decides a namespace connect, carried by r. It returns nil
	// to accept (and registers the socket's event handlers with On) or an
	// error whose text goes back to the client as the connect error's
	// message.
	Connect func(r *http.Request, s *Socket, auth json.RawMessage) error
}

// Server is an http.Handler for the Socket.IO path (/socket.io/).
type Server struct {
	opts     Options
	mu       sync.Mutex
	sessions map[string]*session
	perAddr  map[string]int
	closed   bool
}

// NewServer returns a server with opts.
func NewServer(opts Options) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 20 * time.Second
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 64 << 10
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 1000
	}
	if opts.MaxPerAddr <= 0 {
		opts.MaxPerAddr = 20
	}
	if opts.AddrOf == nil {
		opts.AddrOf = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 256
	}
	if opts.Connect == nil {
		opts.Connect = func(*http.Request, *Socket, json.RawMessage) error { return errors.New("Invalid namespace") }
	}
	return &Server{opts: opts, sessions: map[string]*session{}, perAddr: map[string]int{}}
}

// Engine.IO's error codes (engine.io lib/server.js Server.errors).
const (
	errTransportUnknown = 0
	errSessionUnknown   = 1
	errBadHandshake     = 2
	errBadRequest       = 3
	errForbidden        = 4
	errUnsupportedEIO   = 5
)

var errorMessages = map[int]string{
	errTransportUnknown: "Transport unknown",
	errSessionUnknown:   "Session ID unknown",
	errBadHandshake:     "Bad handshake method",
	errBadRequest:       "Bad request",
	errForbidden:        "Forbidden",
	errUnsupportedEIO:   "Unsupported protocol version",
}

// writeError is the one writer of Engine.IO errors: 400 and
// {"code","message"}, as engine.io answers them.
func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, errorMessages[code]})
	w.Write(body)
}

// ServeHTTP answers the polling transport: GET without sid opens a
// session, GET with sid long-polls for packets, POST with sid delivers the
// client's packets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, errUnsupportedEIO)
		return
	}
	if q.Get("transport") != "polling" {
		writeError(w, errTransportUnknown)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			writeError(w, errBadHandshake)
			return
		}
		s.open(w, r)
		return
	}
	s.mu.Lock()
	sess := s.sessions[sid]
	s.mu.Unlock()
	if sess == nil {
		writeError(w, errSessionUnknown)
		return
	}
	switch r.Method {
	case http.MethodGet:
		sess.poll(w, r)
	case http.MethodPost:
		sess.receive(w, r)
	default:
		writeError(w, errBadRequest)
	}
}

// Close ends every session; polls waiting return their close packet.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.close()
	}
}

// Sessions returns how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func newID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open is the handshake: the open packet with the session id, no
// upgrades, the heartbeat and the payload limit.
func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	addr := s.opts.AddrOf(r)
	sess := &session{srv: s, id: newID(), addr: addr, wake: make(chan struct{}, 1), done: make(chan struct{}),
		pong:    make(chan struct{}, 1),
		sockets: map[string]*Socket{}}
	s.mu.Lock()
	if s.closed || len(s.sessions) >= s.opts.MaxSessions || s.perAddr[addr] >= s.opts.MaxPerAddr {
		s.mu.Unlock()
		writeError(w, errForbidden)
		return
	}
	s.sessions[sess.id] = sess
	s.perAddr[addr]++
	s.mu.Unlock()
	body, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sess.id, []string{}, s.opts.PingInterval.Milliseconds(), s.opts.PingTimeout.Milliseconds(), s.opts.MaxPayload})
	go sess.heartbeat()
	writeText(w, append([]byte{eioOpen}, body...))
}

func writeText(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// session is one Engine.IO session.
type session struct {
	srv  *Server
	id   string
	addr string        // the client's address, for MaxPerAddr
	wake chan struct{} // signalled when packets are queued
	done chan struct{} // closed when the session ends
	pong chan struct{} // signalled by the client's pongs

	mu        sync.Mutex
	queue     [][]byte
	polling   bool
	sockets   map[string]*Socket
	closeOnce sync.Once
}

// heartbeat pings PingInterval after the last pong (engine.io's
// schedulePing) and closes the session when a ping goes unanswered for
// PingTimeout.
func (sess *session) heartbeat() {
	interval, timeout := sess.srv.opts.PingInterval, sess.srv.opts.PingTimeout
	for {
		select {
		case <-sess.done:
			return
		case <-time.After(interval):
		}
		select { // a pong that came unasked does not count for this ping
		case <-sess.pong:
		default:
		}
		if !sess.send([]byte{eioPing}) {
			return
		}
		select {
		case <-sess.done:
			return
		case <-sess.pong:
		case <-time.After(timeout):
			sess.close()
			return
		}
	}
}

// send queues an Engine.IO packet for the next poll; a full queue closes
// the session (the client is not polling). false when the session is
// closed.
func (sess *session) send(p []byte) bool {
	sess.mu.Lock()
	select {
	case <-sess.done:
		sess.mu.Unlock()
		return false
	default:
	}
	if len(sess.queue) >= sess.srv.opts.MaxQueued {
		sess.mu.Unlock()
		sess.close()
		return false
	}
	sess.queue = append(sess.queue, p)
	sess.mu.Unlock()
	select {
	case sess.wake <- struct{}{}:
	default:
	}
	return true
}

// close ends the session and its sockets.
func (sess *session) close() {
	sess.closeOnce.Do(func() {
		sess.mu.Lock()
		close(sess.done)
		socks := sess.sockets
		sess.sockets = map[string]*Socket{}
		sess.mu.Unlock()
		for _, so := range socks {
			so.cancel()
		}
		srv := sess.srv
		srv.mu.Lock()
		delete(srv.sessions, sess.id)
		if srv.perAddr[sess.addr]--; srv.perAddr[sess.addr] <= 0 {
			delete(srv.perAddr, sess.addr)
		}
		srv.mu.Unlock()
	})
}

// poll is a long poll: it answers the queued packets, or waits for some
// until the next ping is due; a second concurrent poll is a protocol
// error that closes the session, as engine.io does.
func (sess *session) poll(w http.ResponseWriter, r *http.Request) {
	sess.mu.Lock()
	if sess.polling {
		sess.mu.Unlock()
		sess.close()
		writeError(w, errBadRequest)
		return
	}
	sess.polling = true
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		sess.polling = false
		sess.mu.Unlock()
	}()
	wait := time.NewTimer(sess.srv.opts.PingInterval + sess.srv.opts.PingTimeout)
	defer wait.Stop()
	for {
		sess.mu.Lock()
		out := sess.queue
		sess.queue = nil
		sess.mu.Unlock()
		if len(out) > 0 {
			writeText(w, joinPayload(out))
			return
		}
		select {
		case <-sess.wake:
		case <-sess.done:
			writeText(w, []byte{eioClose})
			return
		case <-r.Context().Done():
			return
		case <-wait.C:
			writeText(w, []byte{eioNoop})
			return
		}
	}
}

func joinPayload(ps [][]byte) []byte {
	n := len(ps) - 1
	for _, p := range ps {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for i, p := range ps {
		if i > 0 {
			out = append(out, recordSeparator)
		}
		out = append(out, p...)
	}
	return out
}

// receive takes a POST of the client's packets. A malformed payload
// closes the session: the client reconnects with a fresh one.
func (sess *session) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(sess.srv.opts.MaxPayload)))
	if err != nil {
		sess.close()
		writeError(w, errBadRequest)
		return
	}
	ps, err := splitPayload(body)
	if err != nil {
		sess.close()
		writeError(w, errBadRequest)
		return
	}
	for _, p := range ps {
		if !sess.handle(r, p) {
			sess.close()
			writeError(w, errBadRequest)
			return
		}
	}
	writeText(w, []byte("ok"))
}

// handle acts on one Engine.IO packet from the client; false for a
// protocol error.
func (sess *session) handle(r *http.Request, p []byte) bool {
	switch p[0] {
	case eioPong:
		select {
		case sess.pong <- struct{}{}:
		default:
		}
		return true
	case eioPing:
		// Engine.IO v4 clients do not ping; answer as v3 servers did.
		sess.send(append([]byte{eioPong}, p[1:]...))
		return true
	case eioClose:
		sess.close()
		return true
	case eioNoop:
		return true
	case eioMessage:
		pk, err := decodePacket(p[1:])
		if err != nil {
			return false
		}
		return sess.dispatch(r, pk)
	default: // open and upgrade come only from a server, or with WebSocket
		return false
	}
}

// dispatch acts on a Socket.IO packet.
func (sess *session) dispatch(r *http.Request, pk packet) bool {
	sess.mu.Lock()
	so := sess.sockets[pk.namespace]
	sess.mu.Unlock()
	switch pk.typ {
	case sioConnect:
		if so != nil {
			return false
		}
		so = &Socket{sess: sess, ID: newID(), Namespace: pk.namespace, handlers: map[string]EventFunc{}}
		so.ctx, so.cancel = context.WithCancel(context.Background())
		if err := sess.srv.opts.Connect(r, so, pk.data); err != nil {
			so.cancel()
			msg, _ := json.Marshal(map[string]string{"message": err.Error()})
			sess.send(packet{typ: sioConnectError, namespace: pk.namespace, ackID: -1, data: msg}.encode())
			return true
		}
		sess.mu.Lock()
		sess.sockets[pk.namespace] = so
		sess.mu.Unlock()
		body, _ := json.Marshal(map[string]string{"sid": so.ID})
		sess.send(packet{typ: sioConnect, namespace: pk.namespace, ackID: -1, data: body}.encode())
		return true
	case sioDisconnect:
		if so != nil {
			sess.mu.Lock()
			delete(sess.sockets, pk.namespace)
			sess.mu.Unlock()
			so.cancel()
		}
		return true
	case sioEvent:
		if so == nil {
			// An event for a namespace not connected is ignored, as the
			// reference server does.
			return true
		}
		name, args := pk.event()
		so.mu.Lock()
		fn := so.handlers[name]
		so.mu.Unlock()
		if fn == nil {
			return true
		}
		answer := fn(r, args)
		if pk.ackID >= 0 {
			if answer == nil {
				answer = []any{}
			}
			data, err := json.Marshal(answer)
			if err != nil {
				return false
			}
			sess.send(packet{typ: sioAck, namespace: pk.namespace, ackID: pk.ackID, data: data}.encode())
		}
		return true
	case sioAck:
		// This server asks no acknowledgements.
		return true
	default:
		return false
	}
}

// EventFunc handles an event from a client: r is the HTTP request that
// carried it, args its arguments. What it returns is the acknowledgement
// (an array of answers) when the client asked for one.
type EventFunc func(r *http.Request, args []json.RawMessage) []any

// Socket is a client's connection to one namespace.
type Socket struct {
	// ID is the socket's id, sent to the client on connect.
	ID string
	// Namespace is the namespace connected to ("/storage").
	Namespace string

	sess     *session
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	handlers map[string]EventFunc
}

// On registers the handler of an event.
func (so *Socket) On(event string, fn EventFunc) {
	so.mu.Lock()
	so.handlers[event] = fn
	so.mu.Unlock()
}

// Context is done when the socket disconnects or its session ends.
func (so *Socket) Context() context.Context { return so.ctx }

// Emit sends an event to the client. It fails when the socket is gone,
// or when the client's queue was full and its session was closed.
func (so *Socket) Emit(event string, args ...any) error {
	if so.ctx.Err() != nil {
		return errors.New("sio: socket closed")
	}
	data, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return err
	}
	if !so.sess.send(packet{typ: sioEvent, namespace: so.Namespace, ackID: -1, data: data}.encode()) {
		return errors.New("sio: session closed")
	}
	return nil
}

// Disconnect ends the socket from the server's side: the client is told
// (a disconnect packet) and the socket's context is done.
func (so *Socket) Disconnect() {
	sess := so.sess
	sess.mu.Lock()
	cur := sess.sockets[so.Namespace]
	if cur == so {
		delete(sess.sockets, so.Namespace)
	}
	sess.mu.Unlock()
	if cur == so {
		sess.send(packet{typ: sioDisconnect, namespace: so.Namespace, ackID: -1}.encode())
	}
	so.cancel()
}
