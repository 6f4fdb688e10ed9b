package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Pushover (https://pushover.net/api): messages are form posts to
// /1/messages.json with the operator's application token and the
// follower's user key. An urgent low goes out at emergency priority 2:
// Pushover repeats it every Retry until it is acknowledged in the app,
// which calls the message's callback URL — glucoshare's acknowledgement
// link (https://pushover.net/api/receipts#callback). When the alarm is
// acknowledged elsewhere or clears, the repeats are cancelled by receipt
// (https://pushover.net/api/receipts#cancel).

// DefaultPushoverAPI is Pushover's API.
const DefaultPushoverAPI = "https://api.pushover.net"

// Emergency repeats: every minute for an hour (Pushover allows retry ≥ 30
// s and expire ≤ 10800 s); glucoshare's own re-alarms take over after.
const (
	PushoverRetry  = 60 * time.Second
	PushoverExpire = time.Hour
)

// pushoverUserKey is the form of user and group keys: 30 characters of
// [A-Za-z0-9].
var pushoverUserKey = regexp.MustCompile(`^[A-Za-z0-9]{30}$`)

// CheckPushoverUserKey checks the form of a follower's user key.
func CheckPushoverUserKey(key string) error {
	if !pushoverUserKey.MatchString(key) {
		return errors.New("a Pushover user key is 30 letters and digits, shown at the top of pushover.net once you log in")
	}
	return nil
}

// Pushover is the operator's Pushover application.
type Pushover struct {
	Token string // the application's API token; "" = Pushover is off
	API   string // default DefaultPushoverAPI
}

func (p Pushover) url(path string) string {
	api := p.API
	if api == "" {
		api = DefaultPushoverAPI
	}
	return strings.TrimSuffix(api, "/") + path
}

// PushoverPriority is the Pushover priority of a message: 2 (emergency)
// for an urgent low, 1 for the other alarms, -1 once cleared.
func PushoverPriority(m *Message) int {
	switch {
	case m.Notice != nil:
		return map[Priority]int{PriorityLow: -1, PriorityNormal: 0, PriorityHigh: 1, PriorityUrgent: 1}[m.Notice.Priority]
	case m.Ringing() && m.Kind == alerts.FixedLow:
		return 2
	case m.Ringing():
		return 1
	case m.IsAlarm():
		return -1
	}
	return 0
}

// sendPushover sends the message; for an acknowledged or cleared alarm it
// first cancels the emergency repeats of the alarm's earlier messages.
func (s *Sender) sendPushover(ctx context.Context, d *glucose.Delivery, m *Message) outcome {
	if s.Pushover.Token == "" {
		return failed(errors.New("pushover: the server has no application token (--pushover-token)"))
	}
	if m.IsAlarm() && !m.Ringing() {
		if out := s.cancelPushover(ctx, d, m); !out.ok() || m.Event == EventAcknowledged {
			return out
		}
	}
	prio := PushoverPriority(m)
	var a ack
	var err error
	if prio == 2 {
		// The token holds the receipt, to cancel the repeats later, even
		// when there is no public URL to call it back at.
		if a, err = s.newAck(ctx, d, m); err != nil {
			return retry(err)
		}
	}
	t := render(m, d.Units, s.Clock.Now())
	form := url.Values{"token": {s.Pushover.Token}, "user": {d.Channel.UserKey}, "title": {t.Title},
		"message": {t.Body}, "priority": {strconv.Itoa(prio)}, "timestamp": {strconv.FormatInt(m.At/1000, 10)}}
	if u := s.absolute("/"); u != "" {
		form.Set("url", u)
		form.Set("url_title", "Open glucoshare")
	}
	if prio == 2 {
		form.Set("retry", strconv.Itoa(int(PushoverRetry.Seconds())))
		form.Set("expire", strconv.Itoa(int(PushoverExpire.Seconds())))
		if a.token != "" && s.PublicURL != "" {
			form.Set("callback", s.absolute(AckPath+a.token))
		}
	}
	receipt, out := s.postPushover(ctx, "/1/messages.json", form)
	if out.ok() && receipt != "" && a.hash != "" {
		if err := s.Store.Update(ctx, func(tx glucose.Tx) error { return tx.SetAckReceipt(a.hash, receipt) }); err != nil && s.Log != nil {
			s.Log.Warn("recording a Pushover receipt failed", "err", err)
		}
	}
	return out
}

// cancelPushover stops the emergency repeats of the alarm's messages to
// the channel.
func (s *Sender) cancelPushover(ctx context.Context, d *glucose.Delivery, m *Message) outcome {
	var receipts []string
	err := s.Store.View(ctx, func(tx glucose.Tx) (err error) {
		receipts, err = tx.AckReceipts(m.AlarmID, d.ChannelID)
		return err
	})
	if err != nil {
		return retry(err)
	}
	for _, r := range receipts {
		if !pushoverReceipt.MatchString(r) {
			continue
		}
		_, out := s.postPushover(ctx, "/1/receipts/"+r+"/cancel.json", url.Values{"token": {s.Pushover.Token}})
		if !out.ok() && out.result != "failed" {
			return out // retried later; a receipt Pushover no longer knows is passed over
		}
	}
	if len(receipts) == 0 {
		return done()
	}
	err = s.Store.Update(ctx, func(tx glucose.Tx) error { return tx.ForgetAckReceipts(m.AlarmID, d.ChannelID) })
	if err != nil {
		return retry(err)
	}
	return done()
}

var pushoverReceipt = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// postPushover posts a form and reads the answer's receipt.
func (s *Sender) postPushover(ctx context.Context, path string, form url.Values) (string, outcome) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Pushover.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		return "", failed(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "glucoshare")
	res, err := s.Client.Do(req)
	if err != nil {
		return "", transportError(err)
	}
	var answer struct {
		Status  int    `json:"status"`
		Receipt string `json:"receipt"`
	}
	json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&answer)
	drain(res)
	return answer.Receipt, byStatus("pushover", res)
}
