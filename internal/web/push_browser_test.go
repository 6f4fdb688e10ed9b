package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/glucoshare/glucoshare/internal/notify/pushtest"
	"github.com/glucoshare/glucoshare/share"
)

// The browser test of issue 15: in headless Chromium, against the real
// server started as `glucoshare serve` runs, a follower on a phone-sized
// screen opens the Following page of the installable dashboard (its
// manifest read by Chromium without error), grants notifications, enables
// them for the device — the service worker registered at the root scope,
// the subscription posted to the server — and sees the device listed. An
// urgent low then goes from the server through a test push service, which
// decrypts it, into the real service worker (CDP
// ServiceWorker.deliverPushMessage), which shows the notification; its
// Acknowledge action, run by the worker's own notificationclick handler,
// acknowledges the alarm on the server without a cookie.
func TestBrowserPushNotifications(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (apt-get install chromium)", chromiumPath)
	}
	ps := pushtest.New(t)
	// The test push service is on 127.0.0.1; the server knows its public
	// address, keeps ntfy tokens sealed and has a Pushover application.
	addr := freeAddr(t)
	base, _ := startServe(t, "--webhook-allow-private", "--addr", addr, "--public-url", "http://"+addr,
		"--secret-key", "a-secret-key-of-at-least-thirty-two-characters", "--pushover-token", "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
		"--pushover-api", "http://127.0.0.1:9")
	sam := uploader(t, base)
	subID := follow(t, base, sam)

	gcm := newGCMStandIn(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		// Chromium's push service (Firebase Cloud Messaging) at a local
		// stand-in, so that the test talks to nothing outside the machine.
		chromedp.Flag("gcm-checkin-url", gcm.URL+"/checkin"), chromedp.Flag("gcm-registration-url", gcm.URL+"/register"),
		chromedp.Flag("gcm-mcs-endpoint", gcm.URL+"/mcs"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1024, 768))...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	deadline, cancelDeadline := context.WithTimeout(browserCtx, 90*time.Second)
	defer cancelDeadline()
	// The default browser context, not an incognito-like one of its own:
	// Chromium offers neither installation nor push there.
	phoneCtx, cancelPhone := chromedp.NewContext(deadline)
	defer cancelPhone()
	phone := &tab{name: "phone", ctx: phoneCtx, w: 390, h: 844, cancel: cancelPhone}
	phone.do(t, chromedp.EmulateViewport(390, 844))
	if _, err := chromedp.Call(phone.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	shots := artifactDir(t)

	// The follower allows notifications when the browser asks.
	for _, name := range []string{"notifications", "push"} {
		if _, err := chromedp.CallBrowser(phone.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, UserVisibleOnly: true}, Setting: "granted",
			Origin: base, BrowserContextID: chromedp.FromContext(phone.ctx).BrowserContextID}); err != nil {
			t.Fatalf("granting %s: %v", name, err)
		}
	}
	phone.do(t, chromedp.Navigate(base+"/following"))
	phone.signIn(t, "kim")
	phone.waitFor(t, `document.getElementById('push').dataset.ready === '1'`)
	if status := phone.text(t, `#push-status`); status != "This device does not receive alarms yet." {
		t.Errorf("status before enabling: %q", status)
	}

	// The manifest as Chromium parses it.
	m, err := chromedp.Call(phone.ctx, cdppage.GetAppManifest, cdppage.GetAppManifestParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Errors) > 0 || m.URL != base+"/manifest.webmanifest" || m.Manifest == nil ||
		m.Manifest.Name != "glucoshare" || !strings.EqualFold(strings.TrimPrefix(m.Manifest.Display, "k"), "standalone") ||
		len(m.Manifest.Icons) != 4 || m.Manifest.StartURL != base+"/" || m.Manifest.Scope != base+"/" {
		t.Errorf("manifest %s: errors %+v, parsed %+v", m.URL, m.Errors, m.Manifest)
	}
	if inst, err := chromedp.Call(phone.ctx, cdppage.GetInstallabilityErrors, cdp.Empty{}); err == nil {
		for _, e := range inst.InstallabilityErrors {
			t.Logf("installability error reported by Chromium: %s %+v", e.ErrorID, e.ErrorArguments)
		}
	}

	// A real PushSubscription, if this Chromium can make one: headless
	// Chromium has no connection to its push service (Firebase Cloud
	// Messaging) here, so registration fails and the test says so; the
	// device is then subscribed with the test push service's endpoint, in
	// place of the browser's push service.
	real := phone.await(t, `Promise.race([navigator.serviceWorker.ready.then(r => r.pushManager.subscribe({userVisibleOnly: true,
		applicationServerKey: Uint8Array.from(atob(document.getElementById('push').dataset.key.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0))}))
		.then(s => s.unsubscribe().then(() => 'subscribed at ' + new URL(s.endpoint).host), e => 'not subscribed: ' + e.name + ': ' + e.message),
		new Promise(ok => setTimeout(() => ok('no answer within 10 s'), 10000))])`)
	phone.eval(t, `document.getElementById('notifications').scrollIntoView()`)
	phone.screenshot(t, shots, "12-enable-notifications")
	t.Logf("Chromium's own push service: %s (requests to its stand-in: %v; permissions: %s)", real, gcm.paths(), phone.await(t,
		`navigator.permissions.query({name: 'push', userVisibleOnly: true}).then(p => 'push ' + p.state + ', notifications ' + Notification.permission)`))

	// From here the browser's push service is the test push service: a
	// subscription is one of its subscriptions, kept across page loads as
	// the browser keeps its own.
	sub := ps.Subscribe()
	if _, err := chromedp.Call(phone.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		RunImmediately: ptr(true), Source: fmt.Sprintf(`(() => {
		if (!window.PushManager) return;
		const json = {endpoint: %q, expirationTime: null, keys: {p256dh: %q, auth: %q}};
		const sub = {endpoint: json.endpoint, toJSON: () => json, unsubscribe: () => Promise.resolve(true)};
		PushManager.prototype.subscribe = () => { localStorage.setItem('test-push', '1'); return Promise.resolve(sub); };
		PushManager.prototype.getSubscription = () => Promise.resolve(localStorage.getItem('test-push') ? sub : null);
	})()`, sub.Endpoint, sub.P256dh, sub.Auth)}); err != nil {
		t.Fatal(err)
	}
	phone.do(t, chromedp.Click(chromedp.CSS(`#push-enable`)))
	phone.waitFor(t, `location.search === '?ok=device' && document.querySelectorAll('#devices .device').length === 1`)
	if name := phone.text(t, `#devices .device strong`); name != "Chrome on Linux" {
		t.Errorf("device listed as %q", name)
	}
	if !strings.Contains(phone.text(t, `#devices .device small`), "nothing delivered yet") ||
		phone.text(t, `#push-status`) != "This device receives alarms." {
		t.Errorf("device line %q, status %q", phone.text(t, `#devices .device small`), phone.text(t, `#push-status`))
	}
	phone.eval(t, `document.getElementById('notifications').scrollIntoView()`)
	phone.screenshot(t, shots, "13-device-list")

	// An urgent low: the server pushes it, the push service decrypts it.
	upload(t, sam, 50)
	msgs := ps.Wait(1, 30*time.Second)
	var payload struct {
		Title string
		Tag   string
		Data  struct{ Ack string }
	}
	json.Unmarshal(msgs[0].Payload, &payload)
	if payload.Title != "Sam: urgent low" || !strings.HasPrefix(payload.Data.Ack, "/notify/ack/") {
		t.Fatalf("pushed %s", msgs[0].Payload)
	}

	// Into the service worker, as the browser's push service would.
	regID := registration(t, phone, base)
	if _, err := chromedp.Call(phone.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: base, RegistrationID: regID, Data: string(msgs[0].Payload)}); err != nil {
		t.Fatal(err)
	}
	shown := phone.awaitPoll(t, `navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.length === 1 ?
		JSON.stringify({title: ns[0].title, body: ns[0].body, tag: ns[0].tag, requireInteraction: ns[0].requireInteraction,
			actions: ns[0].actions.map(a => a.action + ':' + a.title), ack: ns[0].data.ack}) : '')`)
	var n struct {
		Title, Body, Tag, Ack string
		RequireInteraction    bool
		Actions               []string
	}
	json.Unmarshal([]byte(shown), &n)
	if n.Title != "Sam: urgent low" || n.Body != "50 mg/dL ↘, just now." || n.Tag != payload.Tag || !n.RequireInteraction ||
		!slices.Equal(n.Actions, []string{"ack:Acknowledge"}) || n.Ack != payload.Data.Ack {
		t.Errorf("the service worker shows %s", shown)
	}

	// The follower presses Acknowledge: the worker's notificationclick
	// handler runs with the notification it showed.
	worker := serviceWorkerTab(t, phone, base)
	clicked := worker.await(t, `self.registration.getNotifications().then(ns => {
		self.dispatchEvent(new NotificationEvent('notificationclick', {notification: ns[0], action: 'ack'}));
		return 'clicked ' + ns.length;
	})`)
	if clicked != "clicked 1" {
		t.Errorf("worker: %s", clicked)
	}
	kim, err := share.NewClient(share.WithBaseURL(base), share.WithCredentials("kim", password))
	if err != nil {
		t.Fatal(err)
	}
	var state share.AlarmState
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(200 * time.Millisecond) {
		as, err := kim.ListSubscriptionAlarms(context.Background(), subID, 60)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 1 {
			if state = as[0].State; state == share.AlarmAcknowledged {
				break
			}
		}
	}
	if state != share.AlarmAcknowledged {
		t.Fatalf("the alarm is %q after the notification's Acknowledge", state)
	}
	// The link was used: the server pushes the quiet replacement.
	msgs = ps.Wait(2, 30*time.Second)
	if !strings.Contains(string(msgs[1].Payload), `"title":"Sam: urgent low acknowledged"`) {
		t.Errorf("after the acknowledgement: %s", msgs[1].Payload)
	}
	phone.do(t, chromedp.Navigate(base+"/following#notifications"))
	phone.waitFor(t, `!document.querySelector('#devices .device small').textContent.includes('nothing delivered')`)
	phone.eval(t, `document.getElementById('notifications').scrollIntoView()`)
	phone.screenshot(t, shots, "14-device-delivered")
	phone.do(t, chromedp.Click(chromedp.CSS(`#devices .device summary`)))
	phone.eval(t, `document.querySelector('#devices .device details').scrollIntoView()`)
	if tz := phone.value(t, `#devices .device input[name=time_zone]`); tz != "Europe/Paris" {
		t.Errorf("time zone offered %q, want the browser's", tz)
	}
	phone.screenshot(t, shots, "15-quiet-hours")
}

// follow makes kim follow sam through the Share protocol and returns the
// subscription's id.
func follow(t *testing.T, base string, sam *share.Client) string {
	t.Helper()
	ctx := context.Background()
	contact, err := sam.CreateContact(ctx, "Kim", "")
	if err != nil {
		t.Fatal(err)
	}
	subID, err := sam.CreateSubscriptionInvitation(ctx, contact, share.Invite{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := sam.ReadSubscriptionInviteID(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	kim, err := share.NewClient(share.WithBaseURL(base), share.WithCredentials("kim", password))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kim.AcceptInvitation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	return subID
}

// registration returns the id of the service worker registration of the
// dashboard's root scope.
func registration(t *testing.T, tb *tab, base string) serviceworker.RegistrationID {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	events := chromedp.Events(ctx, serviceworker.WorkerRegistrationUpdated)
	if _, err := chromedp.Call(tb.ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	for ev, err := range events {
		if err != nil {
			t.Fatalf("waiting for the service worker registration: %v", err)
		}
		for _, r := range ev.Registrations {
			if r.ScopeURL == base+"/" && !r.IsDeleted {
				return r.RegistrationID
			}
		}
	}
	t.Fatal("no service worker registration for " + base + "/")
	return ""
}

// serviceWorkerTab attaches to the dashboard's service worker.
func serviceWorkerTab(t *testing.T, tb *tab, base string) *tab {
	t.Helper()
	res, err := chromedp.CallBrowser(tb.ctx, target.GetTargets, target.GetTargetsParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range res.TargetInfos {
		if info.Type == "service_worker" && info.URL == base+"/sw.js" {
			ctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithTargetID(info.TargetID))
			t.Cleanup(cancel)
			return &tab{name: "service worker", ctx: ctx, cancel: cancel}
		}
	}
	t.Fatalf("no service worker target for %s/sw.js among %d targets", base, len(res.TargetInfos))
	return nil
}

// await evaluates an expression whose value is a promise of a string.
func (tb *tab) await(t *testing.T, js string) string {
	t.Helper()
	res, err := chromedp.Call(tb.ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: js, AwaitPromise: ptr(true),
		ReturnByValue: ptr(true)})
	if err != nil {
		t.Fatalf("%s: %v", tb.name, err)
	}
	if res.ExceptionDetails != nil {
		t.Fatalf("%s: %s: %s", tb.name, js, fmt.Sprintf("%s %+v", res.ExceptionDetails.Text, res.ExceptionDetails.Exception))
	}
	var s string
	json.Unmarshal(res.Result.Value, &s)
	return s
}

// awaitPoll evaluates a promise of a string until it is not empty.
func (tb *tab) awaitPoll(t *testing.T, js string) string {
	t.Helper()
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		if s := tb.await(t, js); s != "" {
			return s
		}
	}
	t.Fatalf("%s: waiting for %s", tb.name, js)
	return ""
}

func ptr[T any](v T) *T { return &v }

// gcmStandIn takes the place of Chromium's push service and records what
// Chromium asks of it, answering 503.
type gcmStandIn struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newGCMStandIn(t *testing.T) *gcmStandIn {
	g := &gcmStandIn{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.seen = append(g.seen, r.Method+" "+r.URL.Path)
		g.mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gcmStandIn) paths() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
