package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
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

// postWebhook sends the signed request of a webhook delivery; any 2xx
// answer is success, anything else is retried (docs/alarms.md).
func (s *Sender) postWebhook(ctx context.Context, d *glucose.Delivery) outcome {
	ts := s.Clock.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Channel.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "glucoshare-webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.Channel.Secret, ts, d.Payload))
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderEvent, d.Event)
	res, err := s.Client.Do(req)
	if err != nil {
		return retry(err)
	}
	drain(res)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return retry(statusError("receiver", res))
	}
	return done()
}

// WebhookPayload is the JSON body of a webhook delivery of a message that
// is not an alarm event (alarm events have core.AlarmPayload's): a notice
// or a test, documented in docs/alarms.md.
func WebhookPayload(m *Message) []byte {
	body := struct {
		Event    string   `json:"Event"`
		Title    string   `json:"Title"`
		Body     string   `json:"Body"`
		Priority Priority `json:"Priority"`
	}{Event: m.Event}
	switch {
	case m.Notice != nil:
		body.Title, body.Body, body.Priority = m.Notice.Title, m.Notice.Body, m.Notice.Priority
	default:
		t := render(m, glucose.DefaultUnits, time.UnixMilli(m.At))
		body.Title, body.Body, body.Priority = t.Title, t.Body, PriorityNormal
	}
	b, _ := json.Marshal(body)
	return b
}
