package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/netguard"
)

// Webhook request headers. The signature is HMAC-SHA256 over
// "<timestamp>.<body>" with the webhook's secret, hex-encoded after
// "sha256=", so receivers can check both origin and freshness.
const (
	HeaderSignature = "X-Glucoshare-Signature"
	HeaderTimestamp = "X-Glucoshare-Timestamp"
	HeaderDelivery  = "X-Glucoshare-Delivery"
	HeaderEvent     = "X-Glucoshare-Event"
)

// Sign returns the signature header value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature in constant time, refusing timestamps further
// than tolerance from now (replays).
func Verify(secret, signature string, ts int64, body []byte, now time.Time, tolerance time.Duration) bool {
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}

// DefaultBackoff is the wait before each retry: a receiver that is down for
// a while still gets the event within about a day, without being hammered.
var DefaultBackoff = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
}

// Sender delivers due webhook deliveries from the store's outbox. Several
// instances may run one each: a delivery is claimed in a transaction before
// it is sent, so each is sent by one instance at a time.
type Sender struct {
	Store   glucose.Store
	Client  *http.Client // see NewWebhookClient
	Clock   glucose.Clock
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Backoff []time.Duration // default DefaultBackoff; its length bounds the retries
	// ClaimFor is how long a claimed delivery is hidden from other senders
	// while it is being sent; longer than the client's timeout.
	ClaimFor time.Duration
	Batch    int
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
		if s.deliver(ctx, d) {
			sent++
		} else {
			failed++
		}
	}
	return sent, failed, nil
}

// deliver sends one delivery and records the outcome.
func (s *Sender) deliver(ctx context.Context, d glucose.Delivery) bool {
	sendErr := s.post(ctx, d)
	now := s.Clock.Now()
	backoff := s.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	result := "ok"
	err := s.Store.Update(ctx, func(tx glucose.Tx) error {
		switch {
		case sendErr == nil:
			return tx.DeliveryDone(d.ID, now)
		case d.Attempts >= len(backoff):
			result = "failed"
			return tx.DeliveryFailed(d.ID, d.Attempts+1, now, netguard.Redact(sendErr))
		default:
			result = "retry"
			return tx.DeliveryRetry(d.ID, d.Attempts+1, now.Add(backoff[d.Attempts]), netguard.Redact(sendErr))
		}
	})
	s.Metrics.WebhookDelivery(result)
	if err != nil && s.Log != nil {
		s.Log.Warn("recording a webhook delivery failed", "delivery", d.ID, "err", err)
	}
	if sendErr != nil && s.Log != nil {
		s.Log.Info("webhook delivery failed", "delivery", d.ID, "attempt", d.Attempts+1, "result", result, "err", netguard.Redact(sendErr))
	}
	return sendErr == nil
}

// post sends the signed request; any 2xx answer is success.
func (s *Sender) post(ctx context.Context, d glucose.Delivery) error {
	ts := s.Clock.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "glucoshare-webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.Secret, ts, d.Payload))
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderEvent, d.Event)
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
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
				s.Log.Warn("webhook sender", "err", err)
			}
		}
	}
}

// NewWebhookClient returns the HTTP client webhooks are sent with
// (netguard.NewClient): a timeout, no redirects, and unless allowPrivate
// only globally routable addresses, so that a follower cannot make the
// server probe its own network.
func NewWebhookClient(timeout time.Duration, allowPrivate bool) *http.Client {
	return netguard.NewClient(timeout, allowPrivate)
}
