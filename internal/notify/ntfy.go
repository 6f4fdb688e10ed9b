package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// ntfy (https://ntfy.sh, or a server of one's own): messages are published
// as JSON to the server's root URL, as its documentation describes
// (https://docs.ntfy.sh/publish/#publish-as-json), with an access token as
// a Bearer authorization (https://docs.ntfy.sh/publish/#access-tokens).

// ntfyTopic is a topic name as ntfy accepts it
// (https://docs.ntfy.sh/publish/#picking-a-topic).
var ntfyTopic = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// NtfyTokenPurpose is the secret key's purpose for sealing ntfy access
// tokens, bound to their channel's id.
const NtfyTokenPurpose = "ntfy-token"

// SplitTopicURL splits an ntfy topic URL (https://ntfy.sh/mytopic) into
// the server's root URL, where JSON is published, and the topic.
func SplitTopicURL(raw string) (root, topic string, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", "", errors.New("the topic URL must be an http or https URL such as https://ntfy.sh/mytopic")
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path, "/")
	topic = path[i+1:]
	if !ntfyTopic.MatchString(topic) {
		return "", "", errors.New("the topic URL must end with the topic: 1 to 64 letters, digits, - or _")
	}
	u.Path = path[:i+1]
	u.RawPath = ""
	return u.String(), topic, nil
}

// ntfyMessage is the JSON publish body
// (https://docs.ntfy.sh/publish/#publish-as-json).
type ntfyMessage struct {
	Topic    string       `json:"topic"`
	Title    string       `json:"title"`
	Message  string       `json:"message"`
	Priority int          `json:"priority"`
	Tags     []string     `json:"tags"`
	Click    string       `json:"click,omitempty"`
	Actions  []ntfyAction `json:"actions,omitempty"`
}

// ntfyAction is an action button; glucoshare uses the http action
// (https://docs.ntfy.sh/publish/#send-http-request).
type ntfyAction struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
	Method string `json:"method"`
	Clear  bool   `json:"clear"`
}

// NtfyPriority is the ntfy priority (1–5) of a message: 5 for urgent low
// and NoData, 4 for high and low, 2 for a cleared alarm.
func NtfyPriority(m *Message) int {
	switch {
	case m.Notice != nil:
		return map[Priority]int{PriorityLow: 2, PriorityNormal: 3, PriorityHigh: 4, PriorityUrgent: 5}[m.Notice.Priority]
	case m.Ringing() && (m.Kind == alerts.FixedLow || m.Kind == alerts.NoData):
		return 5
	case m.Ringing():
		return 4
	case m.IsAlarm():
		return 2
	}
	return 3
}

// ntfyTags are shown as emojis (the first of each) and labels.
func ntfyTags(m *Message) []string {
	switch {
	case m.Notice != nil:
		return []string{"warning", "glucoshare"}
	case !m.IsAlarm():
		return []string{"bell", "glucoshare"}
	case !m.Ringing():
		return []string{"white_check_mark", alerts.KindName(m.Kind)}
	case m.Kind == alerts.FixedLow:
		return []string{"rotating_light", alerts.KindName(m.Kind)}
	}
	return []string{"warning", alerts.KindName(m.Kind)}
}

// sendNtfy publishes the message to the channel's topic.
func (s *Sender) sendNtfy(ctx context.Context, d *glucose.Delivery, m *Message) outcome {
	root, topicName, err := SplitTopicURL(d.Channel.URL)
	if err != nil {
		return failed(err)
	}
	token, err := s.openNtfyToken(&d.Channel)
	if err != nil {
		return failed(err)
	}
	var a ack
	if s.PublicURL != "" {
		if a, err = s.newAck(ctx, d, m); err != nil {
			return retry(err)
		}
	}
	t := render(m, d.Units, s.Clock.Now())
	msg := ntfyMessage{Topic: topicName, Title: t.Title, Message: t.Body, Priority: NtfyPriority(m),
		Tags: ntfyTags(m), Click: s.absolute("/")}
	if a.token != "" {
		msg.Actions = []ntfyAction{{Action: "http", Label: "Acknowledge", URL: s.absolute(AckPath + a.token),
			Method: "POST", Clear: true}}
	}
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, root, bytes.NewReader(body))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "glucoshare")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return transportError(err)
	}
	drain(res)
	return byStatus("ntfy server", res)
}

// openNtfyToken opens the channel's sealed access token; "" when it has
// none.
func (s *Sender) openNtfyToken(c *glucose.Channel) (string, error) {
	if c.TokenSealed == "" {
		return "", nil
	}
	if s.SecretKey == nil {
		return "", errors.New("the ntfy access token is sealed and the server has no secret key (--secret-key)")
	}
	sealed, err := base64.StdEncoding.DecodeString(c.TokenSealed)
	if err != nil {
		return "", secretkey.ErrDecrypt
	}
	plain, err := s.SecretKey.Open(NtfyTokenPurpose, sealed, []byte(c.ID))
	return string(plain), err
}

// SealNtfyToken seals an access token for the channel id.
func SealNtfyToken(key *secretkey.Key, channelID, token string) string {
	return base64.StdEncoding.EncodeToString(key.Seal(NtfyTokenPurpose, []byte(token), []byte(channelID)))
}
