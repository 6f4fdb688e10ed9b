package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/notify/pushtest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// Quiet hours are read in the channel's time zone: at 23:30 in Paris a
// channel quiet from 22:00 to 07:00 gets only urgent low (and what it
// chose), while a channel without quiet hours gets everything; a channel
// that explicitly turned urgent low off gets none.
func TestQuietHoursAndKinds(t *testing.T) {
	w := newWorld(t, worldOptions{alerts: lowAlerts()})
	ps := pushtest.New(t)
	night, day, noUrgent := w.addDevice(ps), w.addDevice(ps), w.addDevice(ps)
	ids := map[string]string{}
	cs, _ := w.svc.Channels(context.Background(), w.kim)
	for _, c := range cs {
		ids[c.URL] = c.ID
	}
	quiet := glucose.ChannelPrefs{Kinds: glucose.AllKinds, QuietKinds: 1 << share.AlertTypeNoData,
		QuietStart: 22 * 60, QuietEnd: 7 * 60, TimeZone: "Europe/Paris"}
	w.must(w.svc.SetChannelPrefs(context.Background(), w.kim, ids[night.Endpoint], quiet))
	off := glucose.DefaultChannelPrefs()
	off.UrgentLowOff = true
	w.must(w.svc.SetChannelPrefs(context.Background(), w.kim, ids[noUrgent.Endpoint], off))

	w.clock.Set(time.Date(2025, 4, 19, 21, 30, 0, 0, time.UTC)) // 23:30 in Paris (UTC+2)
	w.upload(50)                                                // Low and urgent low
	w.deliver()
	got := map[string][]string{}
	for _, m := range ps.Messages() {
		var p pushed
		decode(t, m.Payload, &p)
		got[m.Subscription] = append(got[m.Subscription], p.Data.Kind)
	}
	for _, c := range []struct {
		sub  *pushtest.Subscription
		want []string
	}{{night, []string{"UrgentLow"}}, {day, []string{"Low", "UrgentLow"}}, {noUrgent, []string{"Low"}}} {
		slices.Sort(got[c.sub.ID])
		if !slices.Equal(got[c.sub.ID], c.want) {
			t.Errorf("channel %s got %v, want %v", c.sub.ID, got[c.sub.ID], c.want)
		}
	}

	// At 07:30 in Paris the quiet channel gets Low again.
	w.clock.Set(time.Date(2025, 4, 20, 5, 30, 0, 0, time.UTC))
	w.upload(60) // urgent low clears, Low repeats
	w.deliver()
	n := 0
	for _, m := range ps.Messages() {
		if m.Subscription == night.ID {
			n++
		}
	}
	if n != 3 {
		t.Errorf("the quiet channel has %d messages in the morning, want 3 (urgent low, its clearing, Low's repeat)", n)
	}

	for _, bad := range []glucose.ChannelPrefs{{TimeZone: "Mars/Olympus"}, {TimeZone: "UTC", QuietStart: 1440}, {TimeZone: ""}} {
		if err := w.svc.SetChannelPrefs(context.Background(), w.kim, ids[day.Endpoint], bad); err == nil {
			t.Errorf("prefs %+v accepted", bad)
		}
	}
	if err := w.svc.SetChannelPrefs(context.Background(), w.sam, ids[day.Endpoint], glucose.DefaultChannelPrefs()); err == nil {
		t.Error("Sam changed Kim's channel")
	}
}

// The periods of quiet hours, across midnight and not, in a zone with
// daylight saving time.
func TestChannelPrefsQuiet(t *testing.T) {
	p := glucose.ChannelPrefs{QuietStart: 22 * 60, QuietEnd: 7 * 60, TimeZone: "America/New_York"}
	for _, c := range []struct {
		at    time.Time
		quiet bool
	}{
		{time.Date(2025, 7, 1, 2, 0, 0, 0, time.UTC), true},   // 22:00 EDT
		{time.Date(2025, 7, 1, 1, 59, 0, 0, time.UTC), false}, // 21:59 EDT
		{time.Date(2025, 7, 1, 10, 59, 0, 0, time.UTC), true}, // 06:59 EDT
		{time.Date(2025, 7, 1, 11, 0, 0, 0, time.UTC), false}, // 07:00 EDT
		{time.Date(2025, 1, 1, 2, 30, 0, 0, time.UTC), false}, // 21:30 EST
		{time.Date(2025, 1, 1, 3, 30, 0, 0, time.UTC), true},  // 22:30 EST
	} {
		if got := p.Quiet(c.at); got != c.quiet {
			t.Errorf("Quiet(%s) = %v", c.at.In(time.FixedZone("", 0)), got)
		}
	}
	day := glucose.ChannelPrefs{QuietStart: 9 * 60, QuietEnd: 17 * 60, TimeZone: "UTC"}
	if !day.Quiet(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)) || day.Quiet(time.Date(2025, 1, 1, 18, 0, 0, 0, time.UTC)) {
		t.Error("daytime quiet hours")
	}
	if (glucose.ChannelPrefs{QuietStart: -1, QuietEnd: -1}).Quiet(time.Now()) {
		t.Error("no quiet hours are quiet")
	}
	if !glucose.DefaultChannelPrefs().WantsAlarm(share.AlertTypeFixedLow, time.Now()) {
		t.Error("urgent low is silenced by default")
	}
}

// A notice (the mirror of a Dexcom account broke, say) reaches every
// channel of the account: webhooks as event <name> with a signed body,
// push devices, ntfy and Pushover; during quiet hours only an urgent one.
func TestNoticeReachesEveryChannel(t *testing.T) {
	hooks := make(chan *http.Request, 4)
	bodies := make(chan string, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- string(b)
	}))
	defer receiver.Close()
	fakeP := newFakePushover(t)
	w := newWorld(t, worldOptions{pushover: fakeP.srv.URL})
	ctx := context.Background()
	ps := pushtest.New(t)
	w.addDevice(ps)
	fakeN := newFakeNtfy(t, "")
	_, err := w.svc.AddNtfy(ctx, w.sam, fakeN.srv.URL+"/sam-notices", "", t0)
	w.must(err)
	_, err = w.svc.AddPushover(ctx, w.sam, "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", t0)
	w.must(err)
	_, err = w.svc.AddWebhook(ctx, w.sam, receiver.URL+"/hook", "sixteen characters", t0)
	w.must(err)
	sub := ps.Subscribe()
	_, err = w.svc.AddPushDevice(ctx, w.sam, core.PushDevice{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}, t0)
	w.must(err)

	n := notify.Notice{Name: "link_broken", Title: "Dexcom mirror stopped",
		Body: "Dexcom refused the password of the mirrored account. Update it on your profile.", Priority: notify.PriorityHigh}
	w.must(w.db.Update(ctx, func(tx glucose.Tx) error { return core.EnqueueNotice(tx, w.sam, n, w.clock.Now()) }))
	if sent := w.deliver(); sent != 4 {
		t.Fatalf("%d deliveries, want one per channel of Sam's (and none to Kim's)", sent)
	}
	r := <-hooks
	var body map[string]any
	json.Unmarshal([]byte(<-bodies), &body)
	if r.Header.Get(notify.HeaderEvent) != "link_broken" || body["Event"] != "link_broken" || body["Title"] != n.Title ||
		body["Priority"] != "high" {
		t.Errorf("webhook: %s %v", r.Header.Get(notify.HeaderEvent), body)
	}
	var p pushed
	ms := ps.Wait(1, 5*time.Second)
	decode(t, ms[0].Payload, &p)
	if ms[0].Subscription != sub.ID || p.Title != n.Title || p.Body != n.Body || p.Tag != "notice-link_broken" || len(p.Actions) != 0 {
		t.Errorf("push: %+v", p)
	}
	if got := fakeN.published(); len(got) != 1 || got[0].Priority != 4 || got[0].Title != n.Title {
		t.Errorf("ntfy: %+v", got)
	}
	if got := fakeP.sent(); len(got) != 1 || got[0].Get("priority") != "1" || got[0].Get("message") != n.Body {
		t.Errorf("pushover: %v", got)
	}

	// During quiet hours a high notice waits for no one; an urgent one goes.
	cs, _ := w.svc.Channels(ctx, w.sam)
	for _, c := range cs {
		if c.Kind != glucose.ChannelWebhook {
			w.must(w.svc.SetChannelPrefs(ctx, w.sam, c.ID, glucose.ChannelPrefs{QuietStart: 0, QuietEnd: 23*60 + 59, TimeZone: "UTC"}))
		}
	}
	w.must(w.db.Update(ctx, func(tx glucose.Tx) error { return core.EnqueueNotice(tx, w.sam, n, w.clock.Now()) }))
	n.Priority = notify.PriorityUrgent
	w.must(w.db.Update(ctx, func(tx glucose.Tx) error { return core.EnqueueNotice(tx, w.sam, n, w.clock.Now()) }))
	if sent := w.deliver(); sent != 5 {
		t.Errorf("%d deliveries, want the webhook twice and the urgent notice on the three quiet channels", sent)
	}
	// A notice with a documented payload of its own keeps it on webhooks.
	n.WebhookBody = []byte(`{"Event":"link_broken","LinkId":"7d1c","Reason":"password"}`)
	w.must(w.db.Update(ctx, func(tx glucose.Tx) error { return core.EnqueueNotice(tx, w.sam, n, w.clock.Now()) }))
	w.deliver()
	for len(hooks) > 0 {
		<-hooks
		if b := <-bodies; len(hooks) == 0 && b != string(n.WebhookBody) {
			t.Errorf("webhook body %s, want the notice's own", b)
		}
	}
	for _, bad := range []notify.Notice{{Name: "fired", Title: "x", Priority: notify.PriorityLow}, {Name: "Bad Name", Title: "x", Priority: notify.PriorityLow},
		{Name: "x", Title: "x", Priority: notify.PriorityLow, WebhookBody: []byte("{")},
		{Name: "x", Title: "", Priority: notify.PriorityLow}, {Name: "x", Title: "x", Priority: "loud"}} {
		if err := w.db.Update(ctx, func(tx glucose.Tx) error { return core.EnqueueNotice(tx, w.sam, bad, t0) }); err == nil {
			t.Errorf("notice %+v accepted", bad)
		}
	}
}

// Acknowledgement links: size-limited, rate-limited per address, one use,
// expiring, and useless once the follower no longer follows.
func TestAckLinkLimits(t *testing.T) {
	w := newWorld(t, worldOptions{ackTTL: time.Hour})
	ps := pushtest.New(t)
	p := w.urgentLowPushed(ps)
	link := w.srv.URL + p.Data.Ack

	if code, _ := w.post(link, "application/x-www-form-urlencoded", strings.Repeat("x", 5000)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a large body: %d", code)
	}
	w.clock.Advance(61 * time.Minute)
	if code, _ := w.post(link, "", ""); code != http.StatusGone {
		t.Errorf("an expired link: %d, want 410", code)
	}
	if got := w.alarmStates(); !slices.Equal(got, []string{"UrgentLow/Active"}) {
		t.Errorf("alarms %v", got)
	}

	// A fresh link, after Kim stopped following Sam: it no longer works.
	w.clock.Advance(30 * time.Minute)
	w.upload(45)
	w.tick()
	w.deliver()
	ms := ps.Wait(2, 5*time.Second)
	decode(t, ms[1].Payload, &p)
	w.must(w.svc.LeaveSubscription(context.Background(), w.kim, w.subID, w.clock.Now()))
	if code, _ := w.post(w.srv.URL+p.Data.Ack, "", ""); code != http.StatusGone {
		t.Errorf("a link of a subscription left: %d, want 410", code)
	}

	// 30 requests a minute from one address, then 429.
	w.clock.Advance(time.Minute)
	var codes []int
	for range 31 {
		code, _ := w.post(w.srv.URL+"/notify/ack/"+strings.Repeat("A", 43), "", "")
		codes = append(codes, code)
	}
	if codes[0] != http.StatusGone || codes[29] != http.StatusGone || codes[30] != http.StatusTooManyRequests {
		t.Errorf("answers %v: want 410 thirty times, then 429", codes)
	}
	w.clock.Advance(time.Minute)
	if code, _ := w.post(w.srv.URL+"/notify/ack/short", "", ""); code != http.StatusGone {
		t.Errorf("after a minute: %d", code)
	}
}

// Web Push, ntfy and Pushover messages go through the same outbox as
// webhooks: with the push service down the message waits and is retried
// with backoff; when the instance that fired it is gone and two others
// run their senders at once, it is delivered exactly once.
func TestPushDeliveredOnceAfterOutageAcrossInstances(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ps := pushtest.New(t)
	w.addDevice(ps)
	ps.Down()
	w.upload(50)
	if sent, failed, _ := w.sender.RunOnce(context.Background()); sent != 0 || failed != 1 {
		t.Fatalf("with the push service down: sent %d, failed %d", sent, failed)
	}
	// The first instance stops; two others share the database.
	others := []*notify.Sender{w.otherInstance(), w.otherInstance()}
	ps.Up()
	w.clock.Advance(10 * time.Second)
	var wg sync.WaitGroup
	for _, s := range others {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.RunOnce(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if ms := ps.Messages(); len(ms) != 1 {
		t.Fatalf("%d messages after the outage, want exactly 1", len(ms))
	}
	w.clock.Advance(time.Hour)
	for _, s := range others {
		s.RunOnce(context.Background())
	}
	if ms := ps.Messages(); len(ms) != 1 {
		t.Errorf("%d messages an hour later, want still 1", len(ms))
	}
}

// otherInstance is a sender of another server instance: its own
// connection to the same database (a second store on the same DSN on
// PostgreSQL, or on the same SQLite file).
func (w *world) otherInstance() *notify.Sender {
	w.t.Helper()
	db := storetest.Open(w.t, w.dsn)
	wp, err := core.New(db, core.Config{SecretKey: w.key}).WebPushKeys(context.Background(), "mailto:operator@example.org", t0)
	w.must(err)
	return &notify.Sender{Store: db, Client: netguard.NewClient(5*time.Second, true), Clock: w.clock,
		WebPush: wp, Backoff: w.sender.Backoff}
}

// One acknowledgement link called many times at once (a replay racing
// the original): exactly one call acknowledges, the others get 410.
func TestAckLinkUsedOnceUnderRace(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ps := pushtest.New(t)
	p := w.urgentLowPushed(ps)
	codes := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Post(w.srv.URL+p.Data.Ack, "", nil)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusGone] != 7 {
		t.Errorf("answers %v: want one 200 and seven 410", count)
	}
	if got := w.alarmStates(); !slices.Equal(got, []string{"UrgentLow/Acknowledged"}) {
		t.Errorf("alarms %v", got)
	}
}

// urgentLowPushed registers a device, has Sam's urgent low fire and
// returns the push message it got.
func (w *world) urgentLowPushed(ps *pushtest.Service) pushed {
	w.t.Helper()
	w.addDevice(ps)
	w.upload(50)
	w.deliver()
	var p pushed
	decode(w.t, ps.Wait(1, 5*time.Second)[0].Payload, &p)
	return p
}
