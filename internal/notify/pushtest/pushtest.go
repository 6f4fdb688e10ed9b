// Package pushtest is a push service for tests: the receiving side of Web
// Push (RFC 8030) that holds each subscription's private keys, so that it
// can decrypt every message it is sent (RFC 8291, aes128gcm of RFC 8188)
// and check the sender's VAPID authorization (RFC 8292) before it stores
// the message for the test to read. Any deviation from the RFCs fails the
// test.
package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Service is a running test push service on 127.0.0.1.
type Service struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	subs     map[string]*Subscription
	messages []Message
	status   int    // answer to every request while set (503: the service is down)
	wantKey  string // the VAPID public key every request must carry; "" = any
	changed  chan struct{}
}

// Subscription is one browser's subscription: its endpoint and the keys
// the browser would hold.
type Subscription struct {
	ID       string
	Endpoint string
	P256dh   string // base64url uncompressed public key, as PushSubscription.toJSON gives it
	Auth     string // base64url 16-byte secret
	private  *ecdh.PrivateKey
	auth     []byte
	gone     bool
}

// Message is one push message as the service received it, decrypted.
type Message struct {
	Subscription string // its ID
	Payload      []byte // the plaintext
	TTL          int
	Urgency      string
	Topic        string
	VAPID        VAPID
	At           time.Time
}

// VAPID is what the message's Authorization header asserted.
type VAPID struct {
	PublicKey string // k, base64url
	Audience  string
	Subject   string
	Expires   time.Time
}

// New starts a push service; it stops at the test's end.
func New(t testing.TB) *Service {
	s := &Service{t: t, subs: map[string]*Subscription{}, changed: make(chan struct{}, 1)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the service's base URL.
func (s *Service) URL() string { return s.srv.URL }

// Subscribe makes a subscription as a browser's push manager would.
func (s *Service) Subscribe() *Subscription {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	idb := make([]byte, 12)
	rand.Read(idb)
	id := base64.RawURLEncoding.EncodeToString(idb)
	sub := &Subscription{ID: id, Endpoint: s.srv.URL + "/push/" + id, private: priv, auth: auth,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth)}
	s.mu.Lock()
	s.subs[id] = sub
	s.mu.Unlock()
	return sub
}

// ExpectKey makes every request carrying another VAPID public key fail
// the test.
func (s *Service) ExpectKey(public string) {
	s.mu.Lock()
	s.wantKey = public
	s.mu.Unlock()
}

// Down makes the service answer every request with 503 until Up.
func (s *Service) Down() { s.setStatus(http.StatusServiceUnavailable) }

// Up makes the service work again.
func (s *Service) Up() { s.setStatus(0) }

func (s *Service) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

// Expire makes the subscription gone: its messages are answered 410.
func (s *Service) Expire(sub *Subscription) {
	s.mu.Lock()
	s.subs[sub.ID].gone = true
	s.mu.Unlock()
}

// Messages returns the messages received so far.
func (s *Service) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait returns the messages once there are at least n, failing the test
// after timeout.
func (s *Service) Wait(n int, timeout time.Duration) []Message {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		if ms := s.Messages(); len(ms) >= n {
			return ms
		}
		select {
		case <-s.changed:
		case <-deadline:
			s.t.Fatalf("pushtest: %d messages after %s, want %d", len(s.Messages()), timeout, n)
		}
	}
}

// serve is a push resource (RFC 8030 §5): POST /push/{id}.
func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status, sub, wantKey := s.status, s.subs[strings.TrimPrefix(r.URL.Path, "/push/")], s.wantKey
	s.mu.Unlock()
	switch {
	case status != 0:
		http.Error(w, "unavailable", status)
		return
	case r.Method != http.MethodPost || sub == nil:
		http.NotFound(w, r)
		return
	case sub.gone:
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	m, err := s.receive(r, sub, wantKey)
	if err != nil {
		s.t.Errorf("pushtest: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	w.Header().Set("Location", r.URL.Path+"/m")
	w.WriteHeader(http.StatusCreated)
}

// receive checks a request against RFC 8030, 8291 and 8292 and decrypts it.
func (s *Service) receive(r *http.Request, sub *Subscription, wantKey string) (Message, error) {
	m := Message{Subscription: sub.ID, Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic"), At: time.Now()}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		return m, fmt.Errorf("TTL header %q: RFC 8030 §5.2 requires a non-negative number", r.Header.Get("TTL"))
	}
	m.TTL = ttl
	if u := m.Urgency; u != "" && u != "very-low" && u != "low" && u != "normal" && u != "high" {
		return m, fmt.Errorf("Urgency %q (RFC 8030 §5.3)", u)
	}
	if len(m.Topic) > 32 || strings.ContainsFunc(m.Topic, func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}) {
		return m, fmt.Errorf("Topic %q: at most 32 base64url characters (RFC 8030 §5.4)", m.Topic)
	}
	if m.VAPID, err = checkVAPID(r.Header.Get("Authorization"), "http://"+r.Host); err != nil {
		return m, err
	}
	if wantKey != "" && m.VAPID.PublicKey != wantKey {
		return m, fmt.Errorf("VAPID key %s, want the server's %s", m.VAPID.PublicKey, wantKey)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return m, fmt.Errorf("Content-Encoding %q, want aes128gcm (RFC 8291 §4)", ce)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		return m, err
	}
	m.Payload, err = sub.decrypt(body)
	return m, err
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>" (RFC 8292 §3): an ES256
// JWT signed with k's private key, for the push resource's origin,
// expiring within 24 hours, with a contact subject.
func checkVAPID(header, origin string) (VAPID, error) {
	var v VAPID
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return v, fmt.Errorf("Authorization %q: want the vapid scheme (RFC 8292 §3)", header)
	}
	var token string
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			token = val
		case "k":
			v.PublicKey = val
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(v.PublicKey)
	if err != nil || len(raw) != 65 {
		return v, fmt.Errorf("VAPID k %q: want a base64url uncompressed P-256 point (RFC 8292 §3.2)", v.PublicKey)
	}
	pub, err := ecdsaKey(raw)
	if err != nil {
		return v, err
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired(), jwt.WithAudience(origin))
	if err != nil {
		return v, fmt.Errorf("VAPID JWT: %w", err)
	}
	exp, _ := claims.GetExpirationTime()
	v.Expires = exp.Time
	v.Audience = origin
	v.Subject, _ = claims["sub"].(string)
	if time.Until(v.Expires) > 24*time.Hour {
		return v, fmt.Errorf("VAPID JWT expires %s: more than 24 hours ahead (RFC 8292 §2)", v.Expires)
	}
	if addr, ok := strings.CutPrefix(v.Subject, "mailto:"); ok && (strings.Count(addr, "@") != 1 || strings.Contains(addr, ":")) {
		return v, fmt.Errorf("VAPID sub %q: not a mailto: URI of one address (RFC 8292 §2.1)", v.Subject)
	}
	if !strings.HasPrefix(v.Subject, "mailto:") && !strings.HasPrefix(v.Subject, "https:") {
		return v, fmt.Errorf("VAPID sub %q: want a mailto: or https: contact (RFC 8292 §2.1)", v.Subject)
	}
	return v, nil
}

func ecdsaKey(raw []byte) (*ecdsa.PublicKey, error) {
	if _, err := ecdh.P256().NewPublicKey(raw); err != nil {
		return nil, fmt.Errorf("VAPID k is not a P-256 point: %w", err)
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(raw[1:33]), Y: new(big.Int).SetBytes(raw[33:])}, nil
}

// decrypt opens an aes128gcm body (RFC 8188 §2) with the keys RFC 8291 §3
// derives from the subscription's private key and auth secret.
func (sub *Subscription) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes: RFC 8291 §4 puts the sender's 65-byte public key there", idlen)
	}
	senderPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("keyid is not a P-256 public key: %w", err)
	}
	ciphertext := body[21+idlen:]
	if rs < 18 || len(ciphertext) > int(rs) {
		return nil, fmt.Errorf("record size %d for %d bytes: RFC 8291 §4 allows one record", rs, len(ciphertext))
	}
	secret, err := sub.private.ECDH(senderPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), sub.private.PublicKey().Bytes()...), senderPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, secret, sub.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("the message does not decrypt with the subscription's keys: %w", err)
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, errors.New("the last record does not end with the padding delimiter 0x02 (RFC 8188 §2)")
	}
	return plain[:len(plain)-1], nil
}
