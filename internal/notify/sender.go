package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// DefaultBackoff is the wait before each retry: a receiver that is down for
// a while still gets the event within about a day, without being hammered.
var DefaultBackoff = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
}

// DefaultAckTTL is how long an acknowledgement link works.
const DefaultAckTTL = 24 * time.Hour

// AckPath is where acknowledgement links point: AckPath + token.
const AckPath = "/notify/ack/"

// Sender delivers due messages from the store's outbox, each over its
// channel. Several instances may run one each: a delivery is claimed in a
// transaction before it is sent, so each is sent by one instance at a
// time.
type Sender struct {
	Store   glucose.Store
	Client  *http.Client // netguard.NewClient: a follower cannot make the server probe its own network
	Clock   glucose.Clock
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Backoff []time.Duration // default DefaultBackoff; its length bounds the retries
	// ClaimFor is how long a claimed delivery is hidden from other senders
	// while it is being sent; longer than the client's timeout.
	ClaimFor time.Duration
	Batch    int

	// PublicURL is the server's address as phones reach it
	// (https://host): the base of the Acknowledge links and click URLs of
	// ntfy and Pushover messages, which carry none without it. Web Push
	// links are relative to the dashboard and need none.
	PublicURL string
	// WebPush signs and encrypts push messages. When nil, LoadWebPush is
	// asked for it at the first push message, and again at the next while
	// it fails (push deliveries wait and are retried meanwhile).
	WebPush     *WebPush
	LoadWebPush func(context.Context) (*WebPush, error)
	// Pushover is the operator's Pushover application.
	Pushover Pushover
	// SecretKey opens ntfy access tokens; nil when the operator gave none.
	SecretKey *secretkey.Key
	AckTTL    time.Duration // default DefaultAckTTL

	mu sync.Mutex // guards WebPush
}

// webPush returns the VAPID identity, loading it when needed.
func (s *Sender) webPush(ctx context.Context) (*WebPush, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.WebPush != nil || s.LoadWebPush == nil {
		return s.WebPush, nil
	}
	wp, err := s.LoadWebPush(ctx)
	if err == nil {
		s.WebPush = wp
	}
	return wp, err
}

// RunOnce sends the deliveries due now and returns how many succeeded and
// failed.
func (s *Sender) RunOnce(ctx context.Context) (sent, failed int, err error) {
	now := s.Clock.Now()
	claim := s.ClaimFor
	if claim <= 0 {
		claim = time.Minute
	}
	batch := s.Batch
	if batch <= 0 {
		batch = 50
	}
	var due []glucose.Delivery
	err = s.Store.Update(ctx, func(tx glucose.Tx) (err error) {
		due, err = tx.ClaimDeliveries(now, now.Add(claim), batch)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		if s.deliver(ctx, &d) {
			sent++
		} else {
			failed++
		}
	}
	return sent, failed, nil
}

// Run calls RunOnce every interval until ctx ends.
func (s *Sender) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
				s.Log.Warn("notification sender", "err", err)
			}
		}
	}
}

// outcome is what became of one attempt.
type outcome struct {
	result string // "ok", "retry", "failed" (given up) or "gone" (channel removed)
	err    error
}

func done() outcome            { return outcome{result: "ok"} }
func retry(err error) outcome  { return outcome{"retry", err} }
func failed(err error) outcome { return outcome{"failed", err} }
func gone(err error) outcome   { return outcome{"gone", err} }
func (o outcome) ok() bool     { return o.result == "ok" }

// deliver sends one delivery and records the outcome.
func (s *Sender) deliver(ctx context.Context, d *glucose.Delivery) bool {
	out := s.send(ctx, d)
	now := s.Clock.Now()
	backoff := s.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	if out.result == "retry" && d.Attempts >= len(backoff) {
		out.result = "failed"
	}
	err := s.Store.Update(ctx, func(tx glucose.Tx) error {
		switch out.result {
		case "ok":
			if err := tx.ChannelDelivered(d.ChannelID, now); err != nil {
				return err
			}
			return tx.DeliveryDone(d.ID, now)
		case "gone":
			return tx.DropChannel(d.ChannelID)
		case "failed":
			return tx.DeliveryFailed(d.ID, d.Attempts+1, now, netguard.Redact(out.err))
		}
		return tx.DeliveryRetry(d.ID, d.Attempts+1, now.Add(backoff[d.Attempts]), netguard.Redact(out.err))
	})
	if d.Channel.Kind == glucose.ChannelWebhook {
		s.Metrics.WebhookDelivery(out.result)
	}
	s.Metrics.NotificationDelivery(string(d.Channel.Kind), out.result)
	if err != nil && s.Log != nil {
		s.Log.Warn("recording a delivery failed", "delivery", d.ID, "err", err)
	}
	if out.err != nil && s.Log != nil {
		s.Log.Info("delivery failed", "channel", string(d.Channel.Kind), "delivery", d.ID, "attempt", d.Attempts+1,
			"result", out.result, "err", netguard.Redact(out.err))
	}
	return out.ok()
}

// send makes one attempt over the delivery's channel.
func (s *Sender) send(ctx context.Context, d *glucose.Delivery) outcome {
	if d.Channel.Kind == glucose.ChannelWebhook {
		return s.postWebhook(ctx, d)
	}
	m, err := DecodeMessage(d.Payload)
	if err != nil {
		return failed(err)
	}
	switch d.Channel.Kind {
	case glucose.ChannelWebPush:
		return s.sendWebPush(ctx, d, m)
	case glucose.ChannelNtfy:
		return s.sendNtfy(ctx, d, m)
	case glucose.ChannelPushover:
		return s.sendPushover(ctx, d, m)
	}
	return failed(fmt.Errorf("unknown channel kind %q", d.Channel.Kind))
}

// ack is an acknowledgement token made for one message.
type ack struct {
	token, hash string
}

// newAck stores a token that acknowledges the message's alarm for the
// channel's account; none ("") for messages that do not ring.
func (s *Sender) newAck(ctx context.Context, d *glucose.Delivery, m *Message) (ack, error) {
	if !m.Ringing() {
		return ack{}, nil
	}
	token, hash := NewToken()
	ttl := s.AckTTL
	if ttl <= 0 {
		ttl = DefaultAckTTL
	}
	now := s.Clock.Now()
	err := s.Store.Update(ctx, func(tx glucose.Tx) error {
		return tx.CreateAckToken(&glucose.AckToken{Hash: hash, AlarmID: m.AlarmID, AccountID: d.Channel.AccountID,
			ChannelID: d.ChannelID, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	})
	if errors.Is(err, glucose.ErrNotFound) || errors.Is(err, glucose.ErrConflict) {
		// The alarm was purged meanwhile: nothing left to acknowledge.
		return ack{}, nil
	}
	return ack{token, hash}, err
}

// absolute returns the public address of a local path, or "" without a
// public URL.
func (s *Sender) absolute(path string) string {
	if s.PublicURL == "" {
		return ""
	}
	return s.PublicURL + path
}

// NewToken returns a random acknowledgement token (256 bits, base64url)
// and the hash it is stored under.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a token: hex SHA-256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// drain reads a little of an answer's body and closes it, so that the
// connection can be reused.
func drain(res *http.Response) {
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
}

// statusError describes a non-2xx answer without its URL.
func statusError(who string, res *http.Response) error {
	return fmt.Errorf("%s %s answered %s", who, res.Request.URL.Host, res.Status)
}

// byStatus classifies an answer of a service with a documented API: 2xx
// is done; 408, 429 and 5xx may pass and are retried; other 4xx say the
// request itself is wrong and are not repeated.
func byStatus(who string, res *http.Response) outcome {
	switch c := res.StatusCode; {
	case c >= 200 && c <= 299:
		return done()
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return retry(statusError(who, res))
	default:
		return failed(statusError(who, res))
	}
}

// transportError is how a request that got no answer fails: retried,
// unless its URL could never work.
func transportError(err error) outcome {
	var ue *url.Error
	if errors.As(err, &ue) {
		return retry(err)
	}
	return failed(err)
}
