package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Alarms on phones and computers (docs/alarms-on-your-phone.md): the
// dashboard installs as an app (manifest, service worker), each device
// subscribes to Web Push from the Following page, and followers add ntfy
// topics and Pushover keys. Notifications acknowledge their alarm through
// a one-time link, POST /notify/ack/{token}, which needs no session.

// channelRow is one channel as the Following page lists it.
type channelRow struct {
	glucose.Channel
	Added     string
	Delivered string // "" = never
	Prefs     prefsForm
}

// channelItem is what the "channel" template shows.
type channelItem struct {
	Row  channelRow
	CSRF string
}

// notifyData is the Following page's notifications section.
type notifyData struct {
	CSRF      string
	PushKey   string // the VAPID public key; "" when unavailable
	Devices   []channelRow
	Ntfy      []channelRow
	Pushover  []channelRow
	HasKey    bool // the server can keep ntfy tokens (--secret-key)
	CanPush   bool // the server has a Pushover application
	PublicURL bool // acknowledgement links can be given to ntfy and Pushover
}

// notifyData gathers the account's channels.
func (h *Handler) notifyData(ctx context.Context, v *visit) (*notifyData, error) {
	cs, err := h.svc.Channels(ctx, v.me.ID)
	if err != nil {
		return nil, err
	}
	cfg := h.svc.Config()
	d := &notifyData{CSRF: v.csrf, HasKey: cfg.SecretKey != nil, CanPush: cfg.Pushover, PublicURL: cfg.PublicURL != ""}
	if d.PushKey, err = h.svc.PushPublicKey(ctx, v.now); err != nil {
		h.log.Warn("web push key unavailable", "err", err)
	}
	for _, c := range cs {
		row := channelRow{Channel: c, Added: c.CreatedAt.UTC().Format("2 Jan 2006"), Prefs: prefsFormOf(c.Prefs)}
		if !c.LastDeliveredAt.IsZero() {
			row.Delivered = c.LastDeliveredAt.UTC().Format(time.RFC3339)
		}
		switch c.Kind {
		case glucose.ChannelWebPush:
			d.Devices = append(d.Devices, row)
		case glucose.ChannelNtfy:
			d.Ntfy = append(d.Ntfy, row)
		case glucose.ChannelPushover:
			d.Pushover = append(d.Pushover, row)
		}
	}
	return d, nil
}

// POST /devices — the page's script registers this browser's push
// subscription (PushSubscription.toJSON's endpoint and keys).
func (h *Handler) addDevice(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	_, err := h.svc.AddPushDevice(r.Context(), v.me.ID, corePushDevice(r), v.now)
	return "/following?ok=device#notifications", err
}

// corePushDevice reads the subscription the page's script posts, and
// names the device after its user agent.
func corePushDevice(r *http.Request) core.PushDevice {
	return core.PushDevice{Endpoint: strings.TrimSpace(r.PostFormValue("endpoint")),
		P256dh: r.PostFormValue("p256dh"), Auth: r.PostFormValue("auth"), Name: DeviceName(r.UserAgent())}
}

// POST /ntfy
func (h *Handler) addNtfy(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	_, err := h.svc.AddNtfy(r.Context(), v.me.ID, r.PostFormValue("topic_url"), r.PostFormValue("token"), v.now)
	return "/following?ok=channel#notifications", err
}

// POST /pushover
func (h *Handler) addPushover(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	_, err := h.svc.AddPushover(r.Context(), v.me.ID, r.PostFormValue("user_key"), v.now)
	return "/following?ok=channel#notifications", err
}

// POST /channels/{channel}/delete
func (h *Handler) deleteChannel(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	err := h.svc.DeleteChannel(r.Context(), v.me.ID, r.PathValue("channel"))
	return "/following?ok=removed#notifications", err
}

// POST /channels/{channel}/test — at most one test a channel per
// testEvery, so that the button cannot flood a phone.
func (h *Handler) testChannel(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("channel")
	if !h.tests.allow(id, v.now) {
		return "", glucose.InvalidArgument("a test was sent a moment ago: wait a little before the next")
	}
	err := h.svc.SendTest(r.Context(), v.me.ID, id, v.now)
	return "/following?ok=test#c-" + id, err
}

// POST /channels/{channel}/prefs
func (h *Handler) channelPrefs(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("channel")
	p, err := prefsFromForm(r)
	if err != nil {
		return "", err
	}
	err = h.svc.SetChannelPrefs(r.Context(), v.me.ID, id, p)
	return "/following?ok=saved#c-" + id, err
}

// Acknowledgement links' limits: a token is 43 characters; Pushover's
// callback posts a few form fields.
const (
	maxAckBody  = 4 << 10
	ackPerAddr  = 30 // requests a minute from one address
	testEvery   = 10 * time.Second
	limiterKeys = 10000
)

// POST /notify/ack/{token} — acknowledge the alarm the link was made for,
// from a push notification's Acknowledge button (the service worker), an
// ntfy http action or Pushover's callback. No session and no CSRF token:
// the link is the credential, single-purpose, one-time and short-lived.
// Unknown, used and expired links all answer 410 Gone.
func (h *Handler) ackLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	now := h.opts.Clock.Now()
	if !h.acks.allow(h.opts.ClientAddr.Addr(r).String(), now) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxAckBody)); err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	err := h.svc.AcknowledgeWithToken(r.Context(), r.PathValue("token"), now)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		http.Error(w, "this acknowledgement link was already used, has expired or does not exist", http.StatusGone)
	case err != nil:
		h.fail(w, r, err)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("acknowledged\n"))
	}
}

// limiter allows each key a number of events per window, in fixed
// windows; it forgets everything when it holds too many keys, so that it
// cannot grow without bound.
type limiter struct {
	mu     sync.Mutex
	per    int
	window time.Duration
	seen   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(per int, every time.Duration) *limiter {
	return &limiter{per: per, window: every, seen: map[string]*window{}}
}

func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.seen[key]
	if w == nil || now.Sub(w.start) >= l.window || now.Before(w.start) {
		if len(l.seen) >= limiterKeys {
			l.seen = map[string]*window{}
		}
		w = &window{start: now}
		l.seen[key] = w
	}
	w.n++
	return w.n <= l.per
}

// prefsForm is a channel's choices as its form shows them.
type prefsForm struct {
	High, Low, NoData                bool // by day
	QuietHigh, QuietLow, QuietNoData bool // during quiet hours
	Quiet                            bool
	QuietStart, QuietEnd             string // "22:00"
	TimeZone                         string
	UrgentLowOff                     bool
}

func prefsFormOf(p glucose.ChannelPrefs) prefsForm {
	f := prefsForm{
		High: p.Kinds.Has(share.AlertTypeHigh), Low: p.Kinds.Has(share.AlertTypeLow), NoData: p.Kinds.Has(share.AlertTypeNoData),
		QuietHigh: p.QuietKinds.Has(share.AlertTypeHigh), QuietLow: p.QuietKinds.Has(share.AlertTypeLow),
		QuietNoData: p.QuietKinds.Has(share.AlertTypeNoData), Quiet: p.HasQuietHours(),
		QuietStart: "22:00", QuietEnd: "07:00", TimeZone: p.TimeZone, UrgentLowOff: p.UrgentLowOff,
	}
	if f.Quiet {
		f.QuietStart, f.QuietEnd = clock(p.QuietStart), clock(p.QuietEnd)
	}
	return f
}

// prefsFromForm reads a channel's choices. Urgent low is off only when
// the form says so explicitly (urgent_low_off), never by omission.
func prefsFromForm(r *http.Request) (glucose.ChannelPrefs, error) {
	on := func(k string) bool { return r.PostFormValue(k) == "1" }
	p := glucose.ChannelPrefs{QuietStart: -1, QuietEnd: -1, TimeZone: strings.TrimSpace(r.PostFormValue("time_zone")),
		UrgentLowOff: r.PostFormValue("urgent_low_off") == "off"}
	for _, k := range []struct {
		name string
		kind int
	}{{"high", share.AlertTypeHigh}, {"low", share.AlertTypeLow}, {"nodata", share.AlertTypeNoData}} {
		p.Kinds = p.Kinds.With(k.kind, on(k.name))
		p.QuietKinds = p.QuietKinds.With(k.kind, on("quiet_"+k.name))
	}
	p.Kinds = p.Kinds.With(share.AlertTypeFixedLow, true)
	p.QuietKinds = p.QuietKinds.With(share.AlertTypeFixedLow, true)
	if p.TimeZone == "" {
		p.TimeZone = "UTC"
	}
	if !on("quiet") {
		return p, nil
	}
	var err1, err2 error
	p.QuietStart, err1 = parseClock(r.PostFormValue("quiet_start"))
	p.QuietEnd, err2 = parseClock(r.PostFormValue("quiet_end"))
	if err1 != nil || err2 != nil {
		return p, glucose.InvalidArgument("quiet hours need a start and an end time, such as 22:00 and 07:00")
	}
	return p, nil
}

// clock writes minutes of the day as "07:30".
func clock(m int) string {
	return strconv.Itoa(m/600) + strconv.Itoa(m/60%10) + ":" + strconv.Itoa(m%60/10) + strconv.Itoa(m%10)
}

// parseClock reads "07:30" (what <input type=time> sends) as minutes.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// DeviceName names a device after its browser's user agent, as people
// know it: "Chrome on Android", "Safari on iPhone", "Firefox on Windows".
func DeviceName(ua string) string {
	browser := "Browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"}, {"Firefox/", "Firefox"},
		{"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}
