package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

// The browser test walks the story of issue 7 in real headless Chromium,
// against the real server started as `glucoshare serve` runs: the sharer
// signs in and sees the current value and the chart, invites a follower;
// the follower accepts in a second browser context, receives a live reading
// and an alarm banner without reloading, and acknowledges it. Every page is
// saved as a screenshot (to $GLUCOSHARE_ARTIFACTS when set), and the bytes
// transferred and the first paint of each page are logged.
func TestBrowserStory(t *testing.T) {
	needChromium(t)
	base, samID := startServe(t)
	sam := uploader(t, base)

	// One browser, two isolated contexts (separate cookies), plus one
	// without JavaScript.
	deadline := startBrowser(t, 1024, 768, 75*time.Second)
	sharer := newTab(t, deadline, "sharer", 1024, 768)
	follower := newTab(t, deadline, "follower", 390, 844) // a phone
	shots := artifactDir(t)
	var budget []string
	measure := func(tab *tab, name string) {
		t.Helper()
		m := tab.metrics(t)
		line := fmt.Sprintf("%-22s %-9s %6.1f KB transferred (document %5.1f KB, %d subresources %5.1f KB; %6.1f KB uncompressed), first paint %4.0f ms, first contentful paint %4.0f ms",
			name, tab.name, float64(m.Total)/1024, float64(m.Doc)/1024, m.Resources, float64(m.ResourceBytes)/1024, float64(m.Decoded)/1024, m.FP, m.FCP)
		t.Log(line)
		budget = append(budget, line)
		if m.Total > 200<<10 {
			t.Errorf("%s: %d bytes transferred, budget 200 KB", name, m.Total)
		}
		if m.FCP <= 0 || m.FCP > 3000 {
			t.Errorf("%s: first contentful paint %.0f ms, budget 3000 ms", name, m.FCP)
		}
		tab.screenshot(t, shots, name)
	}

	// 1. The sharer signs in and sees the current value and the chart.
	sharer.do(t, chromedp.Navigate(base+"/"))
	measure(sharer, "01-signin")
	sharer.signIn(t, "sam")
	if v := sharer.text(t, `[data-publisher="`+samID+`"] .now .value`); v != "118" {
		t.Errorf("sharer's current value %q, want 118", v)
	}
	sharer.do(t, chromedp.WaitVisible(chromedp.CSS(`#card-me .chart svg`)))
	if tir := sharer.text(t, `#card-me .tir strong`); !strings.HasSuffix(tir, "%") {
		t.Errorf("time in range %q", tir)
	}
	// The chart's read-out under the pointer.
	if tip := sharer.readOut(t, `#card-me .chart`); !strings.HasPrefix(tip, "118 mg/dL · ") {
		t.Errorf("chart read-out %q", tip)
	}
	measure(sharer, "02-sharer-dashboard")

	// 2. The sharer invites a follower and copies the link.
	sharer.do(t, chromedp.Navigate(base+"/followers"),
		chromedp.SetValue(chromedp.CSS(`#invite [name=contact_name]`), "Kim"),
		chromedp.Click(chromedp.CSS(`#invite [name=low_on]`)),
		chromedp.Submit(chromedp.CSS(`#invite`)),
		chromedp.WaitVisible(chromedp.CSS(`.item.new .link-field`)))
	link := sharer.value(t, `.item.new .link-field`)
	if !strings.HasPrefix(link, base+"/invite/") {
		t.Fatalf("invitation link %q", link)
	}
	measure(sharer, "03-followers")

	// 3. The follower opens the link, signs in, accepts.
	follower.do(t, chromedp.Navigate(link))
	follower.signIn(t, "kim")
	follower.do(t, chromedp.WaitVisible(chromedp.CSS(`#accept`)))
	measure(follower, "04-invitation")
	follower.do(t, chromedp.Click(chromedp.CSS(`#accept`)), chromedp.WaitVisible(chromedp.CSS(`[data-publisher="`+samID+`"] .chart svg`)))
	if v := follower.text(t, `[data-publisher="`+samID+`"] .now .value`); v != "118" {
		t.Errorf("follower sees %q, want 118", v)
	}
	measure(follower, "05-follower-dashboard")

	// 4. A new reading arrives live on both pages, without a reload.
	for _, tb := range []*tab{sharer, follower} {
		if tb == sharer {
			tb.do(t, chromedp.Navigate(base+"/"))
		}
		tb.do(t, chromedp.Poll[chromedp.Void](`document.body.dataset.stream === 'open'`, chromedp.WithPollingTimeout(10*time.Second)))
		tb.eval(t, `window.noReload = true`)
	}
	upload(t, sam, 142)
	for _, tb := range []*tab{sharer, follower} {
		tb.waitFor(t, `document.querySelector('[data-publisher="`+samID+`"] .now .value').textContent === '142' && window.noReload === true`)
	}
	measure(follower, "06-live-reading")

	// 5. An urgent low raises the follower's alarm banner, live.
	upload(t, sam, 50)
	follower.waitFor(t, `!!document.querySelector('#alarms .alarm.urgent') && window.noReload === true`)
	if msg := follower.text(t, `#alarms .alarm p`); !strings.Contains(msg, "Urgent low") || !strings.Contains(msg, "50 mg/dL") {
		t.Errorf("alarm banner %q", msg)
	}
	follower.screenshot(t, shots, "07-alarm-banner")

	// 6. The follower acknowledges it.
	if res, err := chromedp.RunResponse(follower.ctx, chromedp.Click(chromedp.CSS(`#alarms .ack`))); err != nil || res.Status != 200 {
		t.Fatalf("acknowledge: %v %v", res, err)
	}
	follower.waitFor(t, `location.pathname === '/' && document.readyState === 'complete' && !document.querySelector('#alarms .alarm')`)
	measure(follower, "08-acknowledged")

	// The other pages, for the record.
	follower.do(t, chromedp.Navigate(base+"/following"), chromedp.WaitVisible(chromedp.CSS(`#webhooks`)))
	measure(follower, "09-following")
	sharer.do(t, chromedp.Navigate(base+"/profile"), chromedp.WaitVisible(chromedp.CSS(`input[name=display_name]`)))
	measure(sharer, "10-profile")

	// 7. Without JavaScript the dashboard still shows the value and chart.
	nojs := newTab(t, deadline, "no-js", 390, 844)
	nojs.do(t, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
	nojs.do(t, chromedp.Navigate(base+"/"))
	nojs.signIn(t, "kim")
	nojs.do(t, chromedp.WaitVisible(chromedp.CSS(`[data-publisher="`+samID+`"] .chart svg`)))
	if v := nojs.text(t, `[data-publisher="`+samID+`"] .now .value`); v != "50" {
		t.Errorf("without JavaScript: %q", v)
	}
	nojs.screenshot(t, shots, "11-no-javascript")

	os.WriteFile(filepath.Join(shots, "page-budget.txt"), []byte(strings.Join(budget, "\n")+"\n"), 0o644)
}

// needChromium skips a browser test on a machine without Chromium.
func needChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s not found (apt-get install chromium)", chromiumPath)
	}
}

// startBrowser starts headless Chromium with a w×h window and returns its
// context, which ends after timeout; the browser stops when the test ends.
func startBrowser(t *testing.T, w, h int, timeout time.Duration) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h))...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	deadline, cancelDeadline := context.WithTimeout(browserCtx, timeout)
	t.Cleanup(cancelDeadline)
	return deadline
}

// startServe runs `glucoshare serve` in-process on a free port with two
// accounts, sam and kim, and returns its address and sam's id.
func startServe(t *testing.T) (string, string) {
	t.Helper()
	dsn := storetest.DSN(t)
	var samID string
	for _, a := range [][]string{{"sam", "Sam"}, {"kim", "Kim"}} {
		var out bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(password + "\n"), Stdout: &out, Stderr: io.Discard,
			Getenv: func(string) string { return "" }}
		if code := cli.Run(context.Background(), []string{"account", "add", "--db", dsn, "--name", a[0], "--display-name", a[1], "--password-stdin"}, env); code != 0 {
			t.Fatalf("account add %s: exit %d", a[0], code)
		}
		if a[0] == "sam" {
			samID = strings.TrimSpace(out.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan int, 1)
	logs := &syncBuffer{}
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs, Getenv: func(string) string { return "" },
		Listening: func(a string) { addrc <- a }}
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--log-level", "warn"}, env)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d:\n%s", code, logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d:\n%s", code, logs)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop: an event stream held the shutdown?")
		}
	})
	return "http://" + addr, samID
}

// uploader is sam's uploader: monitoring on, three hours of readings, the
// newest 118.
func uploader(t *testing.T, base string) *share.Client {
	t.Helper()
	c, err := share.NewClient(share.WithBaseURL(base), share.WithCredentials("sam", password))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartRemoteMonitoringSession(context.Background(), "SM00000000"); err != nil {
		t.Fatal(err)
	}
	values := make([]int, 36)
	for i := range values {
		values[i] = 120 + (i%12)*9 - 40*(i/24) - 2*(i%5)
	}
	values[len(values)-1] = 118
	upload(t, c, values...)
	return c
}

// upload posts readings every 5 minutes, the last one now.
func upload(t *testing.T, c *share.Client, values ...int) {
	t.Helper()
	now := time.Now()
	rs := make([]share.Reading, len(values))
	for i, v := range values {
		st := now.Add(-time.Duration(len(values)-1-i) * 5 * time.Minute)
		rs[i] = share.Reading{ST: st.UnixMilli(), Value: v, Trend: share.TrendFortyFiveDown}
	}
	if err := c.PostReceiverEgvRecords(context.Background(), "SM00000000", rs); err != nil {
		t.Fatal(err)
	}
}

// tab is one page in its own browser context.
type tab struct {
	name   string
	ctx    context.Context
	w, h   int
	cancel context.CancelFunc
}

func newTab(t *testing.T, parent context.Context, name string, w, h int) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{name: name, ctx: ctx, w: w, h: h, cancel: cancel}
	tb.do(t, chromedp.EmulateViewport(int64(w), int64(h)))
	return tb
}

func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", tb.name, err)
	}
}

func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: text of %s: %v", tb.name, sel, err)
	}
	return strings.TrimSpace(s)
}

func (tb *tab) value(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: value of %s: %v", tb.name, sel, err)
	}
	return s
}

func (tb *tab) eval(t *testing.T, js string) {
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[any](js)); err != nil {
		t.Fatalf("%s: %s: %v", tb.name, js, err)
	}
}

// readOut points at the newest reading of the chart figure sel and
// returns the read-out it shows. The newest reading is at the right edge
// of the data area, which the figure's data-geo gives in viewBox units
// (the axis labels decide how far it is from the picture's edge).
func (tb *tab) readOut(t *testing.T, sel string) string {
	t.Helper()
	tb.eval(t, `(() => {
		const fig = document.querySelector('`+sel+`'), svg = fig.querySelector('svg');
		const r = svg.getBoundingClientRect(), k = r.width / svg.viewBox.baseVal.width;
		const x1 = Number(fig.dataset.geo.split(',')[1]);
		svg.dispatchEvent(new PointerEvent('pointermove', {clientX: r.left + x1 * k - 1, clientY: r.top + r.height / 2, bubbles: true}));
	})()`)
	return tb.text(t, sel+` .tip`)
}

// waitFor polls a predicate, again after a navigation that interrupted the
// poll (a form's POST-redirect-GET).
func (tb *tab) waitFor(t *testing.T, predicate string) {
	t.Helper()
	var err error
	for range 5 {
		_, err = chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(15*time.Second)))
		if err == nil || !strings.Contains(err.Error(), "(-32000)") {
			break
		}
	}
	if err != nil {
		body, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: waiting for %s: %v\npage text:\n%s", tb.name, predicate, err, body)
	}
}

// signIn fills the sign-in form the tab shows.
func (tb *tab) signIn(t *testing.T, name string) {
	t.Helper()
	tb.do(t, chromedp.WaitVisible(chromedp.CSS(`input[name=name]`)),
		chromedp.SetValue(chromedp.CSS(`input[name=name]`), name),
		chromedp.SetValue(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`form[action="/signin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.menu`)))
}

// pageMetrics is what the Performance API says about the current page.
type pageMetrics struct {
	Total, Doc, ResourceBytes, Decoded int
	Resources                          int
	FP, FCP                            float64
}

func (tb *tab) metrics(t *testing.T) pageMetrics {
	t.Helper()
	tb.waitFor(t, `document.readyState === 'complete' && performance.getEntriesByType('paint').length >= 2`)
	m, err := chromedp.Run(tb.ctx, chromedp.Evaluate[pageMetrics](`(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const res = performance.getEntriesByType('resource');
		const paint = {};
		performance.getEntriesByType('paint').forEach(e => { paint[e.name] = e.startTime; });
		const rb = res.reduce((n, r) => n + r.transferSize, 0);
		return {Total: nav.transferSize + rb, Doc: nav.transferSize, ResourceBytes: rb, Resources: res.length,
			Decoded: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
			FP: paint['first-paint'] || 0, FCP: paint['first-contentful-paint'] || 0};
	})()`))
	if err != nil {
		t.Fatalf("%s: performance entries: %v", tb.name, err)
	}
	return m
}

// screenshot saves the viewport and checks the file: a PNG of the
// viewport's size, not blank.
func (tb *tab) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	b, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", path, err)
	}
	if img.Bounds().Dx() != tb.w || img.Bounds().Dy() != tb.h {
		t.Errorf("%s: %v, want %d×%d", path, img.Bounds(), tb.w, tb.h)
	}
	colors := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 7 {
		for x := 0; x < img.Bounds().Dx(); x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(b) < 4096 || len(colors) < 8 {
		t.Errorf("%s: %d bytes, %d colours: blank?", path, len(b), len(colors))
	}
}

// artifactDir is where screenshots go: $GLUCOSHARE_ARTIFACTS, or a
// temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("GLUCOSHARE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
